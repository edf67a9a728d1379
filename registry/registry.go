// Package registry is the node's oci.Registry: it turns the client's
// repository names into repositories once (repository.Resolver), answers
// reads from a content source (pull.Source, gated by the node's wiring),
// and writes pushes, uploads and deletes of local repositories into the
// store. Mirrored repositories are read-only.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
)

// Store is what the registry writes local repositories into
// (cache.Store). Not-found answers match cache.ErrNotFound.
type Store interface {
	PutManifest(repo string, local bool, rec cache.ManifestRecord, body []byte, tags ...string) error
	DeleteManifest(repo string, d digest.Digest) error
	DeleteTag(repo, tag string) error
	LinkBlob(repo string, local bool, d digest.Digest) error
	BlobLinked(repo string, d digest.Digest) bool
	UnlinkBlob(repo string, d digest.Digest) error
	Repos() ([]string, error)

	NewUpload(repo string) (string, error)
	UploadSize(repo, id string) (int64, error)
	WriteUpload(repo, id string, offset int64, r io.Reader) (int64, error)
	CommitUpload(repo, id string, d digest.Digest) (int64, error)
	CancelUpload(repo, id string) error
}

// Registry is the node's oci.Registry.
type Registry struct {
	Names   repository.Resolver
	Content pull.Source
	Store   Store
	// ManifestStored is told of every manifest pushed (scan on push
	// listens). May be nil.
	ManifestStored func(repo repository.Name, d digest.Digest, info *oci.ManifestInfo)
}

var _ oci.Registry = (*Registry)(nil)

func (g *Registry) read(repo oci.Repo) (repository.Name, error) { return g.Names.Resolve(repo, false) }

// local is repo as a target of writes, refusing mirrored namespaces.
func (g *Registry) local(repo oci.Repo) (repository.Name, error) {
	r, err := g.Names.Resolve(repo, true)
	if err != nil {
		return r, err
	}
	if r.Mirrored() {
		return r, errMirrorReadOnly(r)
	}
	return r, nil
}

// errMirrorReadOnly is the answer to a write into a mirrored namespace.
func errMirrorReadOnly(r repository.Name) error {
	return oci.ErrUnsupported.WithMessage("repository %s is mirrored from upstream %s and cannot be written", r.Path, r.Rule)
}

func (g *Registry) GetManifest(ctx context.Context, repo oci.Repo, ref string) (*oci.Manifest, error) {
	r, err := g.read(repo)
	if err != nil {
		return nil, err
	}
	return g.Content.Manifest(ctx, r, ref)
}

func (g *Registry) PutManifest(ctx context.Context, repo oci.Repo, tags []string, m *oci.Manifest, info *oci.ManifestInfo) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	if err := g.Store.PutManifest(r.Key(), true, cache.RecordFor(m.Digest, int64(len(m.Bytes)), info), m.Bytes, tags...); err != nil {
		return err
	}
	if g.ManifestStored != nil {
		g.ManifestStored(r, m.Digest, info)
	}
	return nil
}

func (g *Registry) DeleteManifest(ctx context.Context, repo oci.Repo, d digest.Digest) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	return storeErr(g.Store.DeleteManifest(r.Key(), d), oci.ErrManifestUnknown.With(map[string]string{"digest": d.String()}))
}

func (g *Registry) DeleteTag(ctx context.Context, repo oci.Repo, tag string) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	return storeErr(g.Store.DeleteTag(r.Key(), tag), oci.ErrManifestUnknown.With(map[string]string{"tag": tag}))
}

func (g *Registry) Tags(ctx context.Context, repo oci.Repo) ([]string, error) {
	r, err := g.read(repo)
	if err != nil {
		return nil, err
	}
	return g.Content.Tags(ctx, r)
}

func (g *Registry) Referrers(ctx context.Context, repo oci.Repo, d digest.Digest) ([]ocispec.Descriptor, error) {
	r, err := g.read(repo)
	if err != nil {
		return nil, err
	}
	return g.Content.Referrers(ctx, r, d)
}

