package p2p

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// newLoneHost starts a host on loopback that joins nobody.
func newLoneHost(t *testing.T) *Host {
	t.Helper()
	h, err := New(context.Background(), Config{
		KeyFile: filepath.Join(t.TempDir(), "peer.key"),
		Listen:  []string{"/ip4/127.0.0.1/tcp/0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func only(ids ...peer.ID) func(peer.ID) bool {
	set := map[peer.ID]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return func(p peer.ID) bool { return set[p] }
}

func connected(a, b *Host) bool {
	return a.host.Network().Connectedness(b.ID()) == network.Connected
}

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Generous: CI runs this package under -race beside every other,
	// on 2 cores, and gossip rounds stretch with the load.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connect(t *testing.T, from, to *Host) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return from.Connect(ctx, to.AddrInfo())
}

func TestMembershipGate(t *testing.T) {
	tests := []struct {
		name string
		// members of a's fleet, by index into a, b
		allow       func(a, b *Host) func(peer.ID) bool
		wantConnect bool
	}{
		{name: "no policy admits everyone", allow: func(a, b *Host) func(peer.ID) bool { return nil }, wantConnect: true},
		{name: "member admitted", allow: func(a, b *Host) func(peer.ID) bool { return only(b.ID()) }, wantConnect: true},
		{name: "non-member refused", allow: func(a, b *Host) func(peer.ID) bool { return only() }},
	}
	for _, tt := range tests {
		for _, dir := range []string{"inbound", "outbound"} {
			t.Run(tt.name+" "+dir, func(t *testing.T) {
				a, b := newLoneHost(t), newLoneHost(t)
				a.SetMembership(tt.allow(a, b))
				var err error
				if dir == "inbound" {
					err = connect(t, b, a)
				} else {
					err = connect(t, a, b)
				}
				if tt.wantConnect {
					if err != nil {
						t.Fatalf("connecting: %v", err)
					}
					if !connected(a, b) {
						t.Fatal("not connected")
					}
					return
				}
				if err == nil && dir == "outbound" {
					t.Fatal("dialled a non-member")
				}
				// Inbound, the dialler may see the handshake succeed before
				// a closes the connection.
				eventually(t, "the non-member is disconnected", func() bool { return !connected(a, b) && !connected(b, a) })
				if a.Peers() != 0 {
					t.Fatalf("%d peers, want 0", a.Peers())
				}
			})
		}
	}
}

func TestMembershipRemovalClosesConnections(t *testing.T) {
	a, b, c := newLoneHost(t), newLoneHost(t), newLoneHost(t)
	for _, p := range []*Host{b, c} {
		if err := connect(t, p, a); err != nil {
			t.Fatal(err)
		}
	}
	a.SetMembership(only(c.ID()))
	eventually(t, "the removed peer is disconnected", func() bool { return !connected(a, b) && !connected(b, a) })
	if !connected(a, c) {
		t.Fatal("the remaining member was disconnected too")
	}
	if err := connect(t, b, a); err == nil {
		eventually(t, "the removed peer's new connection is closed", func() bool { return !connected(a, b) })
	}
	if err := connect(t, a, b); err == nil {
		t.Fatal("dialled a removed peer")
	}
	// Taking the policy away admits it again.
	a.SetMembership(nil)
	if err := connect(t, b, a); err != nil {
		t.Fatalf("reconnecting once admitted: %v", err)
	}
}

func TestContentDeniedToNonMember(t *testing.T) {
	a, b := newLoneHost(t), newLoneHost(t)
	content := newMemContent()
	d := content.put([]byte("layer bytes"))
	a.ServeContent(content, nil)
	if err := connect(t, b, a); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := b.Open(ctx, a.ID(), Request{Digest: d})
	if err != nil {
		t.Fatalf("member: %v", err)
	}
	s.Close()
	// The connection outlives the decision here (no sweep), as it could
	// for a moment when a policy arrives: the content protocol itself
	// must refuse.
	a.members.set(only())
	if _, err := b.Open(ctx, a.ID(), Request{Digest: d}); !errors.Is(err, ErrDenied) {
		t.Fatalf("non-member got %v, want ErrDenied", err)
	}
	if n := content.opens.Load(); n != 1 {
		t.Fatalf("content opened %d times, want 1", n)
	}
}
