// Package node wires the store, the upstream client and the OCI handlers
// into one running registry node.
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
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/p2p"
)

// Node is one running shoal node.
type Node struct {
	cfg      Config
	version  string
	log      *slog.Logger
	store    *cache.Store
	upstream *upstream.Client
	metrics  *metrics
	flight   singleflight.Group
	handler  http.Handler
	// p2p is nil when the node runs alone (no --p2p-listen).
	p2p        *p2p.Host
	advertiser atomic.Pointer[p2p.Advertiser]

	tagTTL          time.Duration
	defaultUpstream string

	pol    *nodePolicy  // policy.go
	tokens *tokenIssuer // token.go

	sigs signatureChecks // signatures.go

	certs *certReloader // tls.go; nil without TLS

	scans *scanState // scan.go
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
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	n := &Node{cfg: cfg, version: version, log: cfg.Logger, tagTTL: cfg.TagTTL}
	if err := n.loadTLS(); err != nil {
		return nil, err
	}

	up, err := newUpstreamClient(cfg, version)
	if err != nil {
		return nil, err
	}
	n.upstream = up
	if cfg.DefaultUpstream != "" {
		if _, ok := up.Rule(cfg.DefaultUpstream); !ok {
			return nil, fmt.Errorf("--default-upstream %s: no --upstream rule has that name", cfg.DefaultUpstream)
		}
		n.defaultUpstream = cfg.DefaultUpstream
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	var encryptionKey []byte
	if cfg.EncryptionKeyFile != "" {
		if encryptionKey, err = cache.ReadKeyFile(cfg.EncryptionKeyFile); err != nil {
			return nil, fmt.Errorf("--encryption-key: %w", err)
		}
	}
	store, err := cache.Open(filepath.Join(cfg.DataDir, "store"), cache.Options{
		MaxBytes: cfg.CacheMaxBytes,
		Logger:   cfg.Logger.With("component", "cache"),
		OnAdd: func(d digest.Digest, _ int64) {
			if a := n.advertiser.Load(); a != nil {
				a.Add(d)
			}
		},
		OnEvict: func(d digest.Digest) {
			if a := n.advertiser.Load(); a != nil {
				a.Remove(d)
			}
		},
		EncryptionKey: encryptionKey,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	n.store = store
	n.metrics = newMetrics(store.Usage, n.peerCount)
	if err := n.openPolicy(); err != nil {
		n.Close()
		return nil, err
	}
	if len(cfg.P2PListen) > 0 {
		if err := n.joinFleet(); err != nil {
			store.Close()
			return nil, err
		}
	}
	if err := n.openScanning(); err != nil {
		n.Close()
		return nil, err
	}

	mux := http.NewServeMux()
	n.adminRoutes(mux)
	n.policyRoutes(mux)
	n.scanRoutes(mux)
	mux.Handle("/v2/", oci.NewHandler(registry{n}, oci.HandlerOptions{
		Authorize:        n.authorize,
		FilterCatalog:    n.filterCatalog,
		MaxManifestBytes: cfg.MaxManifestBytes,
		Logger:           cfg.Logger.With("component", "oci"),
		Observe:          n.metrics.observe,
		BytesServed: func(b int64) {
			n.metrics.servedBytes.WithLabelValues("client").Add(float64(b))
		},
	}))
	n.handler = n.guardAdmin(mux)
	return n, nil
}

func newUpstreamClient(cfg Config, version string) (*upstream.Client, error) {
	rules, err := parseUpstreams(cfg.Upstreams)
	if err != nil {
		return nil, err
	}
	authFiles, err := parsePairs("--upstream-auth", cfg.UpstreamAuth)
	if err != nil {
		return nil, err
	}
	var fallback authn.Keychain
	if cfg.DockerConfig != "" {
		if _, err := os.Stat(cfg.DockerConfig); err == nil {
			if fallback, err = upstream.KeychainFromFile(cfg.DockerConfig); err != nil {
				return nil, fmt.Errorf("reading %s: %w", cfg.DockerConfig, err)
			}
		}
	}
	opts := upstream.Options{Logger: cfg.Logger.With("component", "upstream"), UserAgent: "shoal/" + version}
	for _, r := range rules {
		rule := upstream.Rule{Name: r.name, URL: r.url, Auth: fallback}
		if file, ok := authFiles[r.name]; ok {
			kc, err := upstream.KeychainFromFile(file)
			if err != nil {
				return nil, fmt.Errorf("--upstream-auth %s: %w", r.name, err)
			}
			rule.Auth = kc
			delete(authFiles, r.name)
		}
		opts.Rules = append(opts.Rules, rule)
	}
	for name := range authFiles {
		return nil, fmt.Errorf("--upstream-auth %s: no --upstream rule has that name", name)
	}
	return upstream.New(opts)
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
	if n.cfg.TLSCert != "" {
		stopWatch := n.certs.watch()
		defer stopWatch()
		srv.TLSConfig = n.withClientCerts(n.serverTLSConfig())
		l = tls.NewListener(l, srv.TLSConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	n.log.Info("serving", "addr", l.Addr().String(), "tls", n.cfg.TLSCert != "", "data_dir", n.cfg.DataDir)

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
		KeyFile:   filepath.Join(n.cfg.DataDir, "peer.key"),
		Listen:    n.cfg.P2PListen,
		Bootstrap: n.cfg.Bootstrap,
		MDNS:      n.cfg.MDNS,
		SwarmKey:  n.cfg.SwarmKey,
		Logger:    n.log.With("component", "p2p"),
		OnPenalty: func(peer.ID) { n.metrics.penalties.Inc() },
	}
	if n.cfg.BootstrapDNS != "" {
		cfg.Discover = n.dnsPeers(n.cfg.BootstrapDNS)
	}
	h, err := p2p.New(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("joining the fleet: %w", err)
	}
	n.p2p = h
	if err := n.startPolicyFleet(); err != nil {
		h.Close()
		n.p2p = nil
		return fmt.Errorf("joining the fleet: %w", err)
	}
	h.ServeContent(fleetContent{n}, func(b int64) {
		n.metrics.servedBytes.WithLabelValues("peer").Add(float64(b))
	})
	n.advertiser.Store(h.Advertise(func(fn func(digest.Digest) bool) error {
		return n.store.Blobs(func(d digest.Digest, _ int64) bool { return fn(d) })
	}))
	n.log.Info("joined the fleet", "peer_id", h.ID(), "p2p_addrs", h.Addrs())
	return nil
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
	n.closePolicy()
	n.closeScanning()
	if a := n.advertiser.Swap(nil); a != nil {
		a.Close()
	}
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
