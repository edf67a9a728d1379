package ingest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/archive"
	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/internal/tempfile"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

// maxIndexDepth is how deeply nested indexes preload follows.
const maxIndexDepth = 8

// importTarget is one place an imported image goes: a repository and a
// tag ("" to store it by digest only).
type importTarget struct {
	repo  repository.Name
	tag   string
	image *archive.Image
}

// HandleImport is POST /shoal/v1/import: it stores the images of an OCI image layout tar or a docker
// save tarball. The body is spooled to a file first, since both formats
// need random access; package archive reads it and says what to store.
// Problems with the request or the archive's metadata are answered as OCI
// errors; once blobs are being written the answer is a JSON-lines stream
// of progress ending in the images imported or an error. Tags are set
// only after every blob and manifest is stored; on any failure what this
// import recorded is removed again, so nothing half-imported stays
// tagged.
func (in *Service) HandleImport(w http.ResponseWriter, r *http.Request) {
	var override *repository.Reference
	if q := r.URL.Query().Get("repo"); q != "" {
		ref, err := repository.ParseReference(q)
		if err == nil && ref.Digest != "" {
			err = errors.New("?repo= takes NAME or NAME:TAG, not a digest")
		}
		if err == nil {
			_, err = in.cfg.Names.ForStore(ref.Name)
		}
		if err != nil {
			oci.WriteError(w, oci.ErrNameInvalid.WithMessage("repo %q: %v", q, err))
			return
		}
		override = &ref
	}

	spool, size, err := in.spoolImport(r.Body)
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	defer spool.Close()
	contents, err := archive.Read(spool, size, in.cfg.MaxManifestBytes)
	if err != nil {
		oci.WriteError(w, archiveError(err))
		return
	}
	targets, err := in.importTargets(contents, override)
	if err != nil {
		oci.WriteError(w, err)
		return
	}

	ctx := r.Context()
	start := time.Now()
	s := startImageStream(w)
	for _, warning := range contents.Warnings {
		s.send(warningLine{Warning: warning})
	}
	imported, err := in.runImport(ctx, s, contents, targets)
	if err != nil {
		in.log.Warn("import failed", "format", contents.Format, "err", err)
		s.send(errorLine{Error: err.Error()})
		return
	}
	in.log.Info("imported images", "format", contents.Format, "images", len(imported), "blobs", len(contents.Blobs), "duration", time.Since(start))
	s.send(importedLine{Imported: imported})
}

// spoolImport copies the request body to a temporary file, gunzipping it
// if it is gzip-compressed, and returns the file and its size.
func (in *Service) spoolImport(body io.Reader) (*os.File, int64, error) {
	f, err := tempfile.Unlinked(in.cfg.TempDir, "upload-*.tar")
	if err != nil {
		return nil, 0, fmt.Errorf("spooling the archive: %w", err)
	}
	br := bufio.NewReaderSize(body, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, 0, oci.ErrBlobUploadInvalid.WithMessage("the body looks gzip-compressed but is not: %v", err)
		}
		defer zr.Close()
		src = zr
	}
	rr := &readErrReader{r: src}
	copied, err := io.Copy(f, rr)
	switch {
	case rr.err != nil:
		f.Close()
		return nil, 0, oci.ErrBlobUploadInvalid.WithMessage("reading the archive: %v", rr.err)
	case err != nil:
		f.Close()
		return nil, 0, fmt.Errorf("spooling the archive: %w", err)
	case copied == 0:
		f.Close()
		return nil, 0, errArchiveUnsupported.WithMessage("the body is empty: send a tar of an OCI image layout or a docker save tarball")
	}
	return f, copied, nil
}

// readErrReader remembers a read error, to tell the client's failures
// from the node's.
type readErrReader struct {
	r   io.Reader
	err error
}

