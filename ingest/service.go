// Package ingest brings images into a node on an operator's request:
// POST /shoal/v1/import stores the images of an archive (package archive
// reads it) as local content, all or nothing; POST /shoal/v1/preload
// pulls refs through the node's own registry, as a client's pull would,
// so that caching, coalescing and peers apply. Both answer with a stream
// of JSON lines (adminapi.ImageStreamLine).
package ingest

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

// Store is what importing writes (cache.Store).
type Store interface {
	StatBlob(d digest.Digest) (int64, error)
	PutBlob(d digest.Digest, r io.Reader) (int64, error)
	LinkBlob(repo string, local bool, d digest.Digest) error
	BlobLinked(repo string, d digest.Digest) bool
	UnlinkBlob(repo string, d digest.Digest) error
	GetManifest(repo string, d digest.Digest) (cache.ManifestRecord, []byte, error)
	PutManifest(repo string, local bool, rec cache.ManifestRecord, body []byte, tags ...string) error
	DeleteManifest(repo string, d digest.Digest) error
	Tag(repo, tag string) (digest.Digest, time.Time, error)
	SetTag(repo string, local bool, tag string, d digest.Digest, checked time.Time) error
	DeleteTag(repo, tag string) error
}

// Source is what preloading reads through: the node's registry, gates
// and all, as a client would see it.
type Source interface {
	GetManifest(ctx context.Context, repo oci.Repo, ref string) (*oci.Manifest, error)
	GetBlob(ctx context.Context, repo oci.Repo, d digest.Digest) (*oci.Blob, error)
}

// Config is what the service is made of.
type Config struct {
	Store  Store
	Source Source
	// Names maps image names to repositories the way the node maps a
	// client's requests.
	Names repository.Resolver
	// TempDir holds spooled archives and recompressed layers (files are
	// unlinked as soon as they are created).
	TempDir          string
	MaxManifestBytes int64
	Logger           *slog.Logger
}

// Service imports and preloads images.
type Service struct {
	cfg   Config
	store Store
	log   *slog.Logger
}

// New makes the service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxManifestBytes <= 0 {
		cfg.MaxManifestBytes = oci.DefaultMaxManifestBytes
	}
	return &Service{cfg: cfg, store: cfg.Store, log: cfg.Logger}
}
