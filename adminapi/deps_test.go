package adminapi

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStaysLight keeps the node, the store and the libp2p host out of
// what a client links. (scan brings libp2p's core crypto and peer
// packages, which signed reports need.)
func TestStaysLight(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list dependencies with")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/shoal-dev/shoal/node",
			"github.com/shoal-dev/shoal/cache",
			"github.com/shoal-dev/shoal/p2p",
			"github.com/dgraph-io/badger",
			"github.com/libp2p/go-libp2p/p2p/",
			"github.com/libp2p/go-libp2p-kad-dht",
		} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") || strings.HasSuffix(banned, "/") && strings.HasPrefix(dep, banned) {
				t.Errorf("adminapi depends on %s", dep)
			}
		}
	}
}