func (r *readErrReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// importTargets decides where each image of the archive goes. ?repo= (the
// override) replaces the names in the archive; a tag in it applies to the
// single image the archive holds. Otherwise each image goes where its own
// names say, mapped as a client's request would be.
func (in *Service) importTargets(contents *archive.Contents, override *repository.Reference) ([]importTarget, error) {
	if override != nil && override.Tag != "" && len(contents.Images) > 1 {
		return nil, oci.ErrNameInvalid.WithMessage("?repo=%s names one tag, but the archive holds %d images: give ?repo= a name without a tag", override, len(contents.Images))
	}
	// A place is a repository and tag; untagged images are told apart by
	// the image itself.
	type place struct {
		key, tag string
		img      *archive.Image
	}
	seen := map[place]*archive.Image{}
	var targets []importTarget
	add := func(img *archive.Image, name, tag string) error {
		repo, err := in.cfg.Names.ForStore(name)
		if err != nil {
			return oci.ErrNameInvalid.WithMessage("%s: %v", img.Label, err)
		}
		p := place{key: repo.Key(), tag: tag}
		if tag == "" {
			p.img = img
		}
		if other, ok := seen[p]; ok {
			if other == img || (other.Manifest != nil && img.Manifest != nil && other.Manifest.Digest == img.Manifest.Digest) {
				return nil
			}
			return oci.ErrNameInvalid.WithMessage("%s:%s is given to two different images (%s and %s)", repo.Key(), tag, other.Label, img.Label)
		}
		seen[p] = img
		targets = append(targets, importTarget{repo: repo, tag: tag, image: img})
		return nil
	}
	for _, img := range contents.Images {
		var refs []repository.Reference
		for _, s := range img.Refs {
			ref, err := repository.ParseReference(s)
			if err != nil {
				if override != nil {
					continue // the name is replaced anyway
				}
				return nil, oci.ErrNameInvalid.WithMessage("%s: the name %q in the archive is not an image reference (%v): pass ?repo=NAME", img.Label, s, err)
			}
			if ref.Tag == "" && ref.Digest == "" {
				ref.Tag = "latest"
			}
			refs = append(refs, ref)
		}
		if override != nil {
			var tags []string
			switch {
			case override.Tag != "":
				tags = []string{override.Tag}
			default:
				for _, ref := range refs {
					if ref.Tag != "" && !slices.Contains(tags, ref.Tag) {
						tags = append(tags, ref.Tag)
					}
				}
				for _, t := range img.Tags {
					if !slices.Contains(tags, t) {
						tags = append(tags, t)
					}
				}
			}
			if len(tags) == 0 {
				tags = []string{""}
			}
			for _, t := range tags {
				if err := add(img, override.Name, t); err != nil {
					return nil, err
				}
			}
			continue
		}
		if len(refs) == 0 {
			return nil, oci.ErrNameInvalid.WithMessage("%s has no image name in the archive: pass ?repo=NAME[:TAG] (shoal import --repo NAME[:TAG])", img.Label)
		}
		for _, ref := range refs {
			if err := add(img, ref.Name, ref.Tag); err != nil {
				return nil, err
			}
		}
	}
	return targets, nil
}

// runImport stores the archive's blobs, then its manifests, then its
// tags.
func (in *Service) runImport(ctx context.Context, s *imageStream, contents *archive.Contents, targets []importTarget) ([]adminapi.ImportedImage, error) {
	for _, b := range contents.Blobs {
		s.grow(b.Size)
	}
	for _, b := range contents.Blobs {
		if err := in.importBlob(ctx, s, b); err != nil {
			return nil, err
		}
	}
	// Docker save images get their manifests now that their layers are
	// stored compressed.
	for _, img := range contents.Images {
		if err := img.Build(); err != nil {
			return nil, fmt.Errorf("%s: building its manifest: %w", img.Label, err)
		}
	}
	stored := map[digest.Digest]bool{}
	for _, b := range contents.Blobs {
		stored[b.Digest] = true
	}
	txn := &importTxn{in: in, stored: stored}
	if err := txn.commit(ctx, targets); err != nil {
		txn.rollback()
		return nil, err
	}
	imported := make([]adminapi.ImportedImage, 0, len(targets))
	for _, t := range targets {
		imported = append(imported, adminapi.ImportedImage{Repo: t.repo.Key(), Tag: t.tag, Digest: t.image.Manifest.Digest.String()})
	}
	return imported, nil
}

// importBlob writes one blob of the archive to the store, verified.
func (in *Service) importBlob(ctx context.Context, s *imageStream, b *archive.Blob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.DiffID != "" {
		return in.importDockerLayer(ctx, s, b)
	}
	if size, err := in.store.StatBlob(b.Digest); err == nil && size == b.Size {
		s.advance(b.Label, b.Size, true)
		return nil
	}
	if _, err := in.store.PutBlob(b.Digest, blobProgress(ctx, s, b.Label, b.Open())); err != nil {
		if errors.Is(err, cache.ErrDigestMismatch) {
			return fmt.Errorf("blob %s in the archive does not match its digest: the archive is corrupt, nothing was imported", b.Digest)
		}
		return fmt.Errorf("storing blob %s: %w", b.Digest, err)
	}
	s.advance(b.Label, 0, true)
	return nil
}

// importDockerLayer stores a docker save layer compressed, once archive
// has checked it against its diff_id. A plain tar is gzipped into a
// temporary file in the same pass.
func (in *Service) importDockerLayer(ctx context.Context, s *imageStream, b *archive.Blob) error {
	var tmp *os.File
	var gz io.Writer // nil (not a nil *os.File) for a compressed layer
	if b.Compression == archive.Uncompressed {
		f, err := tempfile.Unlinked(in.cfg.TempDir, "layer-*.tar.gz")
		if err != nil {
			return err
		}
		defer f.Close()
		tmp, gz = f, f
	}
	if err := b.VerifyLayer(blobProgress(ctx, s, b.Label, b.Open()), gz); err != nil {
		if errors.Is(err, archive.ErrDigestMismatch) {
			return fmt.Errorf("%w: the archive is corrupt, nothing was imported", err)
		}
		return err
	}
	var content io.Reader = b.Open()
	if tmp != nil {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		content = tmp
	}
	if _, err := in.store.PutBlob(b.Digest, content); err != nil {
		return fmt.Errorf("storing layer %s: %w", b.Label, err)
	}
	s.advance(b.Label, 0, true)
	return nil
}

// importTxn records what an import changed in the store, to take it back
// if the import fails before it is complete.
type importTxn struct {
	in     *Service
	stored map[digest.Digest]bool
	// done is the manifests already recorded per repository.
	done      map[string]bool
	manifests []repoDigest
	links     []repoDigest
	tags      []tagBefore
}

type repoDigest struct {
	key string
	d   digest.Digest
}

// tagBefore is what a tag pointed at before the import moved it ("" for
// a new tag).
type tagBefore struct {
	key, tag string
	d        digest.Digest
	checked  time.Time
}

// commit links blobs and records manifests, children first, and sets tags
// last.
func (t *importTxn) commit(ctx context.Context, targets []importTarget) error {
	t.done = map[string]bool{}
	for _, tg := range targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.putTree(tg.repo.Key(), tg.image.Manifest, true); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// One put per manifest and repository, with all its tags.
	type top struct {
		key string
		m   *archive.Manifest
	}
	var order []top
	tags := map[top][]string{}
	for _, tg := range targets {
		k := top{tg.repo.Key(), tg.image.Manifest}
		if _, ok := tags[k]; !ok {
			order = append(order, k)
			tags[k] = nil
		}
		if tg.tag != "" {
			tags[k] = append(tags[k], tg.tag)
		}
	}
	for _, k := range order {
		for _, tag := range tags[k] {
			prev, checked, err := t.in.store.Tag(k.key, tag)
			if err != nil && !errors.Is(err, cache.ErrNotFound) {
				return err
			}
			t.tags = append(t.tags, tagBefore{key: k.key, tag: tag, d: prev, checked: checked})
		}
		if err := t.putManifest(k.key, k.m, tags[k]...); err != nil {
			return err
		}
	}
	return nil
}

// putTree records m's children and links its blobs in key, and records m
// itself unless it is a top-level manifest (those are recorded last, with
// their tags).
func (t *importTxn) putTree(key string, m *archive.Manifest, top bool) error {
	for _, c := range m.Children {
		if err := t.putTree(key, c, false); err != nil {
			return err
		}
	}
	for _, b := range m.Info.Blobs {
		if !t.stored[b.Digest] {
			continue // non-distributable, not in the archive
		}
		if !t.in.store.BlobLinked(key, b.Digest) {
			t.links = append(t.links, repoDigest{key, b.Digest})
		}
		if err := t.in.store.LinkBlob(key, true, b.Digest); err != nil {
			return fmt.Errorf("linking blob %s into %s: %w", b.Digest, key, err)
		}
	}
	if top {
		return nil
	}
	return t.putManifest(key, m)
}

func (t *importTxn) putManifest(key string, m *archive.Manifest, tags ...string) error {
	done := key + "\x00" + m.Digest.String()
	if t.done[done] && len(tags) == 0 {
		return nil
	}
	_, _, err := t.in.store.GetManifest(key, m.Digest)
	isNew := errors.Is(err, cache.ErrNotFound)
	if err := t.in.store.PutManifest(key, true, cache.RecordFor(m.Digest, int64(len(m.Body)), m.Info), m.Body, tags...); err != nil {
		return fmt.Errorf("storing manifest %s in %s: %w", m.Digest, key, err)
	}
	if isNew && !t.done[done] {
		t.manifests = append(t.manifests, repoDigest{key, m.Digest})
	}
	t.done[done] = true
	return nil
}

// rollback takes back what commit did: tags first, then the manifests it
// recorded (newest first), then the links it made.
func (t *importTxn) rollback() {
	st := t.in.store
	logErr := func(what string, err error) {
		if err != nil && !errors.Is(err, cache.ErrNotFound) {
			t.in.log.Error("undoing a failed import", "step", what, "err", err)
		}
	}
	for _, tb := range slices.Backward(t.tags) {
		if tb.d == "" {
			logErr("tag", st.DeleteTag(tb.key, tb.tag))
		} else {
			logErr("tag", st.SetTag(tb.key, true, tb.tag, tb.d, tb.checked))
		}
	}
	for _, m := range slices.Backward(t.manifests) {
		logErr("manifest", st.DeleteManifest(m.key, m.d))
	}
	for _, l := range slices.Backward(t.links) {
		if st.BlobLinked(l.key, l.d) {
			logErr("link", st.UnlinkBlob(l.key, l.d))
		}
	}
}
