package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"
)

// Policy distribution. A node announces {version, digest} of the policy
// it holds on a gossipsub topic; a node that holds an older one fetches
// the envelope from the announcer over PolicyProtocol and hands it to the
// node, which verifies it. The envelope is self-authenticating, so the
// announcement and the transfer need not be trusted: they only decide
// how fast a new policy spreads.
const (
	// PolicyTopic is the gossipsub topic of policy announcements.
	PolicyTopic = "/shoal/policy/1"
	// PolicyProtocol fetches a policy envelope from a peer.
	PolicyProtocol = "/shoal/policy/1.0.0"
	// MaxPolicyEnvelope bounds an envelope taken from a peer.
	MaxPolicyEnvelope = 1 << 20
	// PolicyAnnounceInterval is how often a node announces the policy it
	// holds again, for peers that missed an announcement.
	PolicyAnnounceInterval = 30 * time.Second
)

// Tuning of the policy exchange.
const (
	// maxAnnouncement bounds an announcement message; a real one is
	// under 150 bytes.
	maxAnnouncement = 512
	// policyFetchTimeout bounds one envelope fetch, connection included.
	policyFetchTimeout = 10 * time.Second
	// announceAfterConnect lets a new peer's gossipsub subscription
	// arrive before the node announces to it.
	announceAfterConnect = time.Second
	// askAttempts bounds how often a new peer is asked for its policy:
	// it may not serve PolicyProtocol until it has finished starting.
	askAttempts = 3
)

// PolicyAnnouncement names a policy: its version and the digest of its
// envelope's payload.
type PolicyAnnouncement struct {
	Version uint64        `json:"version"`
	Digest  digest.Digest `json:"digest"`
}

func (a PolicyAnnouncement) validate() error {
	if a.Version == 0 {
		return errors.New("version 0")
	}
	if err := a.Digest.Validate(); err != nil {
		return err
	}
	if a.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("digest algorithm %s", a.Digest.Algorithm())
	}
	return nil
}

// parseAnnouncement reads a policy announcement strictly: anything else
// on the topic is malformed.
func parseAnnouncement(b []byte) (PolicyAnnouncement, error) {
	return decodeAnnouncement[PolicyAnnouncement](b, maxAnnouncement)
}

