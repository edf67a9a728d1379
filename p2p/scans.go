package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"github.com/shoal-dev/shoal/repository"
)

// Scan results and vulnerability databases in the fleet. A node that has
// signed a scan report, or taken in a vulnerability database, announces
// it on ScansTopic; peers fetch the named blob (the report's DSSE
// envelope, or the database layer) by digest over ContentProtocol from
// the announcer, and hand it to the node, which verifies the signature
// and decides whether it trusts the signer. Announcements only say where
// to look: everything fetched is checked against its digest and its
// signature, so a lying announcer wastes a fetch at most.
const (
	// ScansTopic is the gossipsub topic of report and database
	// announcements.
	ScansTopic = "/shoal/scans/1"
	// maxScanAnnouncement bounds an announcement; a real one is under
	// 600 bytes.
	maxScanAnnouncement = 2048
	// scanHandlers bounds the announcements being handled at once; more
	// are dropped (announcements are repeated, and reports can be
	// re-scanned).
	scanHandlers = 8
)

// Kinds of scan announcements.
const (
	AnnounceReport = "report"
	AnnounceDB     = "db"
)

// ScanAnnouncement names a signed report or a vulnerability database.
type ScanAnnouncement struct {
	Kind string `json:"kind"`
	// Digest is the blob to fetch: the report's envelope, or the
	// database's layer.
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// Signer is the peer ID that signed it.
	Signer string `json:"signer"`
	// Image and Repo (the store's repository key) say what a report is
	// about; DB is the database it was scanned against.
	Image digest.Digest `json:"image,omitempty"`
	Repo  string        `json:"repo,omitempty"`
	DB    digest.Digest `json:"db,omitempty"`
	// Signature (base64) and Updated are a database's.
	Signature string    `json:"signature,omitempty"`
	Updated   time.Time `json:"updated,omitzero"`
}

func (a ScanAnnouncement) validate() error {
	switch a.Kind {
	case AnnounceReport:
		if err := a.Image.Validate(); err != nil {
			return fmt.Errorf("image: %w", err)
		}
	case AnnounceDB:
		if a.Signature == "" {
			return errors.New("a database announcement without a signature")
		}
	default:
		return fmt.Errorf("kind %q", a.Kind)
	}
	if err := a.Digest.Validate(); err != nil {
		return err
	}
	if a.Size <= 0 {
		return fmt.Errorf("size %d", a.Size)
	}
	if _, err := peer.Decode(a.Signer); err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	return nil
}

func parseScanAnnouncement(b []byte) (ScanAnnouncement, error) {
	return decodeAnnouncement[ScanAnnouncement](b, maxScanAnnouncement)
}

// ScanHandler is the node's side of the scan exchange.
type ScanHandler interface {
	// ScanAnnounced is told of a peer's announcement; sources are the
	// peers that should hold the blob, the author first. It runs in a
	// goroutine of its own, and ctx ends when the exchange closes.
	ScanAnnounced(ctx context.Context, a ScanAnnouncement, sources []peer.ID)
}

