package access

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// A policy that admits every peer holding the swarm key is refused on a
// node that has none (issue 10, finding 4): there it would admit every
// peer on the network, silently.
func TestAnyWithSwarmKeyNeedsASwarmKey(t *testing.T) {
	for _, tt := range []struct {
		name        string
		openNetwork bool
		wantErr     bool
	}{
		{"fleet node without a swarm key", true, true},
		{"fleet node with a swarm key, or no fleet", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootKey(t)
			var logs logBuffer
			c := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, OpenNetwork: tt.openNetwork, Logger: logs.logger()})
			doc := fleetDoc(1)
			doc.Peers.AnyWithSwarmKey = true
			_, err := c.Apply(root.envelope(t, doc), "api")
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrCannotHold) || !strings.Contains(err.Error(), "swarm key") {
				t.Fatalf("Apply = %v, want ErrCannotHold naming the swarm key", err)
			}
			if c.Current() != nil {
				t.Fatal("the policy is in force")
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Fatalf("not logged at error level:\n%s", logs.String())
			}
		})
	}
}
