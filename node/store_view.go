package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
)

// storeView is the store as the pull path and the gates see it: fetched
// content is never local, blobs are served as oci.Blob, and the store's
// errors become pull's.
type storeView struct{ s *cache.Store }

var _ pull.Store = storeView{}

func pullErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cache.ErrNotFound):
		return fmt.Errorf("%w: %w", pull.ErrNotFound, err)
	case errors.Is(err, cache.ErrDigestMismatch):
		return fmt.Errorf("%w: %w", pull.ErrDigestMismatch, err)
	case errors.Is(err, cache.ErrCannotWrite):
		return fmt.Errorf("%w: %w", pull.ErrCannotStore, err)
	}
	return err
}

func ociBlob(r *cache.Reader) *oci.Blob {
	return &oci.Blob{Size: r.Size, Content: r.Content, Close: r.Close}
}

func (v storeView) Manifest(repo string, d digest.Digest) (*oci.Manifest, error) {
	rec, body, err := v.s.GetManifest(repo, d)
	if err != nil {
		return nil, pullErr(err)
	}
	return &oci.Manifest{Digest: rec.Digest, MediaType: rec.MediaType, Bytes: body}, nil
}

func (v storeView) PutManifest(repo string, m *oci.Manifest, info *oci.ManifestInfo) error {
	return pullErr(v.s.PutManifest(repo, false, cache.RecordFor(m.Digest, int64(len(m.Bytes)), info), m.Bytes))
}

func (v storeView) Tag(repo, tag string) (digest.Digest, time.Time, error) {
	d, checked, err := v.s.Tag(repo, tag)
	return d, checked, pullErr(err)
}

func (v storeView) SetTag(repo, tag string, d digest.Digest, checked time.Time) error {
	return pullErr(v.s.SetTag(repo, false, tag, d, checked))
}

func (v storeView) Tags(repo string) ([]string, error) {
	tags, err := v.s.Tags(repo)
	return tags, pullErr(err)
}

func (v storeView) Referrers(repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	descs, err := v.s.Referrers(repo, subject)
	return descs, pullErr(err)
}

func (v storeView) PutReferrers(repo string, subject digest.Digest, descs []ocispec.Descriptor) error {
	return pullErr(v.s.PutReferrers(repo, subject, descs))
}

func (v storeView) IsLocal(repo string) bool { return v.s.IsLocal(repo) }

func (v storeView) BlobLinked(repo string, d digest.Digest) bool { return v.s.BlobLinked(repo, d) }

func (v storeView) Holds(repo string, d digest.Digest) bool { return v.s.Holds(repo, d) }

func (v storeView) LinkBlob(repo string, d digest.Digest) error {
	return pullErr(v.s.LinkBlob(repo, false, d))
}

func (v storeView) StatBlob(d digest.Digest) (int64, error) {
	size, err := v.s.StatBlob(d)
	return size, pullErr(err)
}

func (v storeView) OpenBlob(d digest.Digest) (*oci.Blob, error) {
	r, err := v.s.OpenBlob(d)
	if err != nil {
		return nil, pullErr(err)
	}
	return ociBlob(r), nil
}

func (v storeView) Follow(ctx context.Context, d digest.Digest) (*oci.Blob, bool, error) {
	r, err := v.s.Follow(ctx, d)
	if err != nil {
		return nil, false, pullErr(err)
	}
	return ociBlob(r), r.Complete(), nil
}

func (v storeView) Fetch(ctx context.Context, d digest.Digest, src pull.BlobSource) (*oci.Blob, bool, error) {
	r, err := v.s.Fetch(ctx, d, cache.Source(src))
	if err != nil {
		return nil, false, pullErr(err)
	}
	return ociBlob(r), r.Complete(), nil
}
