package cache

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// An upload is a file uploads/<id> plus a badger record of its repository
// and creation time, so it survives a restart. Its size is the file's.

type uploadMeta struct {
	Repo    string    `json:"repo"`
	Created time.Time `json:"created"`
	// Touched is when it was last written to (zero: never).
	Touched time.Time `json:"touched,omitzero"`
}

// lastActive is when the upload was last started or written to.
func (m uploadMeta) lastActive() time.Time {
	if m.Touched.After(m.Created) {
		return m.Touched
	}
	return m.Created
}

// uploadCounts counts the open upload sessions, in all and in repo.
func (s *Store) uploadCounts(repo string) (total, inRepo int, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		return scan(txn, []byte{kindUpload}, func(_, v []byte) error {
			total++
			var m uploadMeta
			if json.Unmarshal(v, &m) == nil && m.Repo == repo {
				inRepo++
			}
			return nil
		})
	})
	return total, inRepo, err
}

// openUploads is how many upload sessions are open.
func (s *Store) openUploads() int {
	n, _, _ := s.uploadCounts("")
	return n
}

// touchUpload records that upload id was written to now.
func (s *Store) touchUpload(id string, m uploadMeta) {
	m.Touched = s.now().UTC()
	v, err := json.Marshal(m)
	if err != nil {
		return
	}
	if err := s.roomForMeta(); err != nil {
		return // the upload expires an hour after an earlier touch at worst
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key(kindUpload, id), v) }); err != nil {
		s.log.Debug("cache: touch upload", "id", id, "err", err)
	}
}

// uploadLock serializes the operations on one upload.
type uploadLock struct {
	refs int
	ch   chan struct{} // a one-slot semaphore
}

const uploadIDLen = 32 // hex characters

func validUploadID(id string) bool {
	if len(id) != uploadIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *Store) uploadPath(id string) string {
	return filepath.Join(s.dir, "uploads", id)
}

// lockUpload locks upload id and returns its unlock function.
func (s *Store) lockUpload(id string) func() {
	s.upMu.Lock()
	l := s.upLocks[id]
	if l == nil {
		l = &uploadLock{ch: make(chan struct{}, 1)}
		s.upLocks[id] = l
	}
	l.refs++
	s.upMu.Unlock()
	l.ch <- struct{}{}
	return func() {
		<-l.ch
		s.upMu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.upLocks, id)
		}
		s.upMu.Unlock()
	}
}

// uploadOf checks that id is an upload of repo. The caller holds its lock.
func (s *Store) uploadOf(repo, id string) (uploadMeta, error) {
	var m uploadMeta
	if !validUploadID(id) {
		return m, ErrUploadUnknown
	}
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = getValue(txn, key(kindUpload, id))
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return m, ErrUploadUnknown
	}
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(v, &m); err != nil {
		return m, fmt.Errorf("cache: corrupt upload record %s: %w", id, err)
	}
	if m.Repo != repo {
		return m, ErrUploadUnknown
	}
	return m, nil
}

