package cache

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dgraph-io/badger/v4"
)

// The bytes of open upload sessions are part of the store's size (issue
// 10): s.uploads holds each session's plaintext size, s.uploadBytes their
// sum. A chunk's bytes are counted as they are read, before they are
// written, so concurrent uploads cannot pass MaxBytes together; after the
// chunk the count is set from the file, which also undoes a chunk rolled
// back. A commit stops counting the upload when its file becomes the blob
// (or is dropped as a duplicate), in commitFile, so the bytes never count
// twice; cancel, a digest mismatch and expiry stop counting it too. Open
// recounts the sessions on disk.

// makeRoomAttempts bounds how often one read evicts before it gives up:
// another upload may take the room an eviction made.
const makeRoomAttempts = 3

// makeRoom makes sure n more upload bytes fit within MaxBytes, evicting
// mirrored content when they do not, and refuses them with ErrStoreFull
// when that cannot make room. With id set it counts them for that upload
// in the same step, so the room it found is not given to another.
func (s *Store) makeRoom(id string, n int64) error {
	for range makeRoomAttempts {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.opts.MaxBytes <= 0 || s.total+s.uploadBytes+n <= s.opts.MaxBytes {
			if id != "" {
				s.uploads[id] += n
				s.uploadBytes += n
			}
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		evicted, fits := s.evict(n)
		s.notifyEvicted(evicted)
		if !fits {
			break
		}
	}
	return s.fullError(n)
}

// fullError explains an ErrStoreFull refusal of n bytes, and logs it: the
// operator is the one who can make room.
func (s *Store) fullError(n int64) error {
	s.mu.Lock()
	blobs, uploads := s.total, s.uploadBytes
	s.mu.Unlock()
	s.log.Warn("cache: upload refused: the store is full with content that cannot be evicted",
		"blob_bytes", blobs, "upload_bytes", uploads, "max_bytes", s.opts.MaxBytes)
	return fmt.Errorf("%w: %d more bytes would pass its limit of %d bytes, held by content that cannot be evicted (%d bytes of pushed or in-use blobs, %d of open uploads)",
		ErrStoreFull, n, s.opts.MaxBytes, blobs, uploads)
}

// countingReader counts the bytes of upload id as they are read, before
// they are written.
type countingReader struct {
	s  *Store
	id string
	r  io.Reader
	// g keeps the chunk off the metadata's headroom (headroom.go).
	g headroomGuard
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		if rerr := c.g.admit(int64(n)); rerr != nil {
			return 0, rerr
		}
		if rerr := c.s.makeRoom(c.id, int64(n)); rerr != nil {
			// The bytes read are dropped: the chunk is rolled back.
			return 0, rerr
		}
	}
	return n, err
}

// uploadFileSize is the plaintext size of upload id's file. The caller
// holds its lock.
func (s *Store) uploadFileSize(id string) (int64, error) {
	fi, err := os.Stat(s.uploadPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrUploadUnknown
	}
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	if s.enc != nil {
		return sealedUploadSize(fi.Size())
	}
	return fi.Size(), nil
}

// setUploadCount counts upload id as holding size bytes.
func (s *Store) setUploadCount(id string, size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploadBytes += size - s.uploads[id]
	s.uploads[id] = size
}

// recountUpload sets upload id's count to what its file holds, after a
// chunk was written or rolled back. The caller holds its lock.
func (s *Store) recountUpload(id string) {
	size, err := s.uploadFileSize(id)
	if err != nil {
		// A file gone or unreadable holds nothing a commit could use.
		s.log.Warn("cache: size of upload", "id", id, "err", err)
		size = 0
	}
	s.setUploadCount(id, size)
}

// forgetUpload stops counting upload id, which ended.
func (s *Store) forgetUpload(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.uploadBytes -= s.uploads[id]
	delete(s.uploads, id)
}

// countUploads counts the upload sessions kept on disk, at Open.
func (s *Store) countUploads() error {
	var ids []string
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, []byte{kindUpload}, func(k, _ []byte) error {
			ids = append(ids, string(k[1:]))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("cache: count uploads: %w", err)
	}
	for _, id := range ids {
		if !validUploadID(id) {
			continue
		}
		size, err := s.uploadFileSize(id)
		if err != nil {
			// Counted as empty; the janitor removes it once idle.
			s.log.Warn("cache: size of upload", "id", id, "err", err)
			size = 0
		}
		s.setUploadCount(id, size)
	}
	return nil
}

// Uploads reports the bytes held by open upload sessions (part of Usage)
// and how many sessions are open.
func (s *Store) Uploads() (bytes int64, sessions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uploadBytes, len(s.uploads)
}
