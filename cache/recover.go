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
// whose file is gone (or has another size) is dropped with its links; a
// file without a record — renamed into place just before a crash, and
// verified before that rename — is adopted.
func (s *Store) recover() error {
	err := s.db.View(func(txn *badger.Txn) error {
		if err := scan(txn, []byte{kindBlob}, func(k, v []byte) error {
			d := digest.Digest(k[1:])
			size, atime, err := decodeBlobMeta(v)
			if err != nil || validDigest(d) != nil {
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
	if err != nil {
		return fmt.Errorf("cache: load metadata: %w", err)
	}

	onDisk := make(map[digest.Digest]int64)
	root := filepath.Join(s.dir, "blobs")
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		var d digest.Digest
		if len(parts) == 3 {
			d = digest.NewDigestFromEncoded(digest.Algorithm(parts[0]), parts[2])
		}
		if len(parts) != 3 || validDigest(d) != nil || !strings.HasPrefix(parts[2], parts[1]) || len(parts[1]) != 2 {
			s.log.Warn("cache: ignoring stray file in blob store", "path", p)
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		size := info.Size()
		if s.enc != nil {
			// Records hold the plaintext size; a file no plaintext size
			// fits is dropped (-1 matches no record and is not adopted).
			var ok bool
			if size, ok = plainSize(size); !ok {
				size = -1
			}
		}
		onDisk[d] = size
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: scan blobs: %w", err)
	}

	var missing []digest.Digest
	for d, bi := range s.blobs {
		size, ok := onDisk[d]
		if ok && size == bi.size {
			s.total += bi.size
			continue
		}
		missing = append(missing, d)
	}
	for _, d := range missing {
		delete(s.blobs, d)
		s.log.Warn("cache: blob file missing or wrong size; dropping it", "digest", d)
		if err := s.dropBlobLocked(d); err != nil {
			return fmt.Errorf("cache: drop %s: %w", d, err)
		}
	}
	now := s.now().UnixNano()
	for d, size := range onDisk {
		if _, ok := s.blobs[d]; ok {
			continue
		}
		if size < 0 {
			s.log.Warn("cache: removing blob file of impossible size", "digest", d)
			if err := os.Remove(s.blobPath(d)); err != nil {
				return fmt.Errorf("cache: %w", err)
			}
			continue
		}
		if err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(key(kindBlob, string(d)), encodeBlobMeta(size, now))
		}); err != nil {
			return fmt.Errorf("cache: adopt %s: %w", d, err)
		}
		s.blobs[d] = &blobInfo{size: size, atime: now}
		s.total += size
		s.log.Info("cache: adopted blob without record", "digest", d, "size", size)
	}
	return s.countLinks()
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
