package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
)

// registry is the node's oci.Registry: local repositories straight from
// the store, mirrored ones through mirror.go.
type registry struct{ n *Node }

var _ oci.Registry = registry{}

func (g registry) GetManifest(ctx context.Context, repo oci.Repo, ref string) (m *oci.Manifest, err error) {
	r, err := g.n.repository(repo, false)
	if err != nil {
		return nil, err
	}
	// Images a scan gate refuses are not served (checked after the
	// signature: deferred calls run last first).
	defer func() { m, err = g.n.scanGate(ctx, r, ref, m, err) }()
	// Images in repositories whose policy rule requires signatures are
	// served only once a trusted signature is found.
	defer func() { m, err = g.n.signatureGate(ctx, r, ref, m, err) }()
	if r.mirrored() || g.n.fromFleet(r) {
		if g.n.policyOffline() {
			return g.n.cachedManifest(r, ref)
		}
		return g.n.remoteManifest(ctx, r, ref)
	}
	d, err := digest.Parse(ref)
	if err != nil {
		d, _, err = g.n.store.Tag(r.key, ref)
		if err != nil {
			return nil, storeErr(err, oci.ErrManifestUnknown.With(map[string]string{"tag": ref}))
		}
	}
	return g.n.storedManifest(r, d)
}

// fromFleet says whether reads of local repository r go to the fleet:
// r was never pushed to this node, so another node may hold it.
func (n *Node) fromFleet(r repository) bool {
	return n.p2p != nil && !n.store.IsLocal(r.key)
}

// storedManifest reads manifest d of r from the store.
func (n *Node) storedManifest(r repository, d digest.Digest) (*oci.Manifest, error) {
	rec, body, err := n.store.GetManifest(r.key, d)
	if err != nil {
		return nil, storeErr(err, oci.ErrManifestUnknown.With(map[string]string{"digest": d.String()}))
	}
	return &oci.Manifest{Digest: rec.Digest, MediaType: rec.MediaType, Bytes: body}, nil
}

func (g registry) PutManifest(ctx context.Context, repo oci.Repo, tags []string, m *oci.Manifest, info *oci.ManifestInfo) error {
	r, err := g.n.repository(repo, true)
	if err != nil {
		return err
	}
	if r.mirrored() {
		return errMirrorReadOnly(r)
	}
	if err := g.n.store.PutManifest(r.key, true, manifestRecord(m.Digest, int64(len(m.Bytes)), info), m.Bytes, tags...); err != nil {
		return err
	}
	g.n.manifestStored(r, m.Digest, info)
	return nil
}

// manifestRecord is what the store keeps about a manifest.
func manifestRecord(d digest.Digest, size int64, info *oci.ManifestInfo) cache.ManifestRecord {
	rec := cache.ManifestRecord{
		Digest:       d,
		MediaType:    info.MediaType,
		Size:         size,
		ArtifactType: info.ArtifactType,
		Annotations:  info.Annotations,
		Subject:      info.Subject,
	}
	for _, b := range info.Blobs {
		rec.Blobs = append(rec.Blobs, b.Digest)
	}
	for _, c := range info.Manifests {
		rec.Children = append(rec.Children, c.Digest)
	}
	return rec
}

func (g registry) DeleteManifest(ctx context.Context, repo oci.Repo, d digest.Digest) error {
	r, err := g.n.repository(repo, true)
	if err != nil {
		return err
	}
	if r.mirrored() {
		return errMirrorReadOnly(r)
	}
	return storeErr(g.n.store.DeleteManifest(r.key, d), oci.ErrManifestUnknown.With(map[string]string{"digest": d.String()}))
}

func (g registry) DeleteTag(ctx context.Context, repo oci.Repo, tag string) error {
	r, err := g.n.repository(repo, true)
	if err != nil {
		return err
	}
	if r.mirrored() {
		return errMirrorReadOnly(r)
	}
	return storeErr(g.n.store.DeleteTag(r.key, tag), oci.ErrManifestUnknown.With(map[string]string{"tag": tag}))
}

func (g registry) Tags(ctx context.Context, repo oci.Repo) ([]string, error) {
	r, err := g.n.repository(repo, false)
	if err != nil {
		return nil, err
	}
	if r.mirrored() {
		if g.n.policyOffline() {
			return g.n.cachedTags(r)
		}
		return g.n.mirrorTags(ctx, r)
	}
	tags, err := g.n.store.Tags(r.key)
	return tags, storeErr(err, oci.ErrNameUnknown.With(map[string]string{"name": repo.Name}))
}

