package node

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

// imageRoutes adds the endpoints that move images in: POST
// /shoal/v1/import (an archive in the body) and POST /shoal/v1/preload
// (refs to fetch through the node's mirror path). Export needs no endpoint:
// the CLI pulls through the registry API.
func (n *Node) imageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /shoal/v1/import", n.handleImport)
	mux.HandleFunc("POST /shoal/v1/preload", n.handlePreload)
}

// importTarget is one place an imported image goes: a repository and a
// tag ("" to store it by digest only).
type importTarget struct {
	repo  repository.Name
	tag   string
	image *importImage
}

// handleImport stores the images of an OCI image layout tar or a docker
// save tarball. The body is spooled to a file first, since both formats
// need random access. Problems with the request or the archive's metadata
// are answered as OCI errors; once blobs are being written the answer is
// a JSON-lines stream of progress ending in the images imported or an
// error. Tags are set only after every blob and manifest is stored; on any
// failure what this import recorded is removed again, so nothing
// half-imported stays tagged.
func (n *Node) handleImport(w http.ResponseWriter, r *http.Request) {
	var override *imageRef
	if q := r.URL.Query().Get("repo"); q != "" {
		ref, err := parseImageRef(q)
		if err == nil && ref.digest != "" {
			err = errors.New("?repo= takes NAME or NAME:TAG, not a digest")
		}
		if err == nil {
			_, err = n.names.ForStore(ref.name)
		}
		if err != nil {
			oci.WriteError(w, oci.ErrNameInvalid.WithMessage("repo %q: %v", q, err))
			return
		}
		override = &ref
	}

	spool, err := n.spoolImport(r.Body)
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	defer spool.Close()
	ix, err := indexArchive(spool)
	if err != nil {
		oci.WriteError(w, errArchiveUnsupported.With(err.Error()))
		return
	}
	maxManifest := n.cfg.MaxManifestBytes
	if maxManifest <= 0 {
		maxManifest = oci.DefaultMaxManifestBytes
	}
	plan, err := readImageArchive(ix, maxManifest)
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	targets, err := n.importTargets(plan, override)
	if err != nil {
		oci.WriteError(w, err)
		return
	}

	ctx := r.Context()
	start := time.Now()
	s := startImageStream(w)
	for _, warning := range plan.warnings {
		s.send(warningLine{Warning: warning})
	}
	imported, err := n.runImport(ctx, s, ix, plan, targets)
	if err != nil {
		n.log.Warn("import failed", "format", plan.format, "err", err)
		s.send(errorLine{Error: err.Error()})
		return
	}
	n.log.Info("imported images", "format", plan.format, "images", len(imported), "blobs", len(plan.blobs), "duration", time.Since(start))
	s.send(importedLine{Imported: imported})
}

// importDir holds an import's spooled archive and compressed layers.
func (n *Node) importDir() (string, error) {
	dir := filepath.Join(n.cfg.DataDir, "import")
	return dir, os.MkdirAll(dir, 0o700)
}

