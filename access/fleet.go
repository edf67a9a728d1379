package access

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
)

// The policy in the fleet: which peers belong (the p2p host's membership
// follows the policy in force), and how a policy accepted on one node
// reaches every other (gossip announcements plus fetch by digest, see
// p2p.ExchangePolicy).

// Fleet is what the policy needs of the p2p host (p2p.Host).
type Fleet interface {
	ID() peer.ID
	SetMembership(allowed func(peer.ID) bool)
	AnnouncePolicy()
	ExchangePolicy(holder p2p.PolicyHolder) error
}

// JoinFleet makes the p2p host follow the node's policy: its membership,
// its announcements, and policies from peers offered to Apply. Called
// once the host exists.
func (c *Control) JoinFleet(h Fleet) error {
	if c.store == nil {
		// An open node takes no policy, so it neither fetches nor serves
		// one, and every peer is a member.
		return nil
	}
	var (
		mu      sync.Mutex
		version uint64
	)
	c.Watch(func(p *policy.Policy) {
		// Watchers are called in the order policies are accepted; the
		// guard only makes that explicit.
		mu.Lock()
		defer mu.Unlock()
		if p.Document.Version <= version {
			return
		}
		version = p.Document.Version
		h.SetMembership(c.membership(p))
		if !p.PeerAllowed(h.ID().String()) {
			c.log.Warn("this node is not a member of the fleet under the policy in force: its peers will refuse it", "peer_id", h.ID(), "policy_version", p.Document.Version)
		}
		h.AnnouncePolicy()
	})
	return h.ExchangePolicy(fleetPolicy{c})
}

// membership is p's decision on which peers belong, remembered per peer:
// the host asks on every connection and every content stream.
func (c *Control) membership(p *policy.Policy) func(peer.ID) bool {
	if c.cannotHold(p.Document) != nil {
		return func(peer.ID) bool { return false } // a held policy that cannot hold here admits no one
	}
	if p.Document.Peers.AnyWithSwarmKey {
		return nil // everyone who got through the swarm key is a member
	}
	var known sync.Map // peer.ID → bool
	return func(id peer.ID) bool {
		if v, ok := known.Load(id); ok {
			return v.(bool)
		}
		ok := p.PeerAllowed(id.String())
		known.Store(id, ok)
		return ok
	}
}

// fleetPolicy is the node's side of the policy exchange.
type fleetPolicy struct{ c *Control }

func (f fleetPolicy) HeldPolicy() (p2p.PolicyAnnouncement, []byte, bool) {
	p := f.c.Current()
	if p == nil {
		return p2p.PolicyAnnouncement{}, nil, false
	}
	return p2p.PolicyAnnouncement{Version: p.Document.Version, Digest: p.Digest}, p.Envelope, true
}

// OfferPolicy applies an envelope a peer sent; applyPolicy verifies it.
func (f fleetPolicy) OfferPolicy(_ context.Context, from peer.ID, a p2p.PolicyAnnouncement, envelope []byte) error {
	env, err := policy.ParseEnvelope(envelope)
	if err != nil {
		return fmt.Errorf("%w: %w", p2p.ErrBadPolicy, err)
	}
	if got := digest.FromBytes(env.Payload); got != a.Digest {
		return fmt.Errorf("%w: the envelope's payload is %s, announced as %s", p2p.ErrBadPolicy, got, a.Digest)
	}
	p, err := f.c.Apply(envelope, from.String())
	switch {
	case err == nil, errors.Is(err, policy.ErrAlreadyHeld):
		if p != nil && p.Document.Version != a.Version {
			f.c.log.Warn("a peer announced a policy under another version than its own", "peer", from, "announced", a.Version, "version", p.Document.Version)
		}
		return nil
	case errors.Is(err, policy.ErrRollback):
		// A newer policy was accepted meanwhile: nothing wrong with this one.
		return err
	case errors.Is(err, policy.ErrSignature), errors.Is(err, policy.ErrNetwork), errors.Is(err, policy.ErrExpired),
		errors.Is(err, policy.ErrInvalid), errors.Is(err, policy.ErrEquivocation):
		return fmt.Errorf("%w: %w", p2p.ErrBadPolicy, err)
	}
	return err
}

// UpstreamAllowed refuses upstream fetches through rule when the policy
// in force does not list its registry, or has expired. Every call to
// the upstream goes through it first.
func (c *Control) UpstreamAllowed(rule string) error {
	p := c.Current()
	if p == nil {
		return nil
	}
	host, ok := c.cfg.UpstreamHost(rule)
	if !ok {
		return nil // no such upstream: the caller finds nothing there anyway
	}
	if !p.UpstreamAllowed(host) {
		return oci.ErrDenied.WithMessage("the access policy (version %d) does not allow upstream %s", p.Document.Version, host)
	}
	if p.Expired(c.now()) {
		return oci.ErrDenied.WithMessage("the access policy (version %d) expired at %s: no upstream fetches (from %s) until a new one is applied",
			p.Document.Version, p.Document.Expires.Format("2006-01-02T15:04:05Z07:00"), host)
	}
	return nil
}
