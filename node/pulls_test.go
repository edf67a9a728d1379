package node

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/ui"
)

// GET /shoal/v1/pulls lists the node's recent pulls, newest first, of the
// repositories the caller may pull: bob sees his pull of team/app and
// the anonymous pull of alpine; an anonymous caller only alpine. The web
// page's own reads of a manifest (it draws the images table from them
// every few seconds) are no pulls: they used to fill the list.
func TestRecentPullsObeyPolicy(t *testing.T) {
	tn := newAuthTestNode(t, true)
	tn.importImage(t, testimage.Random(t), "docker.io/library/alpine:3")
	tn.importImage(t, testimage.Random(t), "team/app:1")
	tn.apply(t, tn.kit.sign(t, testDoc(t, 1, tn.now())))
	for _, r := range []req{
		{path: "/v2/team/app/manifests/1", user: "bob", pass: "bob-pw"},
		{method: http.MethodHead, path: "/v2/team/app/manifests/1", user: "bob", pass: "bob-pw"}, // a HEAD is no pull
		{path: "/v2/docker.io/library/alpine/manifests/3"},
		{path: "/v2/team/app/manifests/1", user: "bob", pass: "bob-pw", header: map[string]string{ui.OwnReadHeader: "1"}},
		{path: "/v2/team/app/manifests/1"}, // refused: no pull
	} {
		tn.do(t, r)
	}
	pulls := func(r req) []string {
		t.Helper()
		r.path = "/shoal/v1/pulls"
		w := tn.do(t, r)
		var doc adminapi.Pulls
		if w.Code != http.StatusOK {
			t.Fatalf("GET /shoal/v1/pulls: %d %s", w.Code, w.Body.String())
		}
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range doc.Pulls {
			if p.Digest == "" || p.At.IsZero() {
				t.Errorf("pull %+v lacks its digest or time", p)
			}
			out = append(out, p.Repository+":"+p.Reference)
		}
		return out
	}
	if got := pulls(req{user: "bob", pass: "bob-pw"}); len(got) != 2 || got[0] != "docker.io/library/alpine:3" || got[1] != "team/app:1" {
		t.Errorf("bob sees %v, want alpine then team/app", got)
	}
	if got := pulls(req{}); len(got) != 1 || got[0] != "docker.io/library/alpine:3" {
		t.Errorf("an anonymous caller sees %v, want alpine only", got)
	}
}
