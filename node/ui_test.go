package node

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// The page is wired into the node's mux: served at /ui/, and /ui sends
// the browser there.
func TestUIServed(t *testing.T) {
	n, err := New(Config{DataDir: filepath.Join(t.TempDir(), "data")}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	for _, tc := range []struct {
		path string
		code int
	}{{"/ui/", http.StatusOK}, {"/ui/app.js", http.StatusOK}, {"/ui/x", http.StatusNotFound}} {
		rec := httptest.NewRecorder()
		n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.code {
			t.Errorf("GET %s: %d, want %d", tc.path, rec.Code, tc.code)
		}
	}
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui", nil))
	if loc := rec.Header().Get("Location"); rec.Code/100 != 3 || loc != "/ui/" {
		t.Errorf("GET /ui: %d to %q, want a redirect to /ui/", rec.Code, loc)
	}
}