// importTempFile is a temporary file under the data dir that is already
// unlinked, so it disappears when closed, even after a crash.
func (n *Node) importTempFile(pattern string) (*os.File, error) {
	dir, err := n.importDir()
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// spoolImport copies the request body to a temporary file, gunzipping it
// if it is gzip-compressed.
func (n *Node) spoolImport(body io.Reader) (*os.File, error) {
	f, err := n.importTempFile("upload-*.tar")
	if err != nil {
		return nil, fmt.Errorf("spooling the archive: %w", err)
	}
	br := bufio.NewReaderSize(body, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, oci.ErrBlobUploadInvalid.WithMessage("the body looks gzip-compressed but is not: %v", err)
		}
		defer zr.Close()
		src = zr
	}
	rr := &readErrReader{r: src}
	copied, err := io.Copy(f, rr)
	switch {
	case rr.err != nil:
		f.Close()
		return nil, oci.ErrBlobUploadInvalid.WithMessage("reading the archive: %v", rr.err)
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("spooling the archive: %w", err)
	case copied == 0:
		f.Close()
		return nil, errArchiveUnsupported.WithMessage("the body is empty: send a tar of an OCI image layout or a docker save tarball")
	}
	return f, nil
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

// importTargets decides where each image of the plan goes. ?repo= (the
// override) replaces the names in the archive; a tag in it applies to the
// single image the archive holds. Otherwise each image goes where its own
// names say, mapped as a client's request would be.
func (n *Node) importTargets(plan *importPlan, override *imageRef) ([]importTarget, error) {
	if override != nil && override.tag != "" && len(plan.images) > 1 {
		return nil, oci.ErrNameInvalid.WithMessage("?repo=%s names one tag, but the archive holds %d images: give ?repo= a name without a tag", override, len(plan.images))
	}
	// A place is a repository and tag; untagged images are told apart by
	// the image itself.
	type place struct {
		key, tag string
		img      *importImage
	}
	seen := map[place]*importImage{}
	var targets []importTarget
	add := func(img *importImage, name, tag string) error {
		repo, err := n.names.ForStore(name)
		if err != nil {
			return oci.ErrNameInvalid.WithMessage("%s: %v", img.label, err)
		}
		p := place{key: repo.Key(), tag: tag}
		if tag == "" {
			p.img = img
		}
		if other, ok := seen[p]; ok {
			if other == img || (other.top != nil && img.top != nil && other.top.digest == img.top.digest) {
				return nil
			}
			return oci.ErrNameInvalid.WithMessage("%s:%s is given to two different images (%s and %s)", repo.Key(), tag, other.label, img.label)
		}
		seen[p] = img
		targets = append(targets, importTarget{repo: repo, tag: tag, image: img})
		return nil
	}
	for _, img := range plan.images {
		var refs []imageRef
		for _, s := range img.refs {
			ref, err := parseImageRef(s)
			if err != nil {
				if override != nil {
					continue // the name is replaced anyway
				}
				return nil, oci.ErrNameInvalid.WithMessage("%s: the name %q in the archive is not an image reference (%v): pass ?repo=NAME", img.label, s, err)
			}
			if ref.tag == "" && ref.digest == "" {
				ref.tag = "latest"
			}
			refs = append(refs, ref)
		}
		if override != nil {
			var tags []string
			switch {
			case override.tag != "":
				tags = []string{override.tag}
			default:
				for _, ref := range refs {
					if ref.tag != "" && !slices.Contains(tags, ref.tag) {
						tags = append(tags, ref.tag)
					}
				}
				for _, t := range img.tags {
					if !slices.Contains(tags, t) {
						tags = append(tags, t)
					}
				}
			}
			if len(tags) == 0 {
				tags = []string{""}
			}
			for _, t := range tags {
				if err := add(img, override.name, t); err != nil {
					return nil, err
				}
			}
			continue
		}
		if len(refs) == 0 {
			return nil, oci.ErrNameInvalid.WithMessage("%s has no image name in the archive: pass ?repo=NAME[:TAG] (shoal import --repo NAME[:TAG])", img.label)
		}
		for _, ref := range refs {
			if err := add(img, ref.name, ref.tag); err != nil {
				return nil, err
			}
		}
	}
	return targets, nil
}

// runImport stores the plan's blobs, then its manifests, then its tags.
func (n *Node) runImport(ctx context.Context, s *imageStream, ix *archiveIndex, plan *importPlan, targets []importTarget) ([]adminapi.ImportedImage, error) {
	for _, b := range plan.blobs {
		s.grow(b.entry.size)
	}
	for _, b := range plan.blobs {
		if err := n.importBlob(ctx, s, ix, b); err != nil {
			return nil, err
		}
	}
	for _, img := range plan.images {
		if img.top != nil {
			continue
		}
		m, err := img.build()
		if err != nil {
			return nil, fmt.Errorf("%s: building its manifest: %w", img.label, err)
		}
		img.top = m
	}
	stored := map[digest.Digest]bool{}
	for _, b := range plan.blobs {
		stored[b.digest] = true
	}
	txn := &importTxn{n: n, stored: stored}
	if err := txn.commit(ctx, targets); err != nil {
		txn.rollback()
		return nil, err
	}
	imported := make([]adminapi.ImportedImage, 0, len(targets))
	for _, t := range targets {
		imported = append(imported, adminapi.ImportedImage{Repo: t.repo.Key(), Tag: t.tag, Digest: t.image.top.digest.String()})
	}
	return imported, nil
}

// importBlob writes one blob of the archive to the store, verified.
func (n *Node) importBlob(ctx context.Context, s *imageStream, ix *archiveIndex, b *importBlob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.dockerLayer {
		return n.importDockerLayer(ctx, s, ix, b)
	}
	if size, err := n.store.StatBlob(b.digest); err == nil && size == b.entry.size {
		b.stored, b.size = true, size
		s.advance(b.label, b.entry.size, true)
		return nil
	}
	size, err := n.store.PutBlob(b.digest, blobProgress(ctx, s, b.label, ix.section(b.entry)))
	if err != nil {
		if errors.Is(err, cache.ErrDigestMismatch) {
			return fmt.Errorf("blob %s in the archive does not match its digest: the archive is corrupt, nothing was imported", b.digest)
		}
		return fmt.Errorf("storing blob %s: %w", b.digest, err)
	}
	b.stored, b.size = true, size
	s.advance(b.label, 0, true)
	return nil
}

// importDockerLayer stores a docker save layer compressed, checking its
// uncompressed content against the config's diff_id. A plain tar is
// gzipped into a temporary file in the same pass that hashes it.
func (n *Node) importDockerLayer(ctx context.Context, s *imageStream, ix *archiveIndex, b *importBlob) error {
	uncompressed := sha256.New()
	compressed := sha256.New()
	in := blobProgress(ctx, s, b.label, ix.section(b.entry))
	var content io.Reader
	switch b.compression {
	case "":
		tmp, err := n.importTempFile("layer-*.tar.gz")
		if err != nil {
			return err
		}
		defer tmp.Close()
		zw := gzip.NewWriter(io.MultiWriter(tmp, compressed))
		if _, err := io.Copy(zw, io.TeeReader(in, uncompressed)); err != nil {
			return fmt.Errorf("compressing layer %s: %w", b.label, err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("compressing layer %s: %w", b.label, err)
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		content = tmp
	default:
		tee := io.TeeReader(in, compressed)
		if err := decompressTo(uncompressed, tee, b.compression); err != nil {
			return fmt.Errorf("layer %s: its %s stream is corrupt: %w", b.label, b.compression, err)
		}
		if _, err := io.Copy(io.Discard, tee); err != nil {
			return fmt.Errorf("reading layer %s: %w", b.label, err)
		}
		content = ix.section(b.entry)
	}
	if got := digest.NewDigest(digest.SHA256, uncompressed); got != b.diffID {
		return fmt.Errorf("layer %s in the archive does not match its diff_id in the image config (its content is %s): the archive is corrupt, nothing was imported", b.diffID, got)
	}
	d := digest.NewDigest(digest.SHA256, compressed)
	size, err := n.store.PutBlob(d, content)
	if err != nil {
		return fmt.Errorf("storing layer %s: %w", b.label, err)
	}
	b.digest, b.stored, b.size = d, true, size
	s.advance(b.label, 0, true)
	return nil
}

func decompressTo(w io.Writer, r io.Reader, compression string) error {
	switch compression {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(w, zr)
		return err
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return err
		}
		defer zr.Close()
		_, err = io.Copy(w, zr)
		return err
	}
	return fmt.Errorf("unknown compression %q", compression)
}

// importTxn records what an import changed in the store, to take it back
// if the import fails before it is complete.
type importTxn struct {
	n      *Node
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
		if err := t.putTree(tg.repo.Key(), tg.image.top, true); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// One put per manifest and repository, with all its tags.
	type top struct {
		key string
		m   *importManifest
	}
	var order []top
	tags := map[top][]string{}
	for _, tg := range targets {
		k := top{tg.repo.Key(), tg.image.top}
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
			prev, checked, err := t.n.store.Tag(k.key, tag)
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
func (t *importTxn) putTree(key string, m *importManifest, top bool) error {
	for _, c := range m.children {
		if err := t.putTree(key, c, false); err != nil {
			return err
		}
	}
	for _, b := range m.info.Blobs {
		if !t.stored[b.Digest] {
			continue // non-distributable, not in the archive
		}
		if !t.n.store.BlobLinked(key, b.Digest) {
			t.links = append(t.links, repoDigest{key, b.Digest})
		}
		if err := t.n.store.LinkBlob(key, true, b.Digest); err != nil {
			return fmt.Errorf("linking blob %s into %s: %w", b.Digest, key, err)
		}
	}
	if top {
		return nil
	}
	return t.putManifest(key, m)
}

func (t *importTxn) putManifest(key string, m *importManifest, tags ...string) error {
	done := key + "\x00" + m.digest.String()
	if t.done[done] && len(tags) == 0 {
		return nil
	}
	_, _, err := t.n.store.GetManifest(key, m.digest)
	isNew := errors.Is(err, cache.ErrNotFound)
	if err := t.n.store.PutManifest(key, true, cache.RecordFor(m.digest, int64(len(m.body)), m.info), m.body, tags...); err != nil {
		return fmt.Errorf("storing manifest %s in %s: %w", m.digest, key, err)
	}
	if isNew && !t.done[done] {
		t.manifests = append(t.manifests, repoDigest{key, m.digest})
	}
	t.done[done] = true
	return nil
}

// rollback takes back what commit did: tags first, then the manifests it
// recorded (newest first), then the links it made.
func (t *importTxn) rollback() {
	st := t.n.store
	logErr := func(what string, err error) {
		if err != nil && !errors.Is(err, cache.ErrNotFound) {
			t.n.log.Error("undoing a failed import", "step", what, "err", err)
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
