// Package node wires the parts of a shoal node together and runs it: the
// store, the upstream client, the fleet, access control, the pull path
// and its gates, scanning, and the HTTP routes. It decides nothing about
// content or access itself: each rule lives in the package named for it
// (see docs/architecture.md).
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/traffic"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/access"
	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/datadir"
	"github.com/shoal-dev/shoal/gate"
	"github.com/shoal-dev/shoal/ingest"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scanning"
)

// Node is one running shoal node.
type Node struct {
	cfg      Config
	version  string
	log      *slog.Logger
	store    *cache.Store
	upstream *upstream.Client
	names    repository.Resolver
	metrics  *metrics
	// p2p is nil when the node runs alone (no p2p listen address).
	p2p        *p2p.Host
	advertiser atomic.Pointer[p2p.Advertiser]
	// fleet is p2p for the store's callbacks, which may run before the
	// node has joined the fleet.
	fleet atomic.Pointer[p2p.Host]

	access *access.Control
	puller *pull.Puller
	// ungated is the content source the node's own readers use;
	// registry serves clients through the gates.
	ungated  pull.Source
	registry *registry.Registry
	scans    *scanning.Service
	ingest   *ingest.Service
	// signatures is the signature gate, whose last checks the page shows.
	signatures *gate.Signatures

	handler http.Handler

	traffic         *traffic.History
	pulls           *traffic.Pulls
	trafficInterval time.Duration
	stopTraffic     chan struct{}
}

// New opens the node's store and prepares its endpoints. It does not
// listen yet: Serve does.
func New(cfg Config, version string) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.DataDir == "" {
		return nil, errors.New("a data directory is required")
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	n := &Node{cfg: cfg, version: version, log: cfg.Logger}
	if err := n.open(); err != nil {
		n.Close()
		return nil, err
	}
	n.trafficInterval = cfg.trafficEvery
	if n.trafficInterval <= 0 {
		n.trafficInterval = trafficEvery
	}
	n.traffic, n.stopTraffic = traffic.NewHistory(trafficSamples), make(chan struct{})
	n.pulls = traffic.NewPulls(recentPulls)
	go n.traffic.Run(n.stopTraffic, n.trafficInterval, n.trafficTotals)
	return n, nil
}

// The traffic history (/shoal/v1/status's traffic, the page's chart): the
// last hour, a sample a minute.
const (
	trafficEvery   = time.Minute
	trafficSamples = 60
)

func (n *Node) open() error {
	cfg := n.cfg
	up, err := upstream.New(upstream.Options{Rules: cfg.Upstreams, Logger: cfg.Logger.With("component", "upstream"), UserAgent: "shoal/" + n.version})
	if err != nil {
		return err
	}
	n.upstream = up
	if cfg.DefaultUpstream != "" {
		if _, ok := up.Rule(cfg.DefaultUpstream); !ok {
			return fmt.Errorf("default upstream %s: no upstream rule has that name", cfg.DefaultUpstream)
		}
	}
	// A key pair that does not load is refused before the data dir is
	// touched.
	if err := access.CheckKeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
		return err
	}
	wasOpen, err := privateDataDir(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("making the data dir private: %w", err)
	}
	from, err := datadir.Prepare(cfg.DataDir)
	if err != nil {
		return err
	}
	if from < datadir.Current {
		n.log.Info("upgraded the data dir's format", "data_dir", cfg.DataDir, "from", from, "to", datadir.Current)
	}
	store, err := cache.Open(filepath.Join(cfg.DataDir, "store"), cache.Options{
		MaxBytes:      cfg.CacheMaxBytes,
		HighWatermark: cfg.CacheHighWatermark,
		LowWatermark:  cfg.CacheLowWatermark,
		Logger:        cfg.Logger.With("component", "cache"),
		OnAdd: func(d digest.Digest, _ int64) {
			if a := n.advertiser.Load(); a != nil {
				a.Add(d)
			}
			if h := n.fleet.Load(); h != nil {
				h.FactsChanged()
			}
		},
		OnEvict: func(d digest.Digest) {
			if a := n.advertiser.Load(); a != nil {
				a.Remove(d)
			}
			if h := n.fleet.Load(); h != nil {
				h.FactsChanged()
			}
		},
		EncryptionKey: cfg.EncryptionKey,
		// Piece digests serve peers: hash them as blobs arrive only
		// while there are peers to serve.
		PiecesOnWrite: func() bool { return n.peerCount() > 0 },
	})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	n.store = store
	if wasOpen {
		if err := privateModes(cfg.DataDir); err != nil {
			return fmt.Errorf("making the data dir private: %w", err)
		}
		n.log.Warn("the data dir was readable by other users; made it 0700 and what it holds 0600", "data_dir", cfg.DataDir)
	}
	n.names = repository.Resolver{HasRule: n.hasRule, Default: cfg.DefaultUpstream, IsLocal: store.IsLocal}
	n.metrics = newMetrics(store.Usage, store.Uploads, cfg.CacheMaxBytes, store, n.peerCount)

	n.access, err = access.Open(access.Config{
		DataDir: cfg.DataDir, Roots: cfg.PolicyRoots, Policy: cfg.Policy, Network: cfg.PolicyNetwork,
		OpenNetwork: len(cfg.P2PListen) > 0 && cfg.SwarmKey == "",
		Grace:       cfg.PolicyGrace, Now: cfg.clock, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey,
		Resolve: n.names.Resolve,
		UpstreamHost: func(rule string) (string, bool) {
			r, ok := up.Rule(rule)
			if !ok {
				return "", false
			}
			return r.URL.Host, true
		},
		Metrics: n.metrics.registry,
		Logger:  cfg.Logger,
	})
	if err != nil {
		return err
	}
	if len(cfg.P2PListen) > 0 {
		if err := n.joinFleet(); err != nil {
			return err
		}
	}
	return n.composeContent()
}

