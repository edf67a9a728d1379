package pull

import (
	"context"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/repository"
)

// Upstream is the registries mirrored repositories come from
// (oci/upstream.Client). Errors are oci/upstream's: ErrNotFound,
// *UnavailableError (IsUnavailable), *StatusError.
type Upstream interface {
	Resolve(ctx context.Context, repo repository.Name, tag string) (ocispec.Descriptor, error)
	Manifest(ctx context.Context, repo repository.Name, ref string) (mediaType string, body []byte, d digest.Digest, err error)
	StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error)
	BlobFrom(ctx context.Context, repo repository.Name, d digest.Digest, offset int64) (body io.ReadCloser, size int64, err error)
	Tags(ctx context.Context, repo repository.Name) ([]string, error)
	Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error)
}
