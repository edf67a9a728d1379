package pull

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/repository"
)

// upstreamOps are the values of shoal_upstream_errors_total's op label.
var upstreamOps = []string{"resolve", "manifest", "stat", "blob", "tags", "referrers"}

// countedUpstream counts the upstream's failures in errors: everything
// but an answer that the content does not exist and a caller that went
// away, which are no fault of the upstream. A blob body that breaks
// after it was opened is not counted (the store's check fails it).
type countedUpstream struct {
	Upstream
	errors *prometheus.CounterVec
}

func (u countedUpstream) count(op string, err error) {
	if err == nil || errors.Is(err, upstream.ErrNotFound) || errors.Is(err, context.Canceled) {
		return
	}
	u.errors.WithLabelValues(op).Inc()
}

func (u countedUpstream) Resolve(ctx context.Context, repo repository.Name, tag string) (ocispec.Descriptor, error) {
	d, err := u.Upstream.Resolve(ctx, repo, tag)
	u.count("resolve", err)
	return d, err
}

func (u countedUpstream) Manifest(ctx context.Context, repo repository.Name, ref string) (string, []byte, digest.Digest, error) {
	mediaType, body, d, err := u.Upstream.Manifest(ctx, repo, ref)
	u.count("manifest", err)
	return mediaType, body, d, err
}

func (u countedUpstream) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	size, err := u.Upstream.StatBlob(ctx, repo, d)
	u.count("stat", err)
	return size, err
}

func (u countedUpstream) BlobFrom(ctx context.Context, repo repository.Name, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	body, size, err := u.Upstream.BlobFrom(ctx, repo, d, offset)
	u.count("blob", err)
	return body, size, err
}

func (u countedUpstream) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	tags, err := u.Upstream.Tags(ctx, repo)
	u.count("tags", err)
	return tags, err
}

func (u countedUpstream) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	descs, err := u.Upstream.Referrers(ctx, repo, d)
	u.count("referrers", err)
	return descs, err
}