// composeContent builds what the node serves:
//
//	clients:        registry → Scans → Signatures → Offline → Puller
//	its own reads:  signature checks, scanning → Offline → Puller
//	peers:          Puller.ForPeer (p2p content protocol)
func (n *Node) composeContent() error {
	cfg := n.cfg
	var peers pull.Peers
	var downlink pull.Downlink
	if n.p2p != nil {
		peers, downlink = fleetPeers{n.p2p}, n.p2p
	}
	sv := storeView{n.store}
	var err error
	n.puller, err = pull.New(pull.Config{
		Store: sv, Peers: peers, Upstream: n.upstream,
		UpstreamAllowed:  n.access.UpstreamAllowed,
		TagTTL:           cfg.TagTTL,
		PeerTags:         cfg.P2PTags,
		MaxManifestBytes: cfg.MaxManifestBytes,
		ManifestStored:   n.manifestStored,
		Downlink:         downlink,
		Metrics:          n.metrics.registry,
		Logger:           cfg.Logger.With("component", "pull"),
	})
	if err != nil {
		return err
	}
	// Imports and database imports spool here (files unlinked at once).
	scratch := filepath.Join(cfg.DataDir, "import")
	n.ungated = gate.Offline{Next: n.puller, Store: sv, Remote: n.puller.Remote, Expired: n.access.Offline}

	scfg := scanning.Config{
		DataDir: cfg.DataDir, TempDir: scratch, Store: n.store, Content: n.ungated, Names: n.names,
		Policy: n.access.Current, Now: n.access.Now, OnPull: cfg.ScanOnPull, Version: n.version,
		MayPull: n.access.MayPull,
		Metrics: n.metrics.registry, Logger: cfg.Logger.With("component", "scan"),
	}
	if n.p2p != nil {
		scfg.Key, scfg.Fleet = n.p2p.PrivKey(), n.p2p
	}
	if n.scans, err = scanning.Open(scfg); err != nil {
		return err
	}

	rules := func(repo string) []policy.SignatureRule { return n.access.Current().SignatureRules(repo) }
	sigs, err := gate.NewSignatures(n.ungated, n.ungated, rules, n.metrics.registry, cfg.Logger)
	if err != nil {
		return err
	}
	n.signatures = sigs
	served := gate.Scans{Source: sigs, Gates: n.scans.Gates, Reports: n.scans, Now: n.access.Now, Log: cfg.Logger}
	n.registry = &registry.Registry{Names: n.names, Content: served, Store: n.store, ManifestStored: n.manifestStored}
	n.ingest = ingest.New(ingest.Config{
		Store: n.store, Source: n.registry, Names: n.names,
		TempDir: scratch, MaxManifestBytes: cfg.MaxManifestBytes,
		Logger: cfg.Logger.With("component", "ingest"),
	})
	n.handler = n.routes()
	return nil
}

