package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// A store whose metadata is lost or damaged is rebuilt from its blob
// files rather than refused or served wrongly: badger's directory is set
// aside (renamed, never deleted), a fresh one is started, and every blob
// file is re-hashed and adopted (recover), a file whose content does not
// match its name moved to quarantine/. Only the blobs can come back: what
// only the metadata knew is listed in Rebuild.Lost.

// Rebuild says how Open rebuilt the store's metadata from its blob files.
type Rebuild struct {
	// At is when the rebuild started.
	At time.Time
	// Reason says what was wrong with the metadata.
	Reason string
	// SetAside is where the damaged metadata directory was moved, empty
	// when there was none (it was missing).
	SetAside string
	// Blobs and Bytes count the blob files re-hashed and kept.
	Blobs int
	Bytes int64
	// Quarantined counts the blob files whose content did not match
	// their name (or could not be read), moved to QuarantineDir.
	Quarantined   int
	QuarantineDir string
	// Lost lists what the metadata held that blob files cannot tell.
	Lost []string
}

// lostInRebuild is what a rebuild cannot recover, said exactly.
func lostInRebuild() []string {
	return []string{
		"tags: every tag of every repository (mirrored tags are resolved again from upstream on their next pull)",
		"repositories and their blob links: which repository holds which blob (a mirrored repository's blob is confirmed again with its upstream on first use)",
		"manifest records: which repositories hold each manifest, and its media type (the manifest bytes are kept as blobs; a mirrored manifest is recorded again on its next pull)",
		"local (pushed) repositories: their manifests, tags and links, so they must be pushed again; their blobs are kept but no longer protected from eviction",
		"referrers lists and open upload sessions",
		"piece digests and access times (pieces are hashed again on first use; access times are taken from the files' modification times)",
	}
}

// rebuildLog is how often a long rebuild reports its progress.
const rebuildLog = 10 * time.Second

// openMeta opens the store's badger directory with bo. A directory badger
// cannot open for a reason other than the machine's (permissions, a full
// or read-only disk, a lock held by another process), or one holding
// nothing while blob files exist, is set aside and started afresh; the
// Rebuild returned then says so (nil: the metadata opened whole).
func openMeta(dir string, bo badger.Options, log *slog.Logger, now time.Time) (*badger.DB, *Rebuild, error) {
	metaDir := filepath.Join(dir, "meta")
	_, statErr := os.Stat(metaDir)
	missing := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(metaDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("cache: %w", err)
	}
	var reason string
	db, err := openBadger(bo)
	switch {
	case err != nil && !metaDamaged(err):
		return nil, nil, err
	case err != nil:
		reason = fmt.Sprintf("the metadata could not be opened: %v", err)
	default:
		empty, err := metaEmpty(db)
		if err != nil {
			_ = db.Close()
			return nil, nil, fmt.Errorf("cache: read metadata: %w", err)
		}
		has, err := hasBlobFiles(filepath.Join(dir, "blobs"))
		if err != nil {
			_ = db.Close()
			return nil, nil, fmt.Errorf("cache: scan blobs: %w", err)
		}
		if !empty || !has {
			return db, nil, nil
		}
		if missing {
			reason = "the metadata directory was missing"
			return db, &Rebuild{At: now, Reason: reason, Lost: lostInRebuild()}, nil
		}
		reason = "the metadata directory held no metadata"
		if err := db.Close(); err != nil {
			return nil, nil, fmt.Errorf("cache: close metadata: %w", err)
		}
	}
	aside, err := setAside(metaDir, now)
	if err != nil {
		return nil, nil, fmt.Errorf("cache: metadata is damaged (%s) and could not be set aside: %w", reason, err)
	}
	log.Error("cache: metadata damaged; set it aside, rebuilding from the blob files",
		"reason", reason, "set_aside", aside)
	if err := os.MkdirAll(metaDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("cache: %w", err)
	}
	if db, err = openBadger(bo); err != nil {
		return nil, nil, fmt.Errorf("cache: open new metadata: %w", err)
	}
	return db, &Rebuild{At: now, Reason: reason, SetAside: aside, Lost: lostInRebuild()}, nil
}

// openBadger is badger.Open, with a panic on a damaged file (badger has
// a few) turned into an error.
func openBadger(bo badger.Options) (db *badger.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("badger: %v", p)
		}
	}()
	db, err = badger.Open(bo)
	if err != nil {
		return nil, err
	}
	return db, nil
}

// metaDamaged says whether badger's refusal to open is the directory's
// fault, not the machine's: those errors would come back after a rebuild
// and the metadata may well be whole, so they are reported instead. Open
// has already checked the encryption key against the store's own check
// value, so badger's key mismatch means a damaged key registry.
func metaDamaged(err error) bool {
	for _, e := range []error{os.ErrPermission, syscall.ENOSPC, syscall.EROFS, syscall.EIO,
		syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EWOULDBLOCK} {
		if errors.Is(err, e) {
			return false
		}
	}
	return !strings.Contains(err.Error(), "Cannot acquire directory lock")
}

