package cache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// blobPath is where the complete blob d lives. d must be valid.
func (s *Store) blobPath(d digest.Digest) string {
	enc := d.Encoded()
	return filepath.Join(s.dir, "blobs", string(d.Algorithm()), enc[:2], enc)
}

// createTemp creates a file under tmp/ for a blob being written.
func (s *Store) createTemp() (*os.File, error) {
	return os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-*")
}

// ensureBlobDir creates the directory of p and makes the new entries
// durable, once per directory per process.
func (s *Store) ensureBlobDir(p string) error {
	dir := filepath.Dir(p)
	s.mu.Lock()
	made := s.dirsMade[dir]
	s.mu.Unlock()
	if made {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	algDir := filepath.Dir(dir)
	for _, d := range []string{algDir, filepath.Dir(algDir)} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.dirsMade[dir] = true
	s.mu.Unlock()
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// commitFile makes the verified, fsynced file at src the blob d of size
// bytes: it renames it into place (or drops it when d is already stored),
// syncs the directory, records the blob and runs then, all in one metadata
// transaction under s.meta. If anything fails the blob is not stored.
// renamed, if set, runs right after src has left its place (renamed or
// removed). It reports whether the blob was newly added.
//
// pieces, when known, are the blob's piece digests, kept with it.
func (s *Store) commitFile(src string, d digest.Digest, size int64, pieces []digest.Digest, then func(mt *metaTxn) error, renamed func()) (bool, []digest.Digest, error) {
	s.meta.Lock()
	defer s.meta.Unlock()
	if s.isClosed() {
		_ = os.Remove(src)
		return false, nil, ErrClosed
	}
	s.mu.Lock()
	_, exists := s.blobs[d]
	s.mu.Unlock()

	final := s.blobPath(d)
	if exists {
		// Identical content is stored once.
		if err := os.Remove(src); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, nil, err
		}
	} else {
		if err := s.ensureBlobDir(final); err != nil {
			_ = os.Remove(src)
			return false, nil, fmt.Errorf("cache: %w", err)
		}
		if err := os.Rename(src, final); err != nil {
			_ = os.Remove(src)
			return false, nil, fmt.Errorf("cache: %w", err)
		}
	}
	if renamed != nil {
		renamed()
	}
	if !exists {
		if err := syncDir(filepath.Dir(final)); err != nil {
			_ = os.Remove(final)
			return false, nil, fmt.Errorf("cache: %w", err)
		}
	}

	now := s.now().UnixNano()
	if !exists {
		// The blob must be in the map while then runs, so that link deltas
		// apply to it.
		s.mu.Lock()
		s.blobs[d] = &blobInfo{size: size, atime: now}
		s.total += size
		s.mu.Unlock()
	}
	mt, err := s.update(func(mt *metaTxn) error {
		if !exists {
			if err := mt.txn.Set(key(kindBlob, string(d)), encodeBlobMeta(size, now)); err != nil {
				return err
			}
			if len(pieces) > 0 && len(pieces) == piecesFor(size) {
				if enc, err := encodePieces(pieces); err == nil {
					if err := mt.txn.Set(key(kindPieces, string(d)), enc); err != nil {
						return err
					}
				}
			}
		}
		if then != nil {
			return then(mt)
		}
		return nil
	})
	if err != nil {
		if !exists {
			s.mu.Lock()
			delete(s.blobs, d)
			s.total -= size
			s.mu.Unlock()
			_ = os.Remove(final)
		}
		return false, nil, err
	}
	s.touch(d)
	freed := s.freeUnlinkedLocked(mt.unlinked)
	return !exists, freed, nil
}

// added runs the callbacks and eviction due after content was committed.
func (s *Store) added(d digest.Digest, size int64, isNew bool, freed []digest.Digest) {
	s.notifyEvicted(freed)
	if isNew {
		if s.opts.OnAdd != nil {
			s.opts.OnAdd(d, size)
		}
		s.maybeEvict()
	}
}

// writeVerified copies r into a new temp file, checks it is d (and size
// bytes if size >= 0) and fsyncs it. It returns the temp path, size and
// piece digests; on error nothing is left behind.
func (s *Store) writeVerified(d digest.Digest, r io.Reader, size int64) (string, int64, []digest.Digest, error) {
	f, err := s.createTemp()
	if err != nil {
		return "", 0, nil, fmt.Errorf("cache: %w", err)
	}
	fail := func(err error) (string, int64, []digest.Digest, error) {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", 0, nil, err
	}
	h := d.Algorithm().Hash()
	src := r
	if size >= 0 {
		src = io.LimitReader(r, size+1)
	}
	var w io.Writer = f
	var sw *sealWriter
	if s.enc != nil {
		fc, err := s.enc.newFile()
		if err != nil {
			return fail(err)
		}
		if sw, err = newSealWriter(f, fc); err != nil {
			return fail(fmt.Errorf("cache: %w", err))
		}
		w = sw
	}
	// The digest is of the plaintext, hashed before it is sealed.
	ph := s.piecesOnWrite()
	w = &headroomWriter{w: w, g: headroomGuard{s: s}}
	n, err := io.Copy(io.MultiWriter(w, h, ph), src)
	if err != nil {
		return fail(fmt.Errorf("cache: write %s: %w", d, err))
	}
	if size >= 0 && n != size {
		return fail(fmt.Errorf("%w: %s: got %d bytes, want %d", ErrSizeMismatch, d, n, size))
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		return fail(fmt.Errorf("%w: want %s, got %s", ErrDigestMismatch, d, got))
	}
	if sw != nil {
		if err := sw.Close(); err != nil {
			return fail(fmt.Errorf("cache: write %s: %w", d, err))
		}
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("cache: %w", err))
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", 0, nil, fmt.Errorf("cache: %w", err)
	}
	return f.Name(), n, ph.Sum(), nil
}

