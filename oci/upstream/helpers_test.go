package upstream

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// newTestClient builds a Client whose retries wait only a millisecond.
func newTestClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.delay = func(int) time.Duration { return time.Millisecond }
	return c
}

// ruleFor is a rule called name pointing at srv.
func ruleFor(t *testing.T, name string, srv *httptest.Server) Rule {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return Rule{Name: name, URL: u}
}

// pingOK answers GET /v2/ with 200 and hands everything else to next.
func pingOK(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		next(w, r)
	}
}
