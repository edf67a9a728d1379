package access

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
)

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

// upstreamHosts is Config.UpstreamHost for two rules.
func upstreamHosts(rule string) (string, bool) {
	host, ok := map[string]string{"allowed": "registry.example:5000", "other": "elsewhere.example"}[rule]
	return host, ok
}

// fakeFleet is a p2p host as far as the policy is concerned.
type fakeFleet struct {
	id          peer.ID
	exchangeErr error

	mu sync.Mutex
	// memberships are the membership functions set, in order (nil for
	// "every peer").
	memberships []func(peer.ID) bool
	announced   int
	holder      p2p.PolicyHolder
}

func (f *fakeFleet) ID() peer.ID { return f.id }

func (f *fakeFleet) SetMembership(allowed func(peer.ID) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.memberships = append(f.memberships, allowed)
}

func (f *fakeFleet) AnnouncePolicy() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced++
}

func (f *fakeFleet) ExchangePolicy(holder p2p.PolicyHolder) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holder = holder
	return f.exchangeErr
}

var _ Fleet = (*fakeFleet)(nil)

func TestMembership(t *testing.T) {
	member, stranger := testpeer.ID(t), testpeer.ID(t)
	any := fleetDoc(1, member)
	any.Peers.AnyWithSwarmKey = true
	tests := []struct {
		name string
		doc  *policy.Document
		// everyone is a nil membership: every peer that connects.
		everyone         bool
		member, stranger bool
		noSwarmKey       bool
	}{
		{name: "listed peers", doc: fleetDoc(1, member), member: true},
		{name: "any_with_swarm_key", doc: any, everyone: true},
		{name: "any_with_swarm_key held on a node without a swarm key: nobody", doc: any, noSwarmKey: true},
		{name: "no peers listed: nobody", doc: fleetDoc(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Control{cfg: Config{OpenNetwork: tt.noSwarmKey}}
			allowed := c.membership(&policy.Policy{Document: tt.doc})
			if (allowed == nil) != tt.everyone {
				t.Fatalf("membership nil = %v, want %v", allowed == nil, tt.everyone)
			}
			if allowed == nil {
				return
			}
			// Asked twice: the answer is remembered, and the same.
			for range 2 {
				if allowed(member) != tt.member || allowed(stranger) != tt.stranger {
					t.Errorf("member %v, stranger %v; want %v, %v", allowed(member), allowed(stranger), tt.member, tt.stranger)
				}
			}
		})
	}
}