func (g registry) Referrers(ctx context.Context, repo oci.Repo, d digest.Digest) ([]ocispec.Descriptor, error) {
	r, err := g.n.repository(repo, false)
	if err != nil {
		return nil, err
	}
	if r.mirrored() {
		if g.n.policyOffline() {
			return g.n.cachedReferrers(r, d)
		}
		return g.n.mirrorReferrers(ctx, r, d)
	}
	return g.n.store.Referrers(r.key, d)
}

func (g registry) Catalog(ctx context.Context) ([]string, error) { return g.n.store.Repos() }

func (g registry) StatBlob(ctx context.Context, repo oci.Repo, d digest.Digest) (int64, error) {
	r, err := g.n.repository(repo, false)
	if err != nil {
		return 0, err
	}
	if r.mirrored() || g.n.fromFleet(r) {
		if g.n.policyOffline() {
			return g.n.cachedStatBlob(d)
		}
		return g.n.remoteStatBlob(ctx, r, d)
	}
	if !g.n.store.BlobLinked(r.key, d) {
		return 0, blobUnknown(d)
	}
	size, err := g.n.store.StatBlob(d)
	return size, storeErr(err, blobUnknown(d))
}

func (g registry) GetBlob(ctx context.Context, repo oci.Repo, d digest.Digest) (*oci.Blob, error) {
	r, err := g.n.repository(repo, false)
	if err != nil {
		return nil, err
	}
	if r.mirrored() || g.n.fromFleet(r) {
		if g.n.policyOffline() {
			return g.n.cachedBlob(d)
		}
		return g.n.remoteBlob(ctx, r, d)
	}
	if !g.n.store.BlobLinked(r.key, d) {
		return nil, blobUnknown(d)
	}
	br, err := g.n.store.OpenBlob(d)
	if err != nil {
		return nil, storeErr(err, blobUnknown(d))
	}
	return blob(br), nil
}

func blob(br *cache.Reader) *oci.Blob {
	return &oci.Blob{Size: br.Size, Content: br.Content, Close: br.Close}
}

func (g registry) DeleteBlob(ctx context.Context, repo oci.Repo, d digest.Digest) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	return storeErr(g.n.store.UnlinkBlob(r.key, d), blobUnknown(d))
}

func (g registry) StartUpload(ctx context.Context, repo oci.Repo) (string, error) {
	r, err := g.local(repo)
	if err != nil {
		return "", err
	}
	return g.n.store.NewUpload(r.key)
}

func (g registry) UploadSize(ctx context.Context, repo oci.Repo, id string) (int64, error) {
	r, err := g.local(repo)
	if err != nil {
		return 0, err
	}
	size, err := g.n.store.UploadSize(r.key, id)
	return size, uploadErr(err)
}

func (g registry) WriteUpload(ctx context.Context, repo oci.Repo, id string, offset int64, body io.Reader) (int64, error) {
	r, err := g.local(repo)
	if err != nil {
		return 0, err
	}
	size, err := g.n.store.WriteUpload(r.key, id, offset, body)
	return size, uploadErr(err)
}

func (g registry) CommitUpload(ctx context.Context, repo oci.Repo, id string, d digest.Digest) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	_, err = g.n.store.CommitUpload(r.key, id, d)
	return uploadErr(err)
}

func (g registry) CancelUpload(ctx context.Context, repo oci.Repo, id string) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	return uploadErr(g.n.store.CancelUpload(r.key, id))
}

func (g registry) MountBlob(ctx context.Context, repo oci.Repo, from oci.Repo, d digest.Digest) error {
	r, err := g.local(repo)
	if err != nil {
		return err
	}
	src, err := g.n.repository(from, false)
	if err != nil {
		return err
	}
	if src.mirrored() || !g.n.store.BlobLinked(src.key, d) {
		return blobUnknown(d)
	}
	return storeErr(g.n.store.LinkBlob(r.key, true, d), blobUnknown(d))
}

// local is repo as a target of writes, refusing mirrored namespaces.
func (g registry) local(repo oci.Repo) (repository, error) {
	r, err := g.n.repository(repo, true)
	if err != nil {
		return r, err
	}
	if r.mirrored() {
		return r, errMirrorReadOnly(r)
	}
	return r, nil
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
	}
	return fmt.Errorf("upload: %w", err)
}
