package p2p

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoal-dev/shoal/peerbook"
)

// Node facts: every node tells the fleet, on FactsTopic, its store size,
// blob count and version, for the operators' fleet table (/ui/, shoal
// status). Gossip is the cheapest sound carrier: the router is running
// already for policies and scans, members alone take part, a message is
// signed by its author's peer key, and a node learns of peers it is not
// connected to as well. The facts are the author's own claims: they are
// shown as such and decide nothing.
const (
	// FactsTopic is the gossipsub topic of node facts.
	FactsTopic = "/shoal/facts/1"
	// FactsInterval is how often a node tells its facts again.
	FactsInterval = 30 * time.Second
	// maxFactsAnnouncement bounds a message; a real one is under 100
	// bytes.
	maxFactsAnnouncement = 256
	// maxVersionLen bounds the version a peer tells.
	maxVersionLen = 64
	// factsSpacing is the least time between a change of the store and
	// the telling of it after the last telling, so a busy store costs
	// at most one message per node this often.
	factsSpacing = 10 * time.Second
)

// factsSoon and factsSoonAgain are when a node tells its facts after a
// peer connects (and after the exchange starts): a publish before
// gossipsub's first heartbeats with the new peer can reach no one, so
// once soon and once more a little later.
const (
	factsSoon      = 2 * time.Second
	factsSoonAgain = 6 * time.Second
)

// The peer book's bounds: a fleet's operators care about the peers of
// the last day, and a node remembers at most this many.
const (
	maxKnownPeers = 1024
	forgetPeer    = 24 * time.Hour
)

// NodeFacts are what a node tells the fleet about itself.
type NodeFacts struct {
	Version    string `json:"version,omitempty"`
	StoreBytes int64  `json:"store_bytes"`
	Blobs      int    `json:"blobs"`
}

func (f NodeFacts) validate() error {
	if f.StoreBytes < 0 || f.Blobs < 0 {
		return fmt.Errorf("negative store size %d or blob count %d", f.StoreBytes, f.Blobs)
	}
	if len(f.Version) > maxVersionLen {
		return fmt.Errorf("a version of %d bytes", len(f.Version))
	}
	for _, r := range f.Version {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return errors.New("a version with a character other than printable ASCII")
		}
	}
	return nil
}

func parseFacts(b []byte) (NodeFacts, error) {
	return decodeAnnouncement[NodeFacts](b, maxFactsAnnouncement)
}

// factsExchange tells this node's facts and hears its peers'.
type factsExchange struct {
	h      *Host
	own    func() NodeFacts
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	lastTold time.Time
	pending  bool // a telling after a change is scheduled
	// soonPending and againPending say that the tellings after a peer
	// connected are scheduled (tellSoon).
	soonPending, againPending bool
	// after runs f d from now: time.AfterFunc, a fake in tests.
	after func(d time.Duration, f func())
}

// ExchangeFacts starts the facts exchange: it joins FactsTopic, tells
// own() every FactsInterval and soon after a peer connects, and records
// what other members tell in the host's peer book (KnownPeers). Call it
// once; Close stops it.
func (h *Host) ExchangeFacts(own func() NodeFacts) error {
	ps, err := h.gossipSub()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &factsExchange{h: h, own: own, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
	if x.topic, x.sub, err = joinTopic(ps, FactsTopic, "facts", x.validate); err != nil {
		cancel()
		return err
	}
	notifee := &network.NotifyBundle{ConnectedF: func(network.Network, network.Conn) { x.tellSoon() }}
	h.host.Network().Notify(notifee)
	context.AfterFunc(ctx, func() { h.host.Network().StopNotify(notifee) })
	x.wg.Add(2)
	go x.read()
	go x.tellLoop()
	// Peers connected before the exchange started hear it soon too.
	x.tellSoon()
	h.gossip.mu.Lock()
	h.gossip.facts = x
	h.gossip.mu.Unlock()
	return nil
}

// tellSoon tells this node's facts factsSoon and factsSoonAgain from
// now, unless those tellings are scheduled already: a peer that connects
// meanwhile hears them, or, if the first comes too soon for its mesh,
// the second, the next a connection brings, or the periodic one. A node
// starting in a fleet connects to most of its peers within seconds; with
// two tellings per connection each node of a 20-node fleet told its
// facts up to 38 times in its first 20 s, and gossipsub's validation and
// send queues overflowed: 3,235 messages dropped, whatever their topic
// (rolloutbench with debug logs, bench/RESULTS.md).
func (x *factsExchange) tellSoon() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.soonPending {
		x.soonPending = true
		x.after(factsSoon, func() { x.told(&x.soonPending) })
	}
	if !x.againPending {
		x.againPending = true
		x.after(factsSoonAgain, func() { x.told(&x.againPending) })
	}
}

