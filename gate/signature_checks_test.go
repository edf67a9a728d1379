package gate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
)

// The checks remembered are bounded: past the bound the oldest goes, and
// a check of an image already remembered replaces it.
func TestSignatureChecksBounded(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s := &Signatures{}
	for i := range maxSignatureChecks + 10 {
		s.record(SignatureCheck{Repository: "app", Digest: digest.FromString(fmt.Sprint(i)), State: SignatureVerified, At: t0.Add(time.Duration(i) * time.Second)})
	}
	if len(s.checks) != maxSignatureChecks {
		t.Fatalf("%d checks kept, want %d", len(s.checks), maxSignatureChecks)
	}
	if c := s.Checks(digest.FromString("9")); len(c) != 0 {
		t.Errorf("one of the oldest checks kept: %+v", c)
	}
	if c := s.Checks(digest.FromString("10")); len(c) != 1 {
		t.Errorf("the oldest check still due to be kept is gone")
	}
	last := digest.FromString(fmt.Sprint(maxSignatureChecks + 9))
	s.record(SignatureCheck{Repository: "app", Digest: last, State: SignatureFailed, At: t0.Add(time.Hour)})
	if c := s.Checks(last); len(c) != 1 || c[0].State != SignatureFailed || len(s.checks) != maxSignatureChecks {
		t.Errorf("a new check of an image: %+v (%d kept)", c, len(s.checks))
	}
}

// GET /shoal/v1/signatures/<digest> shows a caller the checks in the
// repositories it may pull, and nothing of the others.
func TestHandleGetChecks(t *testing.T) {
	img := digest.FromString("image")
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s := &Signatures{}
	s.record(SignatureCheck{Repository: "team/app", Digest: img, State: SignatureVerified, Rule: "team/**", Reason: "team/**: verified", At: at})
	s.record(SignatureCheck{Repository: "secret/app", Digest: img, State: SignatureFailed, Rule: "secret/**", Mode: "enforce", Reason: "not signed by a trusted key", At: at})
	s.record(SignatureCheck{Repository: "team/app", Digest: digest.FromString("other"), State: SignatureUnsigned, At: at})
	mayPull := func(r *http.Request, repo string) bool { return r.Header.Get("X-Who") == "admin" || repo == "team/app" }
	h := http.NewServeMux()
	h.Handle("GET /shoal/v1/signatures/{digest}", s.HandleGetChecks(mayPull))

	tests := []struct {
		name  string
		path  string
		who   string
		repos []string
	}{
		{name: "a caller that may pull one repository", path: "/shoal/v1/signatures/" + img.String(), repos: []string{"team/app"}},
		{name: "a caller that may pull both", path: "/shoal/v1/signatures/" + img.String(), who: "admin", repos: []string{"secret/app", "team/app"}},
		{name: "an image never checked", path: "/shoal/v1/signatures/" + digest.FromString("unknown").String(), who: "admin", repos: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.path, nil)
			r.Header.Set("X-Who", tt.who)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var doc adminapi.SignatureChecks
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, c := range doc.Checks {
				got = append(got, c.Repository)
				if c.State == "" || !c.At.Equal(at) {
					t.Errorf("check %+v", c)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.repos) || doc.Checks == nil {
				t.Errorf("checks of %v, want %v", got, tt.repos)
			}
		})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/shoal/v1/signatures/sha256:nothex", nil))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"code":"DIGEST_INVALID"`) {
		t.Errorf("a bad digest: %d %s, want 400 DIGEST_INVALID", w.Code, w.Body)
	}
}