// PutBlob stores the content of r as blob d after checking its digest, and
// returns its size. Nothing is stored if r fails or is not d.
func (s *Store) PutBlob(d digest.Digest, r io.Reader) (int64, error) {
	return s.putBlob(d, r, -1, nil)
}

func (s *Store) putBlob(d digest.Digest, r io.Reader, size int64, then func(mt *metaTxn) error) (int64, error) {
	if err := validDigest(d); err != nil {
		return 0, err
	}
	if s.isClosed() {
		return 0, ErrClosed
	}
	tmp, n, pieces, err := s.writeVerified(d, r, size)
	if err != nil {
		return 0, s.writeFailed(err)
	}
	isNew, freed, err := s.commitFile(tmp, d, n, pieces, then, nil)
	if err != nil {
		return 0, err
	}
	s.added(d, n, isNew, freed)
	return n, nil
}

// StatBlob returns the size of the complete blob d, or ErrNotFound.
func (s *Store) StatBlob(d digest.Digest) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bi := s.blobs[d]; bi != nil {
		return bi.size, nil
	}
	return 0, ErrNotFound
}

// OpenBlob opens the complete blob d for reading. The blob is pinned (not
// evicted or freed) until the reader is closed.
func (s *Store) OpenBlob(d digest.Digest) (*Reader, error) {
	if validDigest(d) != nil {
		return nil, ErrNotFound
	}
	size, ok := s.pinStored(d)
	if !ok {
		return nil, ErrNotFound
	}
	r, err := s.openStored(d, size)
	if err != nil {
		s.unpin(d)
		if errors.Is(err, ErrCorrupt) {
			// Fetched again by the next read rather than failing them all.
			s.dropDamaged(d, err)
		}
		return nil, err
	}
	return r, nil
}

// pinStored pins d if it is stored, returning its size.
func (s *Store) pinStored(d digest.Digest) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bi := s.blobs[d]
	if bi == nil || s.closed {
		return 0, false
	}
	s.pins[d]++
	s.touchLocked(d, bi)
	return bi.size, true
}

// openStored opens the stored blob d, which the caller has pinned; the
// reader takes over the pin.
func (s *Store) openStored(d digest.Digest, size int64) (*Reader, error) {
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			s.log.Error("cache: blob file missing", "digest", d)
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("cache: %w", err)
	}
	var content io.ReadSeeker = f
	if s.enc == nil {
		// Open does not stat every file; a file of another size than its
		// record is damaged.
		if fi, err := f.Stat(); err == nil && fi.Size() != size {
			_ = f.Close()
			return nil, fmt.Errorf("%w: blob %s: file has %d bytes, want %d", ErrCorrupt, d, fi.Size(), size)
		}
	} else {
		br, err := s.openSealed(f, size)
		if err != nil {
			_ = f.Close()
			s.log.Error("cache: unreadable blob file", "digest", d, "err", err)
			return nil, fmt.Errorf("cache: blob %s: %w", d, err)
		}
		content = br
	}
	return &Reader{
		Size:     size,
		Content:  content,
		complete: true,
		close: func() error {
			err := f.Close()
			s.unpin(d)
			return err
		},
	}, nil
}

