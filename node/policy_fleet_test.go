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

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
)

// fleetPolicyNode is a node (without p2p) trusting one root key, and that
// key to sign policies for it.
type fleetPolicyNode struct {
	n    *Node
	root ed25519.PrivateKey
}

func newFleetPolicyNode(t *testing.T) *fleetPolicyNode {
	t.Helper()
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
		PolicyRoots: []string{filepath.Join(keys, policy.PublicKeyFile)},
		Upstreams:   []string{"allowed=http://registry.example:5000", "other=https://elsewhere.example"},
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &fleetPolicyNode{n: n, root: priv}
}

func randomPeerID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// fleetDoc is a valid policy of version admitting peers.
func fleetDoc(version uint64, peers ...peer.ID) *policy.Document {
	now := time.Now().UTC().Truncate(time.Second)
	d := &policy.Document{
		Version:   version,
		Network:   "test-fleet",
		Issued:    now.Add(-time.Minute),
		Expires:   now.Add(time.Hour),
		Upstreams: []string{"registry.example:5000"},
	}
	for _, p := range peers {
		d.Peers.Allow = append(d.Peers.Allow, p.String())
	}
	return d
}

// envelope signs doc with key and announces it.
func envelope(t *testing.T, key ed25519.PrivateKey, doc *policy.Document) (p2p.PolicyAnnouncement, []byte) {
	t.Helper()
	payload, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: payload}
	env.Sign(key)
	return p2p.PolicyAnnouncement{Version: doc.Version, Digest: digest.FromBytes(payload)}, env.Marshal()
}

func TestMembershipFollowsPolicy(t *testing.T) {
	member, stranger := randomPeerID(t), randomPeerID(t)
	listed := &policy.Policy{Document: fleetDoc(1, member)}
	if allowed := membership(listed); allowed == nil || !allowed(member) || allowed(stranger) || !allowed(member) {
		t.Errorf("listed peers: member and stranger not told apart")
	}
	any := &policy.Policy{Document: fleetDoc(1)}
	any.Document.Peers.AnyWithSwarmKey = true
	if membership(any) != nil {
		t.Errorf("any_with_swarm_key: want every peer admitted (nil)")
	}
	empty := &policy.Policy{Document: fleetDoc(1)}
	if allowed := membership(empty); allowed == nil || allowed(member) {
		t.Errorf("no peers listed: want nobody admitted")
	}
}

func TestOfferPolicyFromPeer(t *testing.T) {
	fp := newFleetPolicyNode(t)
	from := randomPeerID(t)
	ctx := context.Background()
	holder := fleetPolicy{fp.n}
	if _, _, ok := holder.HeldPolicy(); ok {
		t.Fatal("a fresh node holds a policy")
	}
	_, stranger, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	v2, env2 := envelope(t, fp.root, fleetDoc(2, from))
	v1, env1 := envelope(t, fp.root, fleetDoc(1, from))
	vBad, envBad := envelope(t, stranger, fleetDoc(3, from))
	tests := []struct {
		name     string
		a        p2p.PolicyAnnouncement
		env      []byte
		wantErr  bool
		wantBad  bool
		wantHeld uint64
	}{
		{name: "not an envelope", a: v2, env: []byte("{}"), wantErr: true, wantBad: true},
		{name: "another digest than announced", a: p2p.PolicyAnnouncement{Version: 2, Digest: digest.FromString("x")}, env: env2, wantErr: true, wantBad: true},
		{name: "signed by an unknown key", a: vBad, env: envBad, wantErr: true, wantBad: true},
		{name: "good", a: v2, env: env2, wantHeld: 2},
		{name: "already held", a: v2, env: env2, wantHeld: 2},
		{name: "older", a: v1, env: env1, wantErr: true, wantHeld: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := holder.OfferPolicy(ctx, from, tt.a, tt.env)
			if (err != nil) != tt.wantErr || errors.Is(err, p2p.ErrBadPolicy) != tt.wantBad {
				t.Fatalf("got %v; want error %v, bad %v", err, tt.wantErr, tt.wantBad)
			}
			a, env, ok := holder.HeldPolicy()
			if got := a.Version; ok != (tt.wantHeld > 0) || got != tt.wantHeld {
				t.Fatalf("holds version %d (%v), want %d", got, ok, tt.wantHeld)
			}
			if ok && (a.Digest != v2.Digest || string(env) != string(env2)) {
				t.Fatalf("holds %v, want %v with its envelope", a, v2)
			}
		})
	}
}

func TestUpstreamAllowed(t *testing.T) {
	fp := newFleetPolicyNode(t)
	if err := fp.n.upstreamAllowed("other"); err != nil {
		t.Fatalf("an open node refused an upstream: %v", err)
	}
	_, env := envelope(t, fp.root, fleetDoc(1))
	if _, err := fp.n.applyPolicy(env, "test"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rule     string
		wantHost string // "" = allowed
	}{
		{rule: "allowed"},
		{rule: "other", wantHost: "elsewhere.example"},
		{rule: "no-such-rule"},
	}
	for _, tt := range tests {
		err := fp.n.upstreamAllowed(tt.rule)
		if tt.wantHost == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.rule, err)
			}
			continue
		}
		var oe *oci.Error
		if !errors.As(err, &oe) || oe.Code != oci.ErrDenied.Code || !strings.Contains(oe.Message, tt.wantHost) {
			t.Errorf("%s: got %v, want DENIED naming %s", tt.rule, err, tt.wantHost)
		}
	}
	// The designated-fetcher path answers a peer with denied.
	_, err := fleetContent{fp.n}.Open(context.Background(), randomPeerID(t), digest.FromString("blob"), "other", "library/app")
	if !errors.Is(err, p2p.ErrDenied) || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Errorf("designated fetch from a denied upstream: %v", err)
	}
}