// told tells the facts of a scheduled telling, whose pending flag it
// clears first, so that a peer connecting from now on schedules another.
func (x *factsExchange) told(pending *bool) {
	x.mu.Lock()
	*pending = false
	x.mu.Unlock()
	x.tell()
}

func (x *factsExchange) tell() {
	select {
	case x.kick <- struct{}{}:
	default: // one is pending already
	}
}

func (x *factsExchange) tellLoop() {
	defer x.wg.Done()
	t := time.NewTicker(FactsInterval)
	defer t.Stop()
	for {
		select {
		case <-x.ctx.Done():
			return
		case <-t.C:
		case <-x.kick:
		}
		f := x.own()
		if err := f.validate(); err != nil {
			x.h.log.Debug("this node's facts", "err", err)
			continue
		}
		b, err := json.Marshal(f)
		if err != nil {
			continue
		}
		x.mu.Lock()
		x.lastTold = time.Now()
		x.mu.Unlock()
		if err := x.topic.Publish(x.ctx, b); err != nil && x.ctx.Err() == nil {
			x.h.log.Debug("telling this node's facts", "err", err)
		}
	}
}

// FactsChanged says the node's facts changed (its store took in or let
// go of a blob): they are told again, at most once per factsSpacing
// beyond the periodic telling. Without ExchangeFacts it does nothing.
func (h *Host) FactsChanged() {
	h.gossip.mu.Lock()
	x := h.gossip.facts
	h.gossip.mu.Unlock()
	if x != nil {
		x.changed()
	}
}

func (x *factsExchange) changed() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.pending {
		return
	}
	x.pending = true
	time.AfterFunc(max(0, time.Until(x.lastTold.Add(factsSpacing))), func() {
		x.mu.Lock()
		x.pending = false
		x.mu.Unlock()
		x.tell()
	})
}

func (x *factsExchange) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if _, err := parseFacts(msg.GetData()); err != nil {
		x.h.log.Debug("malformed node facts", "peer", from, "author", msg.GetFrom(), "err", err)
		return pubsub.ValidationReject
	}
	return pubsub.ValidationAccept
}

// read records each peer's facts under its author, the peer whose key
// signed the message.
func (x *factsExchange) read() {
	defer x.wg.Done()
	for {
		msg, err := x.sub.Next(x.ctx)
		if err != nil {
			return
		}
		author := msg.GetFrom()
		if author == x.h.ID() || author == "" {
			continue
		}
		f, err := parseFacts(msg.GetData())
		if err != nil {
			continue
		}
		x.h.book.Told(author.String(), peerbook.Facts{StoreBytes: f.StoreBytes, Blobs: f.Blobs, Version: f.Version,
			At: time.Now(), Seq: seqno(msg)})
	}
}

// seqno is the author's sequence number of msg: gossipsub numbers each
// author's messages upwards, so an older message replayed later is told
// apart.
func seqno(msg *pubsub.Message) uint64 {
	b := msg.GetSeqno()
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (x *factsExchange) close() {
	x.cancel()
	x.sub.Cancel()
	x.wg.Wait()
	_ = x.topic.Close()
}
