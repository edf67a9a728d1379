// Package oci serves the OCI distribution API over HTTP. It knows the
// protocol — routes, names, references, ranges, uploads, errors — and
// nothing about where content lives: it asks a Registry, which the node
// implements on top of the store, the fleet and the upstream registries.
package oci

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Repo names a repository the way the client addressed it.
type Repo struct {
	// Name is the path between /v2/ and /manifests|/blobs|/tags|/referrers,
	// already checked against the OCI name grammar.
	Name string
	// NS is the ?ns= query parameter containerd sends for a mirror, or "".
	NS string
}

// Manifest is a manifest as stored and served: the exact bytes, the media
// type they were pushed or fetched with, and their digest.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Bytes     []byte
	// Warning, when set, is sent to the client as a Warning header: the
	// manifest was resolved from a tag that could not be revalidated.
	Warning string
}

// Blob is blob content ready to serve.
type Blob struct {
	Size int64
	// Content reads the blob. It is an *os.File when the blob is complete in
	// the store, so net/http sends it with sendfile. While the blob is still
	// arriving, reads block until the bytes are there; a Read that fails means
	// the blob could not be completed or verified and the response is aborted.
	Content io.ReadSeeker
	// Close releases Content. Never nil.
	Close func() error
}

// Registry is the content a node serves. Reference strings, digests and
// names reaching it are already validated. Methods return *Error values
// (ErrManifestUnknown.With(...) and friends) for protocol errors; any other
// error becomes a 500.
type Registry interface {
	// GetManifest resolves ref (a tag or a digest) in repo.
	GetManifest(ctx context.Context, repo Repo, ref string) (*Manifest, error)
	// PutManifest stores m under its digest in repo and points tags at it.
	// info is what the handler parsed out of m.Bytes.
	PutManifest(ctx context.Context, repo Repo, tags []string, m *Manifest, info *ManifestInfo) error
	DeleteManifest(ctx context.Context, repo Repo, d digest.Digest) error
	DeleteTag(ctx context.Context, repo Repo, tag string) error
	// Tags lists repo's tags, sorted in lexical order.
	Tags(ctx context.Context, repo Repo) ([]string, error)
	// Referrers lists the manifests in repo whose subject is d.
	Referrers(ctx context.Context, repo Repo, d digest.Digest) ([]ocispec.Descriptor, error)
	// Catalog lists repositories, sorted.
	Catalog(ctx context.Context) ([]string, error)

	// StatBlob reports the size of blob d in repo.
	StatBlob(ctx context.Context, repo Repo, d digest.Digest) (int64, error)
	GetBlob(ctx context.Context, repo Repo, d digest.Digest) (*Blob, error)
	DeleteBlob(ctx context.Context, repo Repo, d digest.Digest) error

	Uploads
}

// Uploads is the blob upload side of a Registry. An upload is identified by
// an opaque id that is safe to put in a URL path.
type Uploads interface {
	StartUpload(ctx context.Context, repo Repo) (id string, err error)
	// UploadSize is how many bytes the upload holds.
	UploadSize(ctx context.Context, repo Repo, id string) (int64, error)
	// WriteUpload appends r to the upload. offset is where the chunk claims
	// to start, or -1 for a streamed chunk that simply appends; a chunk that
	// does not start at the current size fails with ErrRangeInvalid.
	// It returns the upload's new size.
	WriteUpload(ctx context.Context, repo Repo, id string, offset int64, r io.Reader) (int64, error)
	// CommitUpload checks that the upload's content has digest d, stores it
	// as a blob of repo and ends the upload.
	CommitUpload(ctx context.Context, repo Repo, id string, d digest.Digest) error
	CancelUpload(ctx context.Context, repo Repo, id string) error
	// MountBlob makes blob d of repo from available in repo. It fails with
	// ErrBlobUnknown when from does not hold d. from.Name is empty for an
	// anonymous mount (no from parameter): the Registry may take d from any
	// repository the client could read, or refuse. On any failure the
	// handler starts an upload instead.
	MountBlob(ctx context.Context, repo Repo, from Repo, d digest.Digest) error
}