// decodeAnnouncement reads one gossip announcement of at most max bytes:
// one JSON value, no unknown fields, nothing after it, and valid.
func decodeAnnouncement[T interface{ validate() error }](b []byte, max int) (T, error) {
	var a T
	if len(b) > max {
		return a, fmt.Errorf("announcement of %d bytes", len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, err
	}
	if dec.More() {
		return a, errors.New("trailing data after the announcement")
	}
	return a, a.validate()
}

// PolicyHolder is the node's side of the policy exchange.
type PolicyHolder interface {
	// HeldPolicy is the policy the node holds and its envelope; ok is
	// false when it holds none.
	HeldPolicy() (a PolicyAnnouncement, envelope []byte, ok bool)
	// OfferPolicy hands the node an envelope that peer from sent for a.
	// It returns nil when the node holds that policy afterwards, an error
	// wrapping ErrBadPolicy when the envelope is wrong in itself (a
	// digest other than announced, a bad signature, …), and any other
	// error when it could not be taken now (say, a newer one arrived
	// meanwhile).
	OfferPolicy(ctx context.Context, from peer.ID, a PolicyAnnouncement, envelope []byte) error
}

// ErrBadPolicy marks a policy envelope a peer should not have passed on.
var ErrBadPolicy = errors.New("p2p: bad policy")

// policyRequest asks a peer for an envelope: by digest, or, with no
// digest, the policy it holds if its version is above Above.
type policyRequest struct {
	Digest digest.Digest `json:"digest,omitempty"`
	Above  uint64        `json:"above,omitempty"`
}

// policyResponse heads the answer; Size envelope bytes follow it.
type policyResponse struct {
	PolicyAnnouncement
	Size  int64  `json:"size,omitempty"`
	Error string `json:"error,omitempty"`
}

// policyExchange announces, fetches and serves policies for one host.
type policyExchange struct {
	h      *Host
	holder PolicyHolder
	ps     *pubsub.PubSub
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	flight singleflight.Group
	kick   chan struct{}

	mu sync.Mutex
	// asking are the peers being asked now: a peer's several connection
	// events start one ask.
	asking map[peer.ID]bool
	closed bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ExchangePolicy starts policy distribution on the host: gossipsub on
// PolicyTopic, the PolicyProtocol server, announcements (call
// AnnouncePolicy when the node accepts a policy; it also announces every
// PolicyAnnounceInterval and when a peer connects), and asking each peer
// that connects for a newer policy than the one held. Call it once; Close
// stops it.
func (h *Host) ExchangePolicy(holder PolicyHolder) error {
	ctx, cancel := context.WithCancel(context.Background())
	x := &policyExchange{h: h, holder: holder, kick: make(chan struct{}, 1), asking: map[peer.ID]bool{}, ctx: ctx, cancel: cancel}
	// Announcements are signed by their author's peer key, and only
	// members take part (see gossipSub).
	ps, err := h.gossipSub()
	if err != nil {
		cancel()
		return err
	}
	x.ps = ps
	if x.topic, x.sub, err = joinTopic(ps, PolicyTopic, "policy", x.validate, pubsub.WithValidatorTimeout(2*policyFetchTimeout)); err != nil {
		cancel()
		return err
	}
	h.host.SetStreamHandler(PolicyProtocol, x.serve)
	notifee := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) { x.connected(c.RemotePeer()) }}
	h.host.Network().Notify(notifee)
	x.wg.Add(2)
	go x.drain()
	go x.announceLoop()
	// Peers connected before the exchange started are new to it too.
	for _, p := range h.host.Network().Peers() {
		x.connected(p)
	}
	h.policyMu.Lock()
	h.policy = x
	h.policyMu.Unlock()
	context.AfterFunc(ctx, func() { h.host.Network().StopNotify(notifee) })
	return nil
}

// AnnouncePolicy announces the policy the node holds now, soon; it does
// not wait. Without ExchangePolicy it does nothing.
func (h *Host) AnnouncePolicy() {
	h.policyMu.Lock()
	x := h.policy
	h.policyMu.Unlock()
	if x != nil {
		x.announce()
	}
}

func (x *policyExchange) announce() {
	select {
	case x.kick <- struct{}{}:
	default: // one is pending already; it announces the latest
	}
}

func (x *policyExchange) close() {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
	x.cancel()
	x.h.host.RemoveStreamHandler(PolicyProtocol)
	x.sub.Cancel()
	x.wg.Wait()
	_ = x.topic.Close()
}

func (x *policyExchange) announceLoop() {
	defer x.wg.Done()
	t := time.NewTicker(PolicyAnnounceInterval)
	defer t.Stop()
	for {
		select {
		case <-x.ctx.Done():
			return
		case <-t.C:
		case <-x.kick:
		}
		a, _, ok := x.holder.HeldPolicy()
		if !ok {
			continue
		}
		b, err := json.Marshal(a)
		if err != nil {
			continue
		}
		if err := x.topic.Publish(x.ctx, b); err != nil && x.ctx.Err() == nil {
			x.h.log.Debug("announcing the policy", "version", a.Version, "err", err)
		}
	}
}

// drain reads the subscription: everything was handled in validation,
// but gossipsub only keeps a node in the topic's mesh while it is
// subscribed.
func (x *policyExchange) drain() {
	defer x.wg.Done()
	for {
		if _, err := x.sub.Next(x.ctx); err != nil {
			return
		}
	}
}