func TestJoinFleet(t *testing.T) {
	t.Run("open node", func(t *testing.T) {
		f := &fakeFleet{id: testpeer.ID(t), exchangeErr: errors.New("not called")}
		if err := open(t, Config{}).JoinFleet(f); err != nil {
			t.Fatal(err)
		}
		if f.holder != nil || len(f.memberships) != 0 || f.announced != 0 {
			t.Errorf("an open node took part in the policy exchange: %+v", f)
		}
	})
	t.Run("the exchange fails", func(t *testing.T) {
		root := newRootKey(t)
		boom := errors.New("boom")
		f := &fakeFleet{id: testpeer.ID(t), exchangeErr: boom}
		if err := open(t, Config{Roots: []ed25519.PublicKey{root.pub}}).JoinFleet(f); !errors.Is(err, boom) {
			t.Errorf("JoinFleet: %v, want %v", err, boom)
		}
	})
	t.Run("joining with a policy held", func(t *testing.T) {
		root := newRootKey(t)
		self := testpeer.ID(t)
		c := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, Policy: root.envelope(t, fleetDoc(3, self))})
		f := &fakeFleet{id: self}
		if err := c.JoinFleet(f); err != nil {
			t.Fatal(err)
		}
		if len(f.memberships) != 1 || f.memberships[0] == nil || !f.memberships[0](self) || f.announced != 1 {
			t.Errorf("membership set %d times, announced %d times; want once each, admitting this node", len(f.memberships), f.announced)
		}
	})

	// Membership follows the policy as policies are accepted.
	root := newRootKey(t)
	self, member, stranger := testpeer.ID(t), testpeer.ID(t), testpeer.ID(t)
	var logs logBuffer
	c := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, Logger: logs.logger()})
	f := &fakeFleet{id: self}
	if err := c.JoinFleet(f); err != nil {
		t.Fatal(err)
	}
	if f.holder == nil {
		t.Fatal("JoinFleet did not start the policy exchange")
	}
	if _, _, ok := f.holder.HeldPolicy(); ok || len(f.memberships) != 0 || f.announced != 0 {
		t.Fatalf("without a policy: held %v, membership set %d times, announced %d times", ok, len(f.memberships), f.announced)
	}
	everyone := fleetDoc(5)
	everyone.Peers.AnyWithSwarmKey = true
	first := root.envelope(t, fleetDoc(2, self, member))
	steps := []struct {
		name string
		env  []byte
		// sets is whether a new membership is set (and announced).
		sets     bool
		everyone bool
		// admitted and refused are peers the membership set last
		// admits and refuses.
		admitted, refused []peer.ID
		// notMember is whether this node is warned it is not a member.
		notMember bool
	}{
		{name: "first policy", env: first, sets: true, admitted: []peer.ID{self, member}, refused: []peer.ID{stranger}},
		{name: "the same again", env: first, admitted: []peer.ID{self, member}, refused: []peer.ID{stranger}},
		{name: "an older one is refused", env: root.envelope(t, fleetDoc(1, self)), admitted: []peer.ID{self, member}, refused: []peer.ID{stranger}},
		{name: "this node left out", env: root.envelope(t, fleetDoc(3, member, stranger)), sets: true, admitted: []peer.ID{member, stranger}, refused: []peer.ID{self}, notMember: true},
		{name: "back in", env: root.envelope(t, fleetDoc(4, self)), sets: true, admitted: []peer.ID{self}, refused: []peer.ID{member, stranger}},
		{name: "any_with_swarm_key", env: root.envelope(t, everyone), sets: true, everyone: true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			sets, announced, logged := len(f.memberships), f.announced, len(logs.String())
			_, _ = c.Apply(st.env, "test")
			if n := len(f.memberships) - sets; n != map[bool]int{true: 1}[st.sets] {
				t.Fatalf("membership set %d times", n)
			}
			if n := f.announced - announced; n != len(f.memberships)-sets {
				t.Errorf("announced %d times for %d new memberships", n, len(f.memberships)-sets)
			}
			allowed := f.memberships[len(f.memberships)-1]
			if (allowed == nil) != st.everyone {
				t.Fatalf("membership nil = %v, want %v", allowed == nil, st.everyone)
			}
			for _, id := range st.admitted {
				if !allowed(id) {
					t.Errorf("%s refused", id)
				}
			}
			for _, id := range st.refused {
				if allowed(id) {
					t.Errorf("%s admitted", id)
				}
			}
			if warned := strings.Contains(logs.String()[logged:], "not a member of the fleet"); warned != st.notMember {
				t.Errorf("warned this node is not a member: %v, want %v", warned, st.notMember)
			}
		})
	}
}