// NewUpload starts an upload to repo and returns its id, which is safe to
// put in a URL.
func (s *Store) NewUpload(repo string) (string, error) {
	if err := validName("repository", repo); err != nil {
		return "", err
	}
	// A full store refuses a session before its client sends any bytes.
	if err := s.makeRoom("", 1); err != nil {
		return "", err
	}
	// Counted and created under upMu, so concurrent starts cannot pass
	// the limits together.
	s.upMu.Lock()
	defer s.upMu.Unlock()
	total, inRepo, err := s.uploadCounts(repo)
	if err != nil {
		return "", err
	}
	if total >= maxUploads || inRepo >= maxUploadsPerRepo {
		return "", fmt.Errorf("%w: %d in %s, %d in all (at most %d and %d); finish or cancel some, or wait an hour for idle ones to expire",
			ErrTooManyUploads, inRepo, repo, total, maxUploadsPerRepo, maxUploads)
	}
	var b [uploadIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	id := hex.EncodeToString(b[:])
	f, err := os.OpenFile(s.uploadPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	if s.enc != nil {
		if err := s.writeUploadHeader(f); err != nil {
			_ = f.Close()
			_ = os.Remove(s.uploadPath(id))
			return "", fmt.Errorf("cache: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	v, err := json.Marshal(uploadMeta{Repo: repo, Created: s.now().UTC()})
	if err != nil {
		return "", err
	}
	if err := s.roomForMeta(); err != nil {
		_ = os.Remove(s.uploadPath(id))
		return "", err
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(key(kindUpload, id), v)
	}); err != nil {
		_ = os.Remove(s.uploadPath(id))
		return "", fmt.Errorf("cache: %w", err)
	}
	s.setUploadCount(id, 0)
	return id, nil
}

// UploadSize returns how many bytes upload id of repo holds.
func (s *Store) UploadSize(repo, id string) (int64, error) {
	unlock := s.lockUpload(id)
	defer unlock()
	if _, err := s.uploadOf(repo, id); err != nil {
		return 0, err
	}
	return s.uploadFileSize(id)
}

// WriteUpload appends r to upload id of repo and returns the new size.
// offset is where the chunk claims to start, or -1 to simply append; any
// other offset than the current size fails with ErrUploadOffset. A chunk
// that fails midway is rolled back, so the upload holds whole chunks.
func (s *Store) WriteUpload(repo, id string, offset int64, r io.Reader) (int64, error) {
	unlock := s.lockUpload(id)
	defer unlock()
	m, err := s.uploadOf(repo, id)
	if err != nil {
		return 0, err
	}
	defer s.touchUpload(id, m)
	// Whatever the chunk did, the count ends as what the file holds.
	defer s.recountUpload(id)
	r = &countingReader{s: s, id: id, r: r, g: headroomGuard{s: s}}
	if s.enc != nil {
		return s.writeSealedUpload(id, offset, r)
	}
	f, err := os.OpenFile(s.uploadPath(id), os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrUploadUnknown
	}
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	defer discard(f)
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	if offset >= 0 && offset != size {
		return size, fmt.Errorf("%w: chunk starts at %d, upload holds %d bytes", ErrUploadOffset, offset, size)
	}
	n, err := io.Copy(f, r)
	if err != nil {
		if terr := f.Truncate(size); terr != nil {
			s.log.Error("cache: roll back upload chunk", "id", id, "err", terr)
			return size + n, fmt.Errorf("cache: upload %s: %w", id, err)
		}
		return size, fmt.Errorf("cache: upload %s: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return size + n, fmt.Errorf("cache: %w", err)
	}
	return size + n, nil
}

// CommitUpload checks that upload id of repo is blob d, stores it, links
// it into repo as local content and ends the upload. On a digest mismatch
// the upload is removed and the error wraps ErrDigestMismatch.
func (s *Store) CommitUpload(repo, id string, d digest.Digest) (int64, error) {
	unlock := s.lockUpload(id)
	defer unlock()
	if _, err := s.uploadOf(repo, id); err != nil {
		return 0, err
	}
	if err := validDigest(d); err != nil {
		return 0, err
	}
	p := s.uploadPath(id)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrUploadUnknown
	}
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	h := d.Algorithm().Hash()
	ph := s.piecesOnWrite()
	var n int64
	if s.enc != nil {
		var matched bool
		n, matched, err = s.finishSealedUpload(f, piecesToo{h, ph}, func() bool { return digest.NewDigest(d.Algorithm(), h) == d })
		if err != nil {
			_ = f.Close()
			if matched {
				// The final record may be half written: the upload is
				// no longer appendable.
				s.removeUpload(id)
			}
			return 0, fmt.Errorf("cache: read upload %s: %w", id, err)
		}
	} else {
		n, err = io.Copy(io.MultiWriter(h, ph), f)
		if err != nil {
			_ = f.Close()
			return 0, fmt.Errorf("cache: read upload %s: %w", id, err)
		}
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		_ = f.Close()
		s.removeUpload(id)
		return 0, fmt.Errorf("%w: upload has %s, want %s", ErrDigestMismatch, got, d)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if s.enc != nil {
			s.removeUpload(id) // its final record may not be durable
		}
		return 0, fmt.Errorf("cache: %w", err)
	}
	isNew, freed, err := s.commitFile(p, d, n, ph.Sum(), func(mt *metaTxn) error {
		if err := mt.txn.Delete(key(kindUpload, id)); err != nil {
			return err
		}
		return mt.link(repo, true, d)
	}, func() {
		// The file is now the blob (or gone, a duplicate): its bytes
		// count as the blob's from here, not twice.
		s.forgetUpload(id)
	})
	if err != nil {
		// commitFile removed the file; drop the record too.
		s.removeUpload(id)
		return 0, err
	}
	s.added(d, n, isNew, freed)
	return n, nil
}

// CancelUpload ends upload id of repo, discarding its data.
func (s *Store) CancelUpload(repo, id string) error {
	unlock := s.lockUpload(id)
	defer unlock()
	if _, err := s.uploadOf(repo, id); err != nil {
		return err
	}
	s.removeUpload(id)
	return nil
}

// removeUpload deletes an upload's file and record. The caller holds its
// lock (or owns it otherwise).
func (s *Store) removeUpload(id string) {
	s.forgetUpload(id)
	if err := os.Remove(s.uploadPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("cache: remove upload", "id", id, "err", err)
	}
	if err := s.roomForMeta(); err != nil {
		// The record, without its file, is removed when it expires.
		return
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(key(kindUpload, id))
	}); err != nil {
		s.log.Warn("cache: remove upload record", "id", id, "err", err)
	}
}

// expireUploads removes uploads idle for longer than uploadIdle, and
// upload files that have no record (a crash between creating the file
// and the record) once they are as old.
func (s *Store) expireUploads() {
	cutoff := s.now().Add(-uploadIdle)
	var expired []string
	known := make(map[string]bool)
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, []byte{kindUpload}, func(k, v []byte) error {
			id := string(k[1:])
			known[id] = true
			var m uploadMeta
			if json.Unmarshal(v, &m) != nil || m.lastActive().Before(cutoff) {
				expired = append(expired, id)
			}
			return nil
		})
	})
	if err != nil {
		s.log.Warn("cache: list uploads", "err", err)
		return
	}
	for _, id := range expired {
		if s.ctx.Err() != nil {
			return
		}
		unlock := s.lockUpload(id)
		s.removeUpload(id)
		unlock()
		s.log.Info("cache: expired upload", "id", id)
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, "uploads"))
	if err != nil {
		s.log.Warn("cache: list uploads", "err", err)
		return
	}
	for _, e := range entries {
		if known[e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(cutoff) {
			continue
		}
		unlock := s.lockUpload(e.Name())
		_ = os.Remove(s.uploadPath(e.Name()))
		unlock()
	}
}

// writeSealedUpload is WriteUpload in an encrypted store. The caller holds
// the upload's lock.
func (s *Store) writeSealedUpload(id string, offset int64, r io.Reader) (int64, error) {
	f, err := os.OpenFile(s.uploadPath(id), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, ErrUploadUnknown
	}
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	defer discard(f)
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("cache: %w", err)
	}
	size, err := sealedUploadSize(fi.Size())
	if err != nil {
		return 0, fmt.Errorf("cache: upload %s: %w", id, err)
	}
	if offset >= 0 && offset != size {
		return size, fmt.Errorf("%w: chunk starts at %d, upload holds %d bytes", ErrUploadOffset, offset, size)
	}
	_, after, err := s.appendSealedUpload(f, r)
	if err != nil {
		return after, fmt.Errorf("cache: upload %s: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return after, fmt.Errorf("cache: %w", err)
	}
	return after, nil
}
