package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
)

// fakePolicy is an envelope for tests: the digest of its bytes names it,
// and its version is written in it.
func fakePolicy(version uint64) (PolicyAnnouncement, []byte) {
	env := fmt.Appendf(nil, "policy version %d", version)
	return PolicyAnnouncement{Version: version, Digest: digest.FromBytes(env)}, env
}

// fakeHolder stands in for the node: it takes any envelope whose bytes
// match the announced digest and whose version is above the one held,
// and announces what it takes, as the node's policy watcher does.
type fakeHolder struct {
	h *Host

	mu     sync.Mutex
	held   PolicyAnnouncement
	env    []byte
	offers []offer
}

type offer struct {
	from PolicyAnnouncement
	peer peer.ID
}

func (f *fakeHolder) HeldPolicy() (PolicyAnnouncement, []byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held, f.env, f.env != nil
}

func (f *fakeHolder) OfferPolicy(_ context.Context, from peer.ID, a PolicyAnnouncement, env []byte) error {
	f.mu.Lock()
	f.offers = append(f.offers, offer{a, from})
	if digest.FromBytes(env) != a.Digest {
		f.mu.Unlock()
		return fmt.Errorf("%w: digest mismatch", ErrBadPolicy)
	}
	if f.env != nil && a.Version <= f.held.Version {
		f.mu.Unlock()
		return errors.New("rollback")
	}
	f.held, f.env = a, env
	f.mu.Unlock()
	f.h.AnnouncePolicy()
	return nil
}

// apply is an administrator applying a policy to this node.
func (f *fakeHolder) apply(version uint64) PolicyAnnouncement {
	a, env := fakePolicy(version)
	f.mu.Lock()
	f.held, f.env = a, env
	f.mu.Unlock()
	f.h.AnnouncePolicy()
	return a
}

func (f *fakeHolder) version() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held.Version
}

func (f *fakeHolder) offered() []offer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]offer(nil), f.offers...)
}

func exchange(t *testing.T, h *Host) *fakeHolder {
	t.Helper()
	f := &fakeHolder{h: h}
	if err := h.ExchangePolicy(f); err != nil {
		t.Fatal(err)
	}
	return f
}

// waitTopicPeers waits until every host sees n-1 peers on the policy
// topic, so an announcement reaches them all.
func waitTopicPeers(t *testing.T, hosts []*Host, n int) {
	t.Helper()
	for _, h := range hosts {
		eventually(t, "the policy topic has its peers", func() bool { return len(h.policy.topic.ListPeers()) >= n })
	}
}

func TestParseAnnouncement(t *testing.T) {
	good, _ := fakePolicy(3)
	tests := []struct {
		name string
		msg  string
		ok   bool
	}{
		{name: "good", msg: fmt.Sprintf(`{"version":3,"digest":%q}`, good.Digest), ok: true},
		{name: "version 0", msg: fmt.Sprintf(`{"version":0,"digest":%q}`, good.Digest)},
		{name: "no digest", msg: `{"version":3}`},
		{name: "bad digest", msg: `{"version":3,"digest":"sha256:abc"}`},
		{name: "not sha256", msg: fmt.Sprintf(`{"version":3,"digest":%q}`, digest.SHA512.FromString("x"))},
		{name: "unknown field", msg: fmt.Sprintf(`{"version":3,"digest":%q,"url":"x"}`, good.Digest)},
		{name: "trailing data", msg: fmt.Sprintf(`{"version":3,"digest":%q}{}`, good.Digest)},
		{name: "negative version", msg: fmt.Sprintf(`{"version":-1,"digest":%q}`, good.Digest)},
		{name: "not json", msg: "policy!"},
		{name: "too long", msg: fmt.Sprintf(`{"version":3,"digest":%q}`, good.Digest) + strings.Repeat(" ", maxAnnouncement)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseAnnouncement([]byte(tt.msg))
			if tt.ok && (err != nil || a != good) {
				t.Fatalf("got %v, %v; want %v", a, err, good)
			}
			if !tt.ok && err == nil {
				t.Fatalf("accepted %q", tt.msg)
			}
		})
	}
}

func announcementFrom(t *testing.T, author peer.ID, a PolicyAnnouncement) *pubsub.Message {
	t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return rawAnnouncement(author, b)
}

func rawAnnouncement(author peer.ID, data []byte) *pubsub.Message {
	topic := PolicyTopic
	return &pubsub.Message{Message: &pb.Message{Data: data, From: []byte(author), Topic: &topic}, ReceivedFrom: author}
}