// validate decides whether an announcement spreads further. A newer
// policy is fetched and handed to the node here, before the announcement
// is passed on, so every peer that forwards an announcement can serve the
// envelope to those it forwards it to.
func (x *policyExchange) validate(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	a, err := parseAnnouncement(msg.GetData())
	if err != nil {
		x.h.log.Debug("malformed policy announcement", "peer", from, "author", msg.GetFrom(), "err", err)
		return pubsub.ValidationReject
	}
	if from == x.h.ID() {
		return pubsub.ValidationAccept // our own announcement
	}
	if held, _, ok := x.holder.HeldPolicy(); ok && a.Version <= held.Version {
		if a.Version == held.Version && a.Digest != held.Digest {
			x.h.log.Warn("a peer announces another policy with the version this node holds", "version", a.Version, "held", held.Digest, "announced", a.Digest, "author", msg.GetFrom())
		}
		return pubsub.ValidationIgnore
	}
	// The forwarder holds it (see above), and so does the author.
	sources := []peer.ID{from}
	if author := msg.GetFrom(); author != from && author != x.h.ID() && author != "" {
		sources = append(sources, author)
	}
	v, _, _ := x.flight.Do(a.Digest.String(), func() (any, error) {
		return x.fetchAndOffer(ctx, a, sources), nil
	})
	return v.(pubsub.ValidationResult)
}

// fetchAndOffer fetches the envelope a names from the first of sources
// that has it and offers it to the node.
func (x *policyExchange) fetchAndOffer(ctx context.Context, a PolicyAnnouncement, sources []peer.ID) pubsub.ValidationResult {
	for _, p := range sources {
		got, env, err := x.fetch(ctx, p, policyRequest{Digest: a.Digest})
		if err != nil {
			x.h.log.Debug("fetching an announced policy", "peer", p, "version", a.Version, "digest", a.Digest, "err", err)
			continue
		}
		if got != a {
			x.h.log.Warn("a peer sent another policy than asked for", "peer", p, "asked", a, "got", got)
			return pubsub.ValidationReject
		}
		switch err := x.holder.OfferPolicy(ctx, p, a, env); {
		case err == nil:
			return pubsub.ValidationAccept
		case errors.Is(err, ErrBadPolicy):
			x.h.log.Warn("refused a policy from a peer", "peer", p, "version", a.Version, "digest", a.Digest, "err", err)
			return pubsub.ValidationReject
		default:
			x.h.log.Debug("policy from a peer not taken", "peer", p, "version", a.Version, "err", err)
			return pubsub.ValidationIgnore
		}
	}
	return pubsub.ValidationIgnore
}

// connected asks a new peer for a newer policy than the one held, and
// announces ours to it, so that late joiners converge at once.
func (x *policyExchange) connected(p peer.ID) {
	if p == x.h.ID() {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return
	}
	if x.asking[p] {
		return
	}
	x.asking[p] = true
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.askPeer(p)
		x.mu.Lock()
		delete(x.asking, p)
		x.mu.Unlock()
	}()
	time.AfterFunc(announceAfterConnect, x.announce)
}

