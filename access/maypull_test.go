package access

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/shoal-dev/shoal/policy"
)

func TestMayPull(t *testing.T) {
	root := newRootKey(t)
	doc := fleetDoc(1)
	doc.Identities = []policy.Identity{{Name: "anyone", Anonymous: true}}
	doc.Rules = []policy.Rule{{Identities: []string{"anyone"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"team/**"}}}
	guarded := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, Policy: root.envelope(t, doc)})
	openNode := open(t, Config{})
	r := httptest.NewRequest(http.MethodGet, "http://node.test/shoal/v1/scans/x", nil)
	r.RemoteAddr = "192.0.2.10:40000"
	bad := httptest.NewRequest(http.MethodGet, "http://node.test/shoal/v1/scans/x", nil)
	bad.RemoteAddr = "192.0.2.10:40000"
	bad.Header.Set("Authorization", "Bearer not-a-token")
	for _, tt := range []struct {
		name string
		c    *Control
		r    *http.Request
		repo string
		want bool
	}{
		{"open node", openNode, r, "private/app", true},
		{"allowed repository", guarded, r, "team/app", true},
		{"another repository", guarded, r, "private/app", false},
		{"bad credentials", guarded, bad, "team/app", false},
	} {
		if got := tt.c.MayPull(tt.r, tt.repo); got != tt.want {
			t.Errorf("%s: MayPull(%s) = %v, want %v", tt.name, tt.repo, got, tt.want)
		}
	}
}
