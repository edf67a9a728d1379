package cache

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// recover loads the blob index and reconciles it with the files: a record
// whose file is gone is dropped with its links; a
// file without a record — renamed into place just before a crash, or
// every file when the metadata is being rebuilt — is re-hashed and
// adopted if it is what its name says, quarantined if not.
func (s *Store) recover() error {
	// The records are loaded while the files are listed: both take
	// time in a large store.
	loadErr := make(chan error, 1)
	go func() {
		loadErr <- s.db.View(func(txn *badger.Txn) error {
			if err := scan(txn, []byte{kindBlob}, func(k, v []byte) error {
				d := digest.Digest(k[1:])
				size, atime, err := decodeBlobMeta(v)
				if err != nil || !storedDigest(d) {
					s.log.Warn("cache: dropping corrupt blob record", "key", string(k))
					return nil
				}
				s.blobs[d] = &blobInfo{size: size, atime: atime}
				return nil
			}); err != nil {
				return err
			}
			return nil
		})
	}()

	// Names only: a stat of every file would make opening a large store
	// slow, and a file of the wrong size is caught when it is read
	// (openStored). Files without a record are looked at closely.
	onDisk := make(map[digest.Digest]bool)
	root := filepath.Join(s.dir, "blobs")
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		d, ok := blobFileDigest(parts)
		if !ok || !e.Type().IsRegular() {
			s.log.Warn("cache: ignoring stray file in blob store", "path", p)
			return nil
		}
		onDisk[d] = true
		return nil
	})
	if lerr := <-loadErr; lerr != nil {
		return fmt.Errorf("cache: load metadata: %w", lerr)
	}
	if err != nil {
		return fmt.Errorf("cache: scan blobs: %w", err)
	}

	var missing []digest.Digest
	for d, bi := range s.blobs {
		if onDisk[d] {
			s.total += bi.size
			continue
		}
		missing = append(missing, d)
	}
	for _, d := range missing {
		delete(s.blobs, d)
		s.log.Warn("cache: blob file missing; dropping its record", "digest", d)
		if err := s.dropBlobLocked(d); err != nil {
			return fmt.Errorf("cache: drop %s: %w", d, err)
		}
	}
	var orphans []orphan
	for d := range onDisk {
		if _, ok := s.blobs[d]; ok {
			continue
		}
		info, err := os.Lstat(s.blobPath(d))
		if err != nil {
			return fmt.Errorf("cache: scan blobs: %w", err)
		}
		size := info.Size()
		if s.enc != nil {
			// Records hold the plaintext size; a file no plaintext size
			// fits is quarantined (-1 never verifies).
			var ok bool
			if size, ok = plainSize(size); !ok {
				size = -1
			}
		}
		orphans = append(orphans, orphan{d: d, size: size, mtime: info.ModTime().UnixNano()})
	}
	if len(orphans) > 0 {
		if err := s.adopt(s.verifyOrphans(orphans)); err != nil {
			return err
		}
	}
	return s.countLinks()
}

// adopt records blob files found without a record and verified, in one
// batch: a rebuild may adopt every blob of a large store. Their access
// time is their file's modification time, so eviction keeps some order.
func (s *Store) adopt(files []orphan) error {
	now := s.now().UnixNano()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, f := range files {
		if err := wb.Set(key(kindBlob, string(f.d)), encodeBlobMeta(f.size, min(f.mtime, now))); err != nil {
			return fmt.Errorf("cache: adopt %s: %w", f.d, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("cache: adopt blob files: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range files {
		s.blobs[f.d] = &blobInfo{size: f.size, atime: min(f.mtime, now)}
		s.total += f.size
		if s.rebuild != nil {
			s.rebuild.Blobs++
			s.rebuild.Bytes += f.size
		}
	}
	if s.rebuild == nil {
		s.log.Info("cache: adopted blob files without a record", "count", len(files))
	} else {
		s.log.Warn("cache: metadata rebuilt from the blob files", "blobs", s.rebuild.Blobs,
			"bytes", s.rebuild.Bytes, "quarantined", s.rebuild.Quarantined, "lost", strings.Join(s.rebuild.Lost, "; "))
	}
	return nil
}

// countLinks loads the link counts of the blobs, dropping links to blobs
// that are not stored.
func (s *Store) countLinks() error {
	var stale [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, []byte{kindBlobLink}, func(k, v []byte) error {
			i := bytes.IndexByte(k, sep)
			if i < 0 {
				return nil
			}
			d := digest.Digest(k[1:i])
			bi := s.blobs[d]
			if bi == nil {
				stale = append(stale, k, key(kindRepoLink, string(k[i+1:]), string(d)))
				return nil
			}
			bi.links++
			if len(v) == 1 && v[0] == 1 {
				bi.localLinks++
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("cache: load links: %w", err)
	}
	if len(stale) == 0 {
		return nil
	}
	s.log.Warn("cache: dropping links to missing blobs", "count", len(stale)/2)
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range stale {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// blobFileDigest is the digest a file under blobs/ is named for, from
// the parts of its path: alg, the first two hex digits, hex.
func blobFileDigest(parts []string) (digest.Digest, bool) {
	if len(parts) != 3 || len(parts[1]) != 2 || !strings.HasPrefix(parts[2], parts[1]) {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
	return d, storedDigest(d)
}

// storedDigest is validDigest without its regular expressions, which
// cost more than anything else when opening a large store.
func storedDigest(d digest.Digest) bool {
	alg, hex, ok := strings.Cut(string(d), ":")
	if !ok {
		return false
	}
	switch digest.Algorithm(alg) {
	case digest.SHA256:
		ok = len(hex) == 64
	case digest.SHA512:
		ok = len(hex) == 128
	default:
		return false
	}
	for i := 0; ok && i < len(hex); i++ {
		c := hex[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
	}
	return ok
}
