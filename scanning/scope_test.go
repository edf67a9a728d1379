package scanning

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/repository"
)

// A scan report is served only to callers who may pull a repository that
// holds its image (issue 10, finding 5); to anyone else it does not
// exist.
func TestReportsOnlyToWhoMayPull(t *testing.T) {
	e := newEnv(t, envOptions{})
	img := e.putImage(t, repository.Local("team/app"), "v1", "busybox 1.0")
	// The same image is also held in another repository.
	e.putImage(t, repository.Local("other/app"), "v1", "busybox 1.0")
	e.importDB(t, time.Now().Add(-time.Hour), busyboxVuln)
	if _, err := e.s.scanImageOnce(t.Context(), repository.Local("team/app"), img, false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		mayPull map[string]bool
		want    int
	}{
		{"may pull the repository the report was made in", map[string]bool{"team/app": true}, 200},
		{"may pull another repository holding the image", map[string]bool{"other/app": true}, 200},
		{"may pull neither", map[string]bool{"elsewhere/app": true}, 404},
		{"may pull nothing", nil, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.s.cfg.MayPull = func(_ *http.Request, repo string) bool { return tt.mayPull[repo] }
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/shoal/v1/scans/"+img.Digest.String(), nil)
			r.SetPathValue("digest", img.Digest.String())
			e.s.HandleGetScan(rec, r)
			if rec.Code != tt.want {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body.String(), tt.want)
			}
			if tt.want == 404 && !strings.Contains(rec.Body.String(), "no report on") {
				t.Fatalf("a refusal that differs from no report: %s", rec.Body.String())
			}
		})
	}
}