// openSealed returns a plaintext reader of the complete encrypted blob
// file f of size bytes.
func (s *Store) openSealed(f *os.File, size int64) (*blobReader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if want := sealedSize(size); fi.Size() != want {
		return nil, fmt.Errorf("%w: file has %d bytes, want %d", ErrCorrupt, fi.Size(), want)
	}
	fc, err := s.enc.readFileCipher(f)
	if err != nil {
		return nil, err
	}
	return &blobReader{cr: newChunkReader(f, fc), size: size}, nil
}

// readBlobFile returns the content of the stored blob d of size bytes,
// which the caller has pinned.
func (s *Store) readBlobFile(d digest.Digest, size int64) ([]byte, error) {
	if s.enc == nil {
		return os.ReadFile(s.blobPath(d))
	}
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return nil, err
	}
	defer discard(f)
	br, err := s.openSealed(f, size)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	// Reading on to the end checks the final record.
	if _, err := br.Read(make([]byte, 1)); err != io.EOF {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return b, nil
}

func (s *Store) pin(d digest.Digest) {
	s.mu.Lock()
	s.pins[d]++
	s.mu.Unlock()
}

// unpin releases one pin of d. When the last pin goes, a blob that became
// unreferenced meanwhile is freed, and eviction catches up if the store
// is over its limit.
func (s *Store) unpin(d digest.Digest) {
	s.mu.Lock()
	s.pins[d]--
	last := s.pins[d] <= 0
	if last {
		delete(s.pins, d)
	}
	bi := s.blobs[d]
	doomed := last && bi != nil && bi.doomed
	over := last && s.opts.MaxBytes > 0 && s.total+s.uploadBytes > s.opts.MaxBytes
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return
	}
	if doomed {
		s.meta.Lock()
		freed := s.freeUnlinkedLocked([]digest.Digest{d})
		s.meta.Unlock()
		s.notifyEvicted(freed)
	}
	if over {
		s.maybeEvict()
	}
}

// touch records an access to d.
func (s *Store) touch(d digest.Digest) {
	s.mu.Lock()
	if bi := s.blobs[d]; bi != nil {
		s.touchLocked(d, bi)
	}
	s.mu.Unlock()
}

func (s *Store) touchLocked(d digest.Digest, bi *blobInfo) {
	bi.atime = s.now().UnixNano()
	s.dirty[d] = struct{}{}
}

// Blobs calls fn for each complete blob until fn returns false.
func (s *Store) Blobs(fn func(d digest.Digest, size int64) bool) error {
	type entry struct {
		d    digest.Digest
		size int64
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	list := make([]entry, 0, len(s.blobs))
	for d, bi := range s.blobs {
		list = append(list, entry{d, bi.size})
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].d < list[j].d })
	for _, e := range list {
		if !fn(e.d, e.size) {
			break
		}
	}
	return nil
}

// freeUnlinkedLocked frees those of ds that are stored, linked nowhere and
// needed by no manifest record. A pinned one is marked to be freed when
// its last reader closes. It returns the freed digests; the caller holds
// s.meta and reports them with notifyEvicted after releasing it.
func (s *Store) freeUnlinkedLocked(ds []digest.Digest) []digest.Digest {
	var freed []digest.Digest
	seen := make(map[digest.Digest]bool, len(ds))
	for _, d := range ds {
		if seen[d] {
			continue
		}
		seen[d] = true
		s.mu.Lock()
		bi := s.blobs[d]
		candidate := bi != nil && bi.links <= 0
		s.mu.Unlock()
		if !candidate {
			continue
		}
		var need bool
		if err := s.db.View(func(txn *badger.Txn) error {
			need = needed(txn, d)
			return nil
		}); err != nil || need {
			continue
		}
		s.mu.Lock()
		if s.pins[d] > 0 {
			bi.doomed = true
			s.mu.Unlock()
			continue
		}
		delete(s.blobs, d)
		delete(s.dirty, d)
		s.total -= bi.size
		s.mu.Unlock()
		if err := s.dropBlobLocked(d); err != nil {
			s.log.Error("cache: free blob", "digest", d, "err", err)
			continue
		}
		s.log.Debug("cache: freed unreferenced blob", "digest", d, "size", bi.size)
		freed = append(freed, d)
	}
	return freed
}

func (s *Store) notifyEvicted(ds []digest.Digest) {
	if s.opts.OnEvict == nil {
		return
	}
	for _, d := range ds {
		s.opts.OnEvict(d)
	}
}