// metaEmpty reports whether db holds no key at all.
func metaEmpty(db *badger.DB) (bool, error) {
	var any bool
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		it.Rewind()
		any = it.Valid()
		return nil
	})
	return !any, err
}

// hasBlobFiles reports whether any file is under root.
func hasBlobFiles(root string) (bool, error) {
	found := false
	err := filepath.WalkDir(root, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found, err
}

// setAside renames dir to a name beside it that says when and why, and
// returns that name.
func setAside(dir string, now time.Time) (string, error) {
	base := dir + ".damaged-" + now.UTC().Format("20060102T150405Z")
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
			break
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(dir, aside); err != nil {
		return "", err
	}
	return aside, syncDir(filepath.Dir(dir))
}

// Rebuilt says how Open rebuilt the store's metadata; nil when it opened
// whole.
func (s *Store) Rebuilt() *Rebuild {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rebuild == nil {
		return nil
	}
	r := *s.rebuild
	r.Lost = append([]string(nil), r.Lost...)
	return &r
}

// orphan is a blob file without a record, found by recover.
type orphan struct {
	d     digest.Digest
	size  int64 // plaintext size; -1 when no plaintext size fits the file
	mtime int64
}

// verifyOrphans re-hashes the files of orphans in parallel and returns
// those whose content is their digest; the others are quarantined.
func (s *Store) verifyOrphans(orphans []orphan) []orphan {
	var (
		mu       sync.Mutex
		good     []orphan
		done     int
		next     = make(chan orphan)
		wg       sync.WaitGroup
		lastLog  = time.Now()
		workers  = max(1, runtime.GOMAXPROCS(0))
		reported = len(orphans) > 1000
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range next {
				err := s.verifyBlobFile(o.d, o.size)
				if err != nil {
					s.quarantine(o.d, err)
				}
				mu.Lock()
				if err == nil {
					good = append(good, o)
				}
				done++
				if reported && time.Since(lastLog) > rebuildLog {
					lastLog = time.Now()
					s.log.Info("cache: re-hashing blob files", "done", done, "of", len(orphans))
				}
				mu.Unlock()
			}
		}()
	}
	for _, o := range orphans {
		next <- o
	}
	close(next)
	wg.Wait()
	return good
}

// verifyBlobFile checks that the file of blob d holds size bytes (its
// plaintext, in an encrypted store) whose digest is d.
func (s *Store) verifyBlobFile(d digest.Digest, size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: no plaintext size fits the file", ErrCorrupt)
	}
	f, err := os.Open(s.blobPath(d))
	if err != nil {
		return err
	}
	defer discard(f)
	var r io.Reader = f
	if s.enc != nil {
		br, err := s.openSealed(f, size)
		if err != nil {
			return err
		}
		r = br
	}
	h := d.Algorithm().Hash()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%w: read %d bytes, want %d", ErrSizeMismatch, n, size)
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		return fmt.Errorf("%w: content is %s", ErrDigestMismatch, got)
	}
	return nil
}

// quarantine moves the file of blob d, found wrong, out of blobs/ so it
// is never served, keeping it for the operator to look at.
func (s *Store) quarantine(d digest.Digest, why error) {
	dir := filepath.Join(s.dir, "quarantine")
	dst := filepath.Join(dir, string(d.Algorithm())+"-"+d.Encoded())
	err := os.MkdirAll(dir, 0o700)
	if err == nil {
		err = os.Rename(s.blobPath(d), dst)
	}
	if err != nil {
		// Not served either way: recover does not adopt it. Removing it
		// keeps the next Open from checking it again.
		s.log.Error("cache: blob file does not match its digest; removing it", "digest", d, "why", why, "err", err)
		_ = os.Remove(s.blobPath(d))
	} else {
		s.log.Error("cache: blob file does not match its digest; quarantined it", "digest", d, "why", why, "path", dst)
	}
	s.mu.Lock()
	if s.rebuild != nil {
		s.rebuild.Quarantined++
		s.rebuild.QuarantineDir = dir
	}
	s.mu.Unlock()
}

// dropDamaged takes the blob d, whose file was found damaged when read,
// out of the store: its file quarantined, its metadata dropped as an
// eviction would, so the next read fetches it again. A blob still open
// elsewhere is left to its readers.
func (s *Store) dropDamaged(d digest.Digest, why error) {
	s.meta.Lock()
	s.mu.Lock()
	bi := s.blobs[d]
	if bi == nil || s.pins[d] > 0 || s.closed {
		s.mu.Unlock()
		s.meta.Unlock()
		return
	}
	delete(s.blobs, d)
	delete(s.dirty, d)
	s.total -= bi.size
	s.mu.Unlock()
	s.quarantine(d, why)
	err := s.dropBlobLocked(d)
	s.meta.Unlock()
	if err != nil {
		s.log.Error("cache: drop damaged blob", "digest", d, "err", err)
		return
	}
	s.notifyEvicted([]digest.Digest{d})
}