// askPeer takes p's policy if it is newer than the one held.
func (x *policyExchange) askPeer(p peer.ID) {
	wait := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var above uint64
		if held, _, ok := x.holder.HeldPolicy(); ok {
			above = held.Version
		}
		a, env, err := x.fetch(x.ctx, p, policyRequest{Above: above})
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrDenied):
			return // nothing newer there, or we are not its member
		case err == nil:
			if err := x.holder.OfferPolicy(x.ctx, p, a, env); err != nil {
				x.h.log.Info("policy from a new peer not taken", "peer", p, "version", a.Version, "err", err)
			}
			return
		}
		if attempt == askAttempts || x.ctx.Err() != nil {
			x.h.log.Debug("asking a new peer for its policy", "peer", p, "err", err)
			return
		}
		select {
		case <-x.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// fetch asks peer p for an envelope.
func (x *policyExchange) fetch(ctx context.Context, p peer.ID, req policyRequest) (PolicyAnnouncement, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, policyFetchTimeout)
	defer cancel()
	s, err := x.h.host.NewStream(ctx, p, PolicyProtocol)
	if err != nil {
		return PolicyAnnouncement{}, nil, err
	}
	defer s.Reset() //nolint:errcheck // after a full read Reset only frees the stream
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	line, err := json.Marshal(req)
	if err != nil {
		return PolicyAnnouncement{}, nil, err
	}
	if _, err := s.Write(append(line, '\n')); err != nil {
		return PolicyAnnouncement{}, nil, err
	}
	if err := s.CloseWrite(); err != nil {
		return PolicyAnnouncement{}, nil, err
	}
	br := bufio.NewReaderSize(s, 4096)
	var resp policyResponse
	if err := readLine(br, &resp); err != nil {
		return PolicyAnnouncement{}, nil, fmt.Errorf("p2p: reading %s's policy answer: %w", p, err)
	}
	switch resp.Error {
	case "":
	case errNotFound:
		return PolicyAnnouncement{}, nil, ErrNotFound
	case errDenied:
		return PolicyAnnouncement{}, nil, ErrDenied
	default:
		return PolicyAnnouncement{}, nil, fmt.Errorf("p2p: peer %s answered %s", p, resp.Error)
	}
	if err := resp.PolicyAnnouncement.validate(); err != nil {
		return PolicyAnnouncement{}, nil, fmt.Errorf("p2p: peer %s sent a bad policy header: %w", p, err)
	}
	if resp.Size <= 0 || resp.Size > MaxPolicyEnvelope {
		return PolicyAnnouncement{}, nil, fmt.Errorf("p2p: peer %s offers a policy envelope of %d bytes", p, resp.Size)
	}
	env := make([]byte, resp.Size)
	if _, err := io.ReadFull(br, env); err != nil {
		return PolicyAnnouncement{}, nil, fmt.Errorf("p2p: reading %s's policy envelope: %w", p, err)
	}
	return resp.PolicyAnnouncement, env, nil
}

// serve answers a peer's PolicyProtocol request.
func (x *policyExchange) serve(s network.Stream) {
	defer s.Close()
	if err := x.answer(s); err != nil {
		x.h.log.Debug("serving a policy to a peer", "peer", s.Conn().RemotePeer(), "err", err)
		_ = s.Reset()
	}
}

func (x *policyExchange) answer(s network.Stream) error {
	if !x.h.Member(s.Conn().RemotePeer()) {
		// The policy names identities and password hashes: it is for
		// members only.
		return writePolicyHeader(s, policyResponse{Error: errDenied})
	}
	_ = s.SetDeadline(time.Now().Add(policyFetchTimeout))
	var req policyRequest
	if err := readLine(bufio.NewReaderSize(io.LimitReader(s, 4096), 4096), &req); err != nil {
		return writePolicyHeader(s, policyResponse{Error: errBadRequest})
	}
	if req.Digest != "" && req.Digest.Validate() != nil {
		return writePolicyHeader(s, policyResponse{Error: errBadRequest})
	}
	held, env, ok := x.holder.HeldPolicy()
	switch {
	case !ok, req.Digest != "" && req.Digest != held.Digest, req.Digest == "" && held.Version <= req.Above:
		return writePolicyHeader(s, policyResponse{Error: errNotFound})
	case len(env) > MaxPolicyEnvelope:
		return writePolicyHeader(s, policyResponse{Error: errUnavailable})
	}
	if err := writePolicyHeader(s, policyResponse{PolicyAnnouncement: held, Size: int64(len(env))}); err != nil {
		return err
	}
	_, err := s.Write(env)
	return err
}

func writePolicyHeader(w io.Writer, r policyResponse) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return err
}

// joinTopic registers validate for topic, joins it and subscribes: what
// each of the node's gossip exchanges (policy, scans, facts) does first.
// what names the exchange in errors.
func joinTopic(ps *pubsub.PubSub, topic, what string, validate pubsub.ValidatorEx, opts ...pubsub.ValidatorOpt) (*pubsub.Topic, *pubsub.Subscription, error) {
	if err := ps.RegisterTopicValidator(topic, validate, opts...); err != nil {
		return nil, nil, fmt.Errorf("%s topic validator: %w", what, err)
	}
	t, err := ps.Join(topic)
	if err != nil {
		return nil, nil, fmt.Errorf("joining the %s topic: %w", what, err)
	}
	sub, err := t.Subscribe()
	if err != nil {
		return nil, nil, fmt.Errorf("subscribing to the %s topic: %w", what, err)
	}
	return t, sub, nil
}