func TestOfferPolicyFromPeer(t *testing.T) {
	root := newRootKey(t)
	var logs logBuffer
	c := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, Logger: logs.logger()})
	f := &fakeFleet{id: testpeer.ID(t)}
	if err := c.JoinFleet(f); err != nil {
		t.Fatal(err)
	}
	holder := f.holder
	from := testpeer.ID(t)
	ctx := context.Background()
	if _, _, ok := holder.HeldPolicy(); ok {
		t.Fatal("a fresh node holds a policy")
	}
	stranger := newRootKey(t)
	expired := fleetDoc(3, from)
	expired.Issued, expired.Expires = expired.Issued.Add(-3*time.Hour), expired.Issued.Add(-2*time.Hour)
	otherNet := fleetDoc(4, from)
	otherNet.Network = "elsewhere"

	v2, env2 := root.sign(t, fleetDoc(2, from))
	v1, env1 := root.sign(t, fleetDoc(1, from))
	vEq, envEq := root.sign(t, fleetDoc(2))
	vBad, envBad := stranger.sign(t, fleetDoc(3, from))
	vExp, envExp := root.sign(t, expired)
	vNet, envNet := root.sign(t, otherNet)
	tests := []struct {
		name     string
		a        p2p.PolicyAnnouncement
		env      []byte
		wantErr  bool
		wantBad  bool
		wantHeld uint64
		wantLog  string
	}{
		{name: "not an envelope", a: v2, env: []byte("{}"), wantErr: true, wantBad: true},
		{name: "another digest than announced", a: p2p.PolicyAnnouncement{Version: 2, Digest: digest.FromString("x")}, env: env2, wantErr: true, wantBad: true},
		{name: "signed by an unknown key", a: vBad, env: envBad, wantErr: true, wantBad: true},
		{name: "good", a: v2, env: env2, wantHeld: 2},
		{name: "already held", a: v2, env: env2, wantHeld: 2},
		{name: "announced under another version", a: p2p.PolicyAnnouncement{Version: 7, Digest: v2.Digest}, env: env2, wantHeld: 2, wantLog: "another version"},
		{name: "older", a: v1, env: env1, wantErr: true, wantHeld: 2},
		{name: "same version, other content", a: vEq, env: envEq, wantErr: true, wantBad: true, wantHeld: 2},
		{name: "expired", a: vExp, env: envExp, wantErr: true, wantBad: true, wantHeld: 2},
		{name: "another network", a: vNet, env: envNet, wantErr: true, wantBad: true, wantHeld: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logged := len(logs.String())
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
			if tt.wantLog != "" && !strings.Contains(logs.String()[logged:], tt.wantLog) {
				t.Errorf("log lacks %q: %s", tt.wantLog, logs.String()[logged:])
			}
		})
	}
	// A policy from a peer reaches the fleet like any other: announced.
	if f.announced != 1 {
		t.Errorf("announced %d times, want once", f.announced)
	}
}

func TestUpstreamAllowed(t *testing.T) {
	root := newRootKey(t)
	clock := &fixedClock{t: time.Now()}
	c := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, UpstreamHost: upstreamHosts, Now: clock.now})
	if err := c.UpstreamAllowed("other"); err != nil {
		t.Fatalf("a node without a policy refused an upstream: %v", err)
	}
	doc := fleetDoc(1)
	if _, err := c.Apply(root.envelope(t, doc), "test"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rule string
		at   time.Time
		// want are what the refusal says, nil when allowed.
		want []string
	}{
		{rule: "allowed", at: time.Now()},
		{rule: "other", at: time.Now(), want: []string{"does not allow upstream elsewhere.example", "version 1"}},
		{rule: "no-such-rule", at: time.Now()},
		{rule: "allowed", at: doc.Expires.Add(time.Second), want: []string{"expired", "registry.example:5000"}},
		{rule: "other", at: doc.Expires.Add(time.Second), want: []string{"does not allow upstream elsewhere.example"}},
		{rule: "no-such-rule", at: doc.Expires.Add(time.Second)},
	}
	for _, tt := range tests {
		clock.set(tt.at)
		err := c.UpstreamAllowed(tt.rule)
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s at %s: %v", tt.rule, tt.at, err)
			}
			continue
		}
		var oe *oci.Error
		if !errors.As(err, &oe) || oe.Code != oci.ErrDenied.Code {
			t.Errorf("%s at %s: got %v, want DENIED", tt.rule, tt.at, err)
			continue
		}
		for _, s := range tt.want {
			if !strings.Contains(oe.Message, s) {
				t.Errorf("%s at %s: %q lacks %q", tt.rule, tt.at, oe.Message, s)
			}
		}
	}

	// An open node allows every upstream.
	if err := open(t, Config{UpstreamHost: upstreamHosts}).UpstreamAllowed("other"); err != nil {
		t.Errorf("an open node refused an upstream: %v", err)
	}
}