// manifestStored passes a newly stored manifest on to scanning.
func (n *Node) manifestStored(repo repository.Name, d digest.Digest, info *oci.ManifestInfo) {
	if n.scans != nil {
		n.scans.ManifestStored(repo, d, info)
	}
}

func (n *Node) hasRule(name string) bool {
	_, ok := n.upstream.Rule(name)
	return ok
}

// Handler is the node's whole HTTP surface: the registry API and the
// admin endpoints.
func (n *Node) Handler() http.Handler { return n.handler }

// Serve answers on l until ctx ends, then stops taking requests, lets
// those in flight finish (up to the shutdown timeout) and closes the store.
func (n *Node) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           n.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if n.access.TLS() {
		stopWatch := n.access.WatchCerts()
		defer stopWatch()
		srv.TLSConfig = n.access.ServerTLSConfig()
		l = tls.NewListener(l, srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	n.log.Info("serving", "addr", l.Addr().String(), "tls", n.access.TLS(), "data_dir", n.cfg.DataDir)

	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		n.log.Info("shutting down: finishing requests in flight", "timeout", n.cfg.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, n.Close())
}

// ListenAndServe listens on the configured address and serves until ctx
// ends.
func (n *Node) ListenAndServe(ctx context.Context) error {
	l, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		n.Close()
		return err
	}
	return n.Serve(ctx, l)
}

// joinFleet starts the p2p host, serves content to peers and advertises
// what the store holds.
func (n *Node) joinFleet() error {
	cfg := p2p.Config{
		KeyFile:        filepath.Join(n.cfg.DataDir, "peer.key"),
		Listen:         n.cfg.P2PListen,
		Bootstrap:      n.cfg.Bootstrap,
		MDNS:           n.cfg.MDNS,
		SwarmKey:       n.cfg.SwarmKey,
		Version:        n.version,
		Logger:         n.log.With("component", "p2p"),
		OnPenalty:      func(peer.ID) { n.metrics.penalties.Inc() },
		OnRelayedPiece: n.metrics.relayed.Inc,
	}
	if n.cfg.BootstrapDNS != "" {
		cfg.Discover = n.dnsPeers(n.cfg.BootstrapDNS)
	}
	h, err := p2p.New(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("joining the fleet: %w", err)
	}
	n.p2p = h
	if err := n.access.JoinFleet(h); err != nil {
		return fmt.Errorf("joining the fleet: %w", err)
	}
	// The node's store size and version, for the fleet's operators.
	if err := h.ExchangeFacts(n.facts); err != nil {
		return fmt.Errorf("joining the fleet: %w", err)
	}
	n.fleet.Store(h)
	h.ServeContent(peerContent{n}, func(b int64) {
		n.metrics.servedBytes.WithLabelValues("peer").Add(float64(b))
	})
	n.advertiser.Store(h.Advertise(func(fn func(digest.Digest) bool) error {
		return n.store.Blobs(func(d digest.Digest, _ int64) bool { return fn(d) })
	}))
	n.log.Info("joined the fleet", "peer_id", h.ID(), "p2p_addrs", h.Addrs())
	return nil
}

// facts are what the node tells the fleet about itself.
func (n *Node) facts() p2p.NodeFacts {
	bytes, blobs := n.store.Usage()
	return p2p.NodeFacts{Version: n.version, StoreBytes: bytes, Blobs: blobs}
}

func (n *Node) peerCount() int {
	if n.p2p == nil {
		return 0
	}
	return n.p2p.Peers()
}

// Close leaves the fleet and releases the store.
func (n *Node) Close() error {
	var errs []error
	if n.stopTraffic != nil {
		close(n.stopTraffic)
		n.stopTraffic = nil
	}
	if n.access != nil {
		n.access.Close()
	}
	if n.scans != nil {
		n.scans.Close()
	}
	if a := n.advertiser.Swap(nil); a != nil {
		a.Close()
	}
	n.fleet.Store(nil)
	if n.p2p != nil {
		errs = append(errs, n.p2p.Close())
		n.p2p = nil
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
		n.store = nil
	}
	return errors.Join(errs...)
}

// URLScheme is the scheme clients use to reach the node.
func (n *Node) URLScheme() string {
	if n.cfg.TLSCert != "" {
		return "https"
	}
	return "http"
}
