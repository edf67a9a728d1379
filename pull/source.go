// Package pull is where content comes from: the store, then peers, then
// upstream. It resolves tags (trusting a resolved digest for the tag TTL,
// revalidating with upstream after it, serving the last known digest
// with a warning when upstream cannot answer, asking peers when it has
// nothing), fetches manifests and blobs once for all concurrent callers,
// and serves peers what the fleet asks of this node.
//
// It knows nothing of policies, signatures or scans: those are gates
// (package gate) composed around a Source. Its seams are the interfaces
// it defines — Store, Peers, Upstream — so its rules are tested against
// in-memory fakes.
package pull

import (
	"context"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

// Source is content by repository: what the registry serves and what the
// node's own readers (signature checks, scanning, preload) read. Errors a
// client should see are *oci.Error values; a not-found answer also
// matches ErrNotFound.
type Source interface {
	// Manifest resolves ref (a tag or a digest) in repo.
	Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error)
	StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error)
	Blob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error)
	// Tags lists repo's tags, sorted.
	Tags(ctx context.Context, repo repository.Name) ([]string, error)
	// Referrers lists the manifests in repo whose subject is d.
	Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error)
}

// Timeouts of the pull path.
const (
	// UpstreamTimeout bounds one shared manifest, tag or referrers fetch.
	// Blob bodies are not bounded by it: the store aborts those when they
	// stall.
	UpstreamTimeout = 60 * time.Second
	// FindTimeout bounds the lookup of a blob's holders; past it the node
	// goes on as if no peer had it.
	FindTimeout = 2 * time.Second
	// PeerTagTimeout bounds asking peers for a tag.
	PeerTagTimeout = 3 * time.Second
)

// Config is what a Puller is made of.
type Config struct {
	Store Store
	// Peers is nil when the node runs alone.
	Peers    Peers
	Upstream Upstream
	// UpstreamAllowed is asked before every upstream call through a rule;
	// an error refuses the call (the access policy's allow-list, its
	// expiry). Nil allows everything.
	UpstreamAllowed func(rule string) error
	// TagTTL is how long a resolved tag is trusted without asking
	// upstream again.
	TagTTL time.Duration
	// PeerTags lets a mirrored tag be resolved through peers when
	// upstream cannot be reached. Tags of local repositories another node
	// holds always come from peers.
	PeerTags bool
	// MaxManifestBytes bounds a manifest taken from a peer.
	MaxManifestBytes int64
	// ManifestStored is told of every manifest the puller stores for the
	// first time (scan on pull listens). May be nil.
	ManifestStored func(repo repository.Name, d digest.Digest, info *oci.ManifestInfo)
	// Downlink, when set, is told of each blob body read from upstream
	// (p2p's intake). May be nil.
	Downlink Downlink
	// Metrics are registered here; nil for none.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// Puller is the store-then-peers-then-upstream Source.
type Puller struct {
	cfg     Config
	log     *slog.Logger
	flight  singleflight.Group
	metrics *metrics
	// tagPeers are the peers known to hold a repository's content.
	tagPeers tagPeers
}

var _ Source = (*Puller)(nil)

// New makes a Puller.
func New(cfg Config) (*Puller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxManifestBytes <= 0 {
		cfg.MaxManifestBytes = oci.DefaultMaxManifestBytes
	}
	if cfg.UpstreamAllowed == nil {
		cfg.UpstreamAllowed = func(string) error { return nil }
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	if cfg.Upstream != nil {
		cfg.Upstream = countedUpstream{Upstream: cfg.Upstream, errors: m.upstreamErrors}
	}
	return &Puller{cfg: cfg, log: cfg.Logger, metrics: m}, nil
}

// Remote says whether reads of repo may leave this node: it is mirrored,
// or it is a local repository never pushed here that another node of
// the fleet may hold.
func (p *Puller) Remote(repo repository.Name) bool {
	return repo.Mirrored() || p.fromFleet(repo)
}

func (p *Puller) fromFleet(repo repository.Name) bool {
	return p.cfg.Peers != nil && !repo.Mirrored() && !p.cfg.Store.IsLocal(repo.Key())
}

// detached is ctx without its cancellation, bounded by UpstreamTimeout:
// a fetch shared by several callers must not end when the first goes.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), UpstreamTimeout)
}