// servePolicyOnly starts only h's PolicyProtocol server, with a fake
// holder: h never asks, announces or gossips, so what it holds reaches
// others only when they fetch it.
func servePolicyOnly(h *Host) *fakeHolder {
	f := &fakeHolder{h: h}
	x := &policyExchange{h: h, holder: f}
	h.host.SetStreamHandler(PolicyProtocol, x.serve)
	return f
}

// TestPolicyValidation drives a node's topic validator with announcements
// from a connected peer, b, and checks what it decides and what it offers
// the node.
func TestPolicyValidation(t *testing.T) {
	a, b := newLoneHost(t), newLoneHost(t)
	if err := connect(t, b, a); err != nil {
		t.Fatal(err)
	}
	// b only serves: a b that took a's policy on connecting would
	// announce it, and an announcement that went out after a case set
	// what b holds would hand a the policy by gossip before the case's
	// own validation (it did, in CI).
	fb := servePolicyOnly(b)
	fa := exchange(t, a)
	// a asks b on connecting; the ask is over before b holds anything.
	eventually(t, "a's ask on connecting is over", func() bool {
		a.policy.mu.Lock()
		defer a.policy.mu.Unlock()
		return len(a.policy.asking) == 0
	})
	fa.apply(5)
	v5, _ := fakePolicy(5)
	v3, _ := fakePolicy(3)
	v5other := PolicyAnnouncement{Version: 5, Digest: digest.FromString("another v5")}
	v9, _ := fakePolicy(9)

	tests := []struct {
		name string
		// bHolds is what b holds and serves: version and envelope.
		bHolds    func()
		msg       *pubsub.Message
		want      pubsub.ValidationResult
		wantHeld  uint64
		wantOffer bool
	}{
		{name: "malformed", msg: rawAnnouncement(b.ID(), []byte(`{"version":"6"}`)), want: pubsub.ValidationReject, wantHeld: 5},
		{name: "older", msg: announcementFrom(t, b.ID(), v3), want: pubsub.ValidationIgnore, wantHeld: 5},
		{name: "the one held", msg: announcementFrom(t, b.ID(), v5), want: pubsub.ValidationIgnore, wantHeld: 5},
		{name: "same version other digest", msg: announcementFrom(t, b.ID(), v5other), want: pubsub.ValidationIgnore, wantHeld: 5},
		{name: "newer but nobody has it", msg: announcementFrom(t, b.ID(), v9), want: pubsub.ValidationIgnore, wantHeld: 5},
		{
			name: "newer with a lying envelope",
			bHolds: func() {
				a6, _ := fakePolicy(6)
				fb.mu.Lock()
				fb.held, fb.env = a6, []byte("not that policy")
				fb.mu.Unlock()
			},
			msg: announcementFrom(t, b.ID(), func() PolicyAnnouncement { a6, _ := fakePolicy(6); return a6 }()), want: pubsub.ValidationReject, wantHeld: 5, wantOffer: true,
		},
		{
			name: "newer",
			bHolds: func() {
				// Held without announcing it: the validation under test is
				// to be the first to see it.
				a7, env7 := fakePolicy(7)
				fb.mu.Lock()
				fb.held, fb.env = a7, env7
				fb.mu.Unlock()
			},
			msg: announcementFrom(t, b.ID(), func() PolicyAnnouncement { a7, _ := fakePolicy(7); return a7 }()), want: pubsub.ValidationAccept, wantHeld: 7, wantOffer: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bHolds != nil {
				tt.bHolds()
			}
			// Only offers of the announced policy count: the peers' asks
			// on connecting may still be under way.
			announced, _ := parseAnnouncement(tt.msg.GetData())
			offersOf := func() (n int) {
				for _, o := range fa.offered() {
					if o.from.Digest == announced.Digest {
						n++
					}
				}
				return n
			}
			before := offersOf()
			got := a.policy.validate(context.Background(), b.ID(), tt.msg)
			if got != tt.want {
				t.Errorf("validation %v, want %v", got, tt.want)
			}
			if v := fa.version(); v != tt.wantHeld {
				t.Errorf("node holds version %d, want %d", v, tt.wantHeld)
			}
			if offered := offersOf() > before; offered != tt.wantOffer {
				t.Errorf("offered to the node: %v, want %v", offered, tt.wantOffer)
			}
		})
	}
}

