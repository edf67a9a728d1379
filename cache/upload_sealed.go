package cache

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// Uploads in an encrypted store: the file is a header, full records and
// at most one partial, non-final record at the end (see crypt.go). An
// append re-seals that partial record with the new bytes; the commit
// seals the final record, which makes the file a complete blob file that
// is renamed into place like an unencrypted upload.

// writeUploadHeader starts the encrypted upload file f.
func (s *Store) writeUploadHeader(f *os.File) error {
	fc, err := s.enc.newFile()
	if err != nil {
		return err
	}
	_, err = f.Write(fc.header[:])
	return err
}

// sealedUploadSize is the plaintext size of an encrypted upload file of
// fileSize bytes.
func sealedUploadSize(fileSize int64) (int64, error) {
	full, partial, ok := uploadLayout(fileSize)
	if !ok {
		return 0, fmt.Errorf("%w: upload file has an impossible size %d", ErrCorrupt, fileSize)
	}
	return full*chunkSize + partial, nil
}

// appendSealedUpload appends r to the encrypted upload file f. It returns
// the plaintext size before and after. If r or a write fails, f is put
// back as it was and after is before.
func (s *Store) appendSealedUpload(f *os.File, r io.Reader) (before, after int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	full, partial, ok := uploadLayout(fi.Size())
	if !ok {
		return 0, 0, fmt.Errorf("%w: upload file has an impossible size %d", ErrCorrupt, fi.Size())
	}
	before = full*chunkSize + partial
	fc, err := s.enc.readFileCipher(f)
	if err != nil {
		return before, before, err
	}
	base := recordOffset(full)
	pending := make([]byte, 0, chunkSize)
	var oldTail []byte
	if partial > 0 {
		oldTail = make([]byte, partial+recordOverhead)
		if _, err := f.ReadAt(oldTail, base); err != nil {
			return before, before, err
		}
		if pending, err = fc.open(pending, oldTail, full, false); err != nil {
			return before, before, err
		}
	}
	rollback := func(cause error) (int64, int64, error) {
		err := f.Truncate(base)
		if err == nil && oldTail != nil {
			_, err = f.WriteAt(oldTail, base)
		}
		if err != nil {
			s.log.Error("cache: roll back upload chunk", "err", err)
			return before, before, errors.Join(cause, err)
		}
		return before, before, cause
	}

	off, idx, added := base, full, int64(0)
	rec := make([]byte, 0, fullRecord)
	flush := func() error {
		var err error
		if rec, err = fc.seal(rec[:0], pending, idx, false); err != nil {
			return err
		}
		if _, err := f.WriteAt(rec, off); err != nil {
			return err
		}
		off += int64(len(rec))
		idx++
		pending = pending[:0]
		return nil
	}
	for {
		m, rerr := io.ReadFull(r, pending[len(pending):chunkSize])
		pending = pending[:len(pending)+m]
		added += int64(m)
		if len(pending) == chunkSize {
			if err := flush(); err != nil {
				return rollback(err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rollback(rerr)
		}
	}
	if added == 0 {
		return before, before, nil
	}
	if len(pending) > 0 {
		if err := flush(); err != nil {
			return rollback(err)
		}
	}
	return before, before + added, nil
}

// finishSealedUpload hashes the plaintext of the encrypted upload file f
// into h and, if it then hashes to want, seals its final record so that f
// is a complete blob file. It returns the plaintext size and whether the
// digest matched; f is unchanged unless it matched.
func (s *Store) finishSealedUpload(f *os.File, h hash.Hash, match func() bool) (int64, bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, false, err
	}
	full, partial, ok := uploadLayout(fi.Size())
	if !ok {
		return 0, false, fmt.Errorf("%w: upload file has an impossible size %d", ErrCorrupt, fi.Size())
	}
	fc, err := s.enc.readFileCipher(f)
	if err != nil {
		return 0, false, err
	}
	cr := newChunkReader(f, fc)
	for i := range full {
		p, err := cr.chunk(i, chunkSize, false)
		if err != nil {
			return 0, false, err
		}
		h.Write(p)
	}
	var tail []byte
	if partial > 0 {
		if tail, err = cr.chunk(full, int(partial), false); err != nil {
			return 0, false, err
		}
		h.Write(tail)
	}
	n := full*chunkSize + partial
	if !match() {
		return n, false, nil
	}
	// The partial record (if any) becomes the final one, in place.
	rec, err := fc.seal(nil, tail, full, true)
	if err != nil {
		return n, true, err
	}
	if _, err := f.WriteAt(rec, recordOffset(full)); err != nil {
		return n, true, err
	}
	return n, true, nil
}