// scanExchange announces and hears of reports and databases.
type scanExchange struct {
	h       *Host
	handler ScanHandler
	topic   *pubsub.Topic
	sub     *pubsub.Subscription
	slots   chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// ExchangeScans starts the scan exchange: it joins ScansTopic and hands
// every well-formed announcement from another member to handler. Call it
// once; Close stops it.
func (h *Host) ExchangeScans(handler ScanHandler) error {
	ps, err := h.gossipSub()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &scanExchange{h: h, handler: handler, slots: make(chan struct{}, scanHandlers), ctx: ctx, cancel: cancel}
	if x.topic, x.sub, err = joinTopic(ps, ScansTopic, "scan", x.validate); err != nil {
		cancel()
		return err
	}
	x.wg.Add(1)
	go x.read()
	h.gossip.mu.Lock()
	h.gossip.scans = x
	h.gossip.mu.Unlock()
	return nil
}

// AnnounceScan publishes a; without ExchangeScans it does nothing.
func (h *Host) AnnounceScan(ctx context.Context, a ScanAnnouncement) error {
	h.gossip.mu.Lock()
	x := h.gossip.scans
	h.gossip.mu.Unlock()
	if x == nil {
		return nil
	}
	if err := a.validate(); err != nil {
		return err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return x.topic.Publish(ctx, b)
}

func (x *scanExchange) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if _, err := parseScanAnnouncement(msg.GetData()); err != nil {
		x.h.log.Debug("malformed scan announcement", "peer", from, "author", msg.GetFrom(), "err", err)
		return pubsub.ValidationReject
	}
	return pubsub.ValidationAccept
}

// read hands announcements to the node, a bounded number at a time.
func (x *scanExchange) read() {
	defer x.wg.Done()
	for {
		msg, err := x.sub.Next(x.ctx)
		if err != nil {
			return
		}
		author := msg.GetFrom()
		if author == x.h.ID() {
			continue
		}
		a, err := parseScanAnnouncement(msg.GetData())
		if err != nil {
			continue
		}
		sources := []peer.ID{author}
		if fwd := msg.ReceivedFrom; fwd != author && fwd != x.h.ID() && fwd != "" {
			sources = append(sources, fwd)
		}
		select {
		case x.slots <- struct{}{}:
		default:
			x.h.log.Debug("too many scan announcements at once; dropping one", "kind", a.Kind, "digest", a.Digest)
			continue
		}
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			defer func() { <-x.slots }()
			x.handler.ScanAnnounced(x.ctx, a, sources)
		}()
	}
}

func (x *scanExchange) close() {
	x.cancel()
	x.sub.Cancel()
	x.wg.Wait()
	_ = x.topic.Close()
}

// FetchFrom opens blob d of repo (which holds it on the peers) from the
// first of peers that holds it, bounded to max bytes. The bytes are not
// verified: the caller checks them against d.
func (h *Host) FetchFrom(ctx context.Context, d digest.Digest, repo repository.Name, peers []peer.ID, max int64) (io.ReadCloser, int64, error) {
	var errs []error
	for _, p := range peers {
		if p == h.ID() || h.penalised(p) {
			continue
		}
		s, err := h.Open(ctx, p, Request{Digest: d, Rule: repo.Rule, Repo: repo.Path})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		if s.Size > max {
			s.Close()
			errs = append(errs, fmt.Errorf("%s offers %d bytes, more than %d", p, s.Size, max))
			continue
		}
		return s, s.Size, nil
	}
	return nil, 0, errors.Join(append([]error{ErrNoPeer}, errs...)...)
}

// Designated lists, closest first, the peers closer than this node to d
// by DHT distance: the peers that should act for the fleet on d (fetch
// it from upstream, scan it). It is empty when this node is the closest.
func (h *Host) Designated(ctx context.Context, d digest.Digest) ([]peer.ID, error) {
	return h.designated(ctx, d)
}

// PrivKey is the host's identity key, which signs what the node vouches
// for (scan reports, imported databases).
func (h *Host) PrivKey() crypto.PrivKey { return h.host.Peerstore().PrivKey(h.host.ID()) }

// sharedGossip is the host's one gossipsub router, which the policy and
// scan exchanges share: a libp2p host can run only one.
type sharedGossip struct {
	mu     sync.Mutex
	ps     *pubsub.PubSub
	cancel context.CancelFunc
	scans  *scanExchange
	facts  *factsExchange // facts.go
}

// gossipSub starts the host's gossipsub router on first use. Only
// members take part, and messages are signed by their authors' peer keys
// (the default, strict signing).
func (h *Host) gossipSub() (*pubsub.PubSub, error) {
	g := &h.gossip
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ps != nil {
		return g.ps, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h.host,
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return h.Member(p) }),
		pubsub.WithLogger(h.log.With("component", "gossipsub")),
	)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("starting gossipsub: %w", err)
	}
	g.ps, g.cancel = ps, cancel
	return ps, nil
}

// closeGossip stops the scan and facts exchanges and the router.
func (h *Host) closeGossip() {
	g := &h.gossip
	g.mu.Lock()
	x, f := g.scans, g.facts
	g.scans, g.facts = nil, nil
	cancel := g.cancel
	g.cancel = nil
	g.mu.Unlock()
	if x != nil {
		x.close()
	}
	if f != nil {
		f.close()
	}
	if cancel != nil {
		cancel()
	}
}