func TestPolicySpreadsThroughFleet(t *testing.T) {
	fleet := newFleet(t, 4)
	var hosts []*Host
	var holders []*fakeHolder
	for _, p := range fleet {
		hosts = append(hosts, p.h)
		holders = append(holders, exchange(t, p.h))
	}
	waitTopicPeers(t, hosts, len(hosts)-1)
	for i, version := range []uint64{1, 2, 3} {
		// Each time a different node is where the administrator applies it.
		holders[i].apply(version)
		for j, f := range holders {
			eventually(t, fmt.Sprintf("node %d holds version %d", j, version), func() bool { return f.version() == version })
		}
	}
	// Nobody offered the node anything it then refused.
	for j, f := range holders {
		for _, o := range f.offered() {
			if o.peer == hosts[j].ID() {
				t.Errorf("node %d was offered its own policy", j)
			}
		}
	}
}

// TestPolicyForwardedByPeers has a line of three nodes, a - b - c, where a
// and c are not members of each other's fleet: c learns a's policy only
// through b, which must hold it before it passes the announcement on.
func TestPolicyForwardedByPeers(t *testing.T) {
	a, b, c := newLoneHost(t), newLoneHost(t), newLoneHost(t)
	a.SetMembership(only(b.ID()))
	c.SetMembership(only(b.ID()))
	for _, p := range []*Host{a, c} {
		if err := connect(t, p, b); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb, fc := exchange(t, a), exchange(t, b), exchange(t, c)
	waitTopicPeers(t, []*Host{a, c}, 1)
	waitTopicPeers(t, []*Host{b}, 2)
	fa.apply(4)
	eventually(t, "c holds a's policy", func() bool { return fc.version() == 4 && fb.version() == 4 })
	for _, o := range fc.offered() {
		if o.peer != b.ID() {
			t.Errorf("c took a policy from %s, not from b", o.peer)
		}
	}
}

// TestPolicyLateJoiner: a node that connects after a policy was announced
// gets it at once from the peer it connects to, and a node that joins with
// a newer policy than the fleet's hands it over.
func TestPolicyLateJoiner(t *testing.T) {
	fleet := newFleet(t, 2)
	var hosts []*Host
	var holders []*fakeHolder
	for _, p := range fleet {
		hosts = append(hosts, p.h)
		holders = append(holders, exchange(t, p.h))
	}
	waitTopicPeers(t, hosts, 1)
	holders[0].apply(2)
	for _, f := range holders {
		eventually(t, "the fleet holds version 2", func() bool { return f.version() == 2 })
	}

	late := newLoneHost(t)
	fl := exchange(t, late)
	start := time.Now()
	if err := connect(t, late, hosts[1]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late joiner holds version 2", func() bool { return fl.version() == 2 })
	if d := time.Since(start); d >= PolicyAnnounceInterval {
		t.Fatalf("the late joiner waited %v, as if for the periodic announcement", d)
	}

	newer := newLoneHost(t)
	fn := exchange(t, newer)
	fn.apply(3)
	if err := connect(t, newer, hosts[0]); err != nil {
		t.Fatal(err)
	}
	for i, f := range append(holders, fl) {
		eventually(t, fmt.Sprintf("node %d holds the newcomer's version 3", i), func() bool { return f.version() == 3 })
	}
}

func TestPolicyServedToMembersOnly(t *testing.T) {
	a, b := newLoneHost(t), newLoneHost(t)
	if err := connect(t, b, a); err != nil {
		t.Fatal(err)
	}
	fa := exchange(t, a)
	exchange(t, b)
	held := fa.apply(2)
	got, env, err := b.policy.fetch(context.Background(), a.ID(), policyRequest{Digest: held.Digest})
	if err != nil || got != held || digest.FromBytes(env) != held.Digest {
		t.Fatalf("member fetch: %v %v %v", got, env, err)
	}
	if _, _, err := b.policy.fetch(context.Background(), a.ID(), policyRequest{Above: 2}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("asking for a newer one than held: %v, want ErrNotFound", err)
	}
	if _, _, err := b.policy.fetch(context.Background(), a.ID(), policyRequest{Digest: digest.FromString("other")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("asking for another digest: %v, want ErrNotFound", err)
	}
	a.members.set(only())
	if _, _, err := b.policy.fetch(context.Background(), a.ID(), policyRequest{Digest: held.Digest}); !errors.Is(err, ErrDenied) {
		t.Fatalf("non-member fetch: %v, want ErrDenied", err)
	}
}