func (g *Registry) Catalog(ctx context.Context) ([]string, error) { return g.Store.Repos() }

func (g *Registry) StatBlob(ctx context.Context, repo oci.Repo, d digest.Digest) (int64, error) {
	r, err := g.read(repo)
	if err != nil {
		return 0, err
	}
	return g.Content.StatBlob(ctx, r, d)
}

func (g *Registry) GetBlob(ctx context.Context, repo oci.Repo, d digest.Digest) (*oci.Blob, error) {
	r, err := g.read(repo)
	if err != nil {
		return nil, err
	}
	return g.Content.Blob(ctx, r, d)
}

func (g *Registry) DeleteBlob(ctx context.Context, repo oci.Repo, d digest.Digest) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	return storeErr(g.Store.UnlinkBlob(r.Key(), d), blobUnknown(d))
}

func (g *Registry) StartUpload(ctx context.Context, repo oci.Repo) (string, error) {
	r, err := g.local(repo)
	if err != nil {
		return "", err
	}
	id, err := g.Store.NewUpload(r.Key())
	if errors.Is(err, cache.ErrTooManyUploads) {
		return "", oci.ErrTooManyRequests.WithMessage("%v", err)
	}
	return id, uploadErr(err)
}

func (g *Registry) UploadSize(ctx context.Context, repo oci.Repo, id string) (int64, error) {
	r, err := g.local(repo)
	if err != nil {
		return 0, err
	}
	size, err := g.Store.UploadSize(r.Key(), id)
	return size, uploadErr(err)
}

func (g *Registry) WriteUpload(ctx context.Context, repo oci.Repo, id string, offset int64, body io.Reader) (int64, error) {
	r, err := g.local(repo)
	if err != nil {
		return 0, err
	}
	size, err := g.Store.WriteUpload(r.Key(), id, offset, body)
	return size, uploadErr(err)
}

func (g *Registry) CommitUpload(ctx context.Context, repo oci.Repo, id string, d digest.Digest) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	_, err = g.Store.CommitUpload(r.Key(), id, d)
	return uploadErr(err)
}

func (g *Registry) CancelUpload(ctx context.Context, repo oci.Repo, id string) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	return uploadErr(g.Store.CancelUpload(r.Key(), id))
}

func (g *Registry) MountBlob(ctx context.Context, repo oci.Repo, from oci.Repo, d digest.Digest) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	src, err := g.read(from)
	if err != nil {
		return err
	}
	if src.Mirrored() || !g.Store.BlobLinked(src.Key(), d) {
		return blobUnknown(d)
	}
	return storeErr(g.Store.LinkBlob(r.Key(), true, d), blobUnknown(d))
}

func blobUnknown(d digest.Digest) error {
	return oci.ErrBlobUnknown.With(map[string]string{"digest": d.String()})
}

// storeErr turns the store's not-found into notFound and passes other
// errors on.
func storeErr(err error, notFound error) error {
	if errors.Is(err, cache.ErrNotFound) {
		return notFound
	}
	return err
}

func uploadErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cache.ErrUploadUnknown), errors.Is(err, cache.ErrNotFound):
		return oci.ErrBlobUploadUnknown
	case errors.Is(err, cache.ErrUploadOffset):
		return oci.ErrRangeInvalid.With(err.Error())
	case errors.Is(err, cache.ErrDigestMismatch):
		return oci.ErrDigestInvalid.With(err.Error())
	case errors.Is(err, cache.ErrSizeMismatch):
		return oci.ErrSizeInvalid.With(err.Error())
	case errors.Is(err, cache.ErrStoreFull):
		// DENIED, as Harbor answers a push past its quota: clients stop
		// and show the message, where a 429 or a 5xx (507 is no OCI
		// code) would have them retry a push that cannot fit until
		// someone makes room.
		return oci.ErrDenied.WithMessage("store full: the node's size limit is taken by content it cannot evict; finish or cancel uploads, or delete pushed content").With(err.Error())
	}
	return fmt.Errorf("upload: %w", err)
}
