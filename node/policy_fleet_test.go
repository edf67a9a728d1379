package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/repository"
)

// The policy's membership, the policy exchange with peers and the
// upstream allow-list are access's (access/fleet_test.go); this checks
// that the node applies the allow-list to what peers ask it to fetch.

func TestUpstreamDeniedToPeer(t *testing.T) {
	pub, priv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if err := policy.WriteKeyPair(keys, pub, priv); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{
		DataDir:     t.TempDir(),
		PolicyRoots: rootKeys(t, filepath.Join(keys, policy.PublicKeyFile)),
		Upstreams:   upstreamtest.Rules(t, "allowed=http://registry.example:5000", "other=https://elsewhere.example"),
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })

	now := time.Now().UTC().Truncate(time.Second)
	payload, err := json.Marshal(&policy.Document{
		Version: 1, Network: "test-fleet", Issued: now.Add(-time.Minute), Expires: now.Add(time.Hour),
		Upstreams: []string{"registry.example:5000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: payload}
	env.Sign(ed25519.PrivateKey(priv))
	if _, err := n.access.Apply(env.Marshal(), "test"); err != nil {
		t.Fatal(err)
	}

	// The designated-fetcher path answers a peer with denied, naming the
	// upstream, without going there.
	_, err = peerContent{n}.Open(context.Background(), testpeer.ID(t), digest.FromString("blob"), repository.Mirror("other", "library/app"))
	if !errors.Is(err, p2p.ErrDenied) || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Errorf("designated fetch from a denied upstream: %v", err)
	}
}
