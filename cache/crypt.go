package cache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Encryption at rest of blob, fetch and upload files (metadata is covered
// by badger's own encryption).
//
// An encrypted file is a header followed by records:
//
//	header: "SHOALENC" | version (1) | log2 chunk size (16) | salt (32 bytes)
//	record: nonce (12 bytes) | AES-256-GCM ciphertext of one chunk | tag (16)
//
// Chunk i holds plaintext bytes [i*chunkSize, (i+1)*chunkSize) and its
// record starts at headerSize + i*fullRecord, so a Range read decrypts
// only the chunks it touches. The file key is HKDF-SHA256 of the master
// key with the header's random salt. Each record authenticates the
// header, its chunk index and whether it is the final chunk, so records
// cannot be moved, dropped from the end or swapped between files.
//
// A complete file (a blob, or a fetch or PutBlob in progress once
// finished) of n plaintext bytes has n/chunkSize full records and a final
// record of n%chunkSize bytes, possibly empty. An upload has full records
// and at most one partial, non-final record at the end, which each
// append re-seals; CommitUpload seals the final record.
//
// Nonces are random rather than the chunk index: an upload's last record
// is re-sealed on every append, and a failed append is rolled back and may
// be retried with other bytes, so a chunk index is not unique per key.
// With a fresh key per file and at most a few hundred thousand records
// per file, 96-bit random nonces are far from colliding.
const (
	chunkShift     = 16
	chunkSize      = 1 << chunkShift
	nonceSize      = 12
	tagSize        = 16
	recordOverhead = nonceSize + tagSize
	fullRecord     = chunkSize + recordOverhead
	saltSize       = 32
	headerSize     = len(fileMagic) + 2 + saltSize
	fileMagic      = "SHOALENC"
	fileVersion    = 1

	// KeySize is the length of an encryption key.
	KeySize = 32
)

// HKDF info strings: one key per purpose.
const (
	infoFileKey  = "shoal cache file key v1"
	infoBadger   = "shoal cache badger key v1"
	infoKeyCheck = "shoal cache key check v1"
)

// ErrCorrupt is returned when stored encrypted content fails
// authentication: it was altered, truncated or written under another key.
var ErrCorrupt = errors.New("cache: stored content failed authentication")

// encryption holds the master key of an encrypted store.
type encryption struct{ master []byte }

func newEncryption(key []byte) (*encryption, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("cache: encryption key must be %d bytes, got %d", KeySize, len(key))
	}
	return &encryption{master: append([]byte(nil), key...)}, nil
}

func (e *encryption) derive(salt []byte, info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, e.master, salt, info, n)
	if err != nil {
		// Only possible for n > 255*32.
		panic(err)
	}
	return k
}

// badgerKey is the key badger encrypts metadata with.
func (e *encryption) badgerKey() []byte { return e.derive(nil, infoBadger, KeySize) }

// checkValue identifies the key without revealing it.
func (e *encryption) checkValue() []byte { return e.derive(nil, infoKeyCheck, 16) }

// fileCipher seals and opens the records of one file.
type fileCipher struct {
	header [headerSize]byte
	aead   cipher.AEAD
}

// newFile makes the cipher of a new file, with a random salt.
func (e *encryption) newFile() (*fileCipher, error) {
	var h [headerSize]byte
	copy(h[:], fileMagic)
	h[len(fileMagic)] = fileVersion
	h[len(fileMagic)+1] = chunkShift
	if _, err := rand.Read(h[len(fileMagic)+2:]); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return e.fileFromHeader(h[:])
}

// fileFromHeader makes the cipher of an existing file from its header.
func (e *encryption) fileFromHeader(h []byte) (*fileCipher, error) {
	if len(h) != headerSize || string(h[:len(fileMagic)]) != fileMagic {
		return nil, fmt.Errorf("%w: not an encrypted store file", ErrCorrupt)
	}
	if h[len(fileMagic)] != fileVersion || h[len(fileMagic)+1] != chunkShift {
		return nil, fmt.Errorf("%w: unsupported file format %d/%d", ErrCorrupt, h[len(fileMagic)], h[len(fileMagic)+1])
	}
	fc := &fileCipher{}
	copy(fc.header[:], h)
	block, err := aes.NewCipher(e.derive(fc.header[len(fileMagic)+2:], infoFileKey, 32))
	if err != nil {
		return nil, err
	}
	if fc.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return fc, nil
}

// readFileCipher reads the header of f and makes its cipher.
func (e *encryption) readFileCipher(f io.ReaderAt) (*fileCipher, error) {
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: file shorter than its header", ErrCorrupt)
		}
		return nil, fmt.Errorf("cache: %w", err)
	}
	return e.fileFromHeader(h[:])
}

func (fc *fileCipher) aad(buf *[headerSize + 9]byte, idx int64, final bool) []byte {
	copy(buf[:], fc.header[:])
	binary.BigEndian.PutUint64(buf[headerSize:], uint64(idx))
	buf[headerSize+8] = 0
	if final {
		buf[headerSize+8] = 1
	}
	return buf[:]
}

// seal appends the record of chunk idx holding plain to dst.
func (fc *fileCipher) seal(dst, plain []byte, idx int64, final bool) ([]byte, error) {
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	var ad [headerSize + 9]byte
	dst = append(dst, nonce[:]...)
	return fc.aead.Seal(dst, nonce[:], plain, fc.aad(&ad, idx, final)), nil
}

// open appends the plaintext of record rec, chunk idx, to dst.
func (fc *fileCipher) open(dst, rec []byte, idx int64, final bool) ([]byte, error) {
	if len(rec) < recordOverhead {
		return nil, fmt.Errorf("%w: short record", ErrCorrupt)
	}
	var ad [headerSize + 9]byte
	out, err := fc.aead.Open(dst, rec[:nonceSize], rec[nonceSize:], fc.aad(&ad, idx, final))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d", ErrCorrupt, idx)
	}
	return out, nil
}

// recordOffset is where the record of chunk idx starts.
func recordOffset(idx int64) int64 { return int64(headerSize) + idx*fullRecord }

// sealedSize is the file size of a complete encrypted file of n bytes.
func sealedSize(n int64) int64 {
	return recordOffset(n/chunkSize) + n%chunkSize + recordOverhead
}

// plainSize is the plaintext size of a complete encrypted file of
// fileSize bytes; ok is false when no plaintext size gives that size.
func plainSize(fileSize int64) (n int64, ok bool) {
	rest := fileSize - int64(headerSize) - recordOverhead
	if rest < 0 {
		return 0, false
	}
	full, last := rest/fullRecord, rest%fullRecord
	if last >= chunkSize {
		return 0, false
	}
	return full*chunkSize + last, true
}

// uploadLayout splits an upload file of fileSize bytes into its full
// records and the plaintext length of its partial last record (0: none).
func uploadLayout(fileSize int64) (full, partial int64, ok bool) {
	rest := fileSize - int64(headerSize)
	if rest < 0 {
		return 0, 0, false
	}
	full, last := rest/fullRecord, rest%fullRecord
	switch {
	case last == 0:
		return full, 0, true
	case last <= recordOverhead:
		return 0, 0, false
	}
	return full, last - recordOverhead, true
}

// sealWriter encrypts a stream into a complete encrypted file: whole
// chunks are sealed as they fill, the rest by Close.
type sealWriter struct {
	fc     *fileCipher
	w      io.Writer
	buf    []byte // pending plaintext, less than a chunk
	rec    []byte
	idx    int64
	sealed int64 // plaintext bytes written out in records
	err    error
}

// newSealWriter writes the header of fc to w.
func newSealWriter(w io.Writer, fc *fileCipher) (*sealWriter, error) {
	if _, err := w.Write(fc.header[:]); err != nil {
		return nil, err
	}
	return &sealWriter{fc: fc, w: w, buf: make([]byte, 0, chunkSize), rec: make([]byte, 0, fullRecord)}, nil
}

func (s *sealWriter) writeRecord(plain []byte, final bool) error {
	rec, err := s.fc.seal(s.rec[:0], plain, s.idx, final)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(rec); err != nil {
		return err
	}
	s.idx++
	s.sealed += int64(len(plain))
	return nil
}

func (s *sealWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for len(p) > 0 {
		if len(s.buf) == 0 && len(p) >= chunkSize {
			// A whole chunk straight from p, without copying it.
			if s.err = s.writeRecord(p[:chunkSize], false); s.err != nil {
				return n, s.err
			}
			p, n = p[chunkSize:], n+chunkSize
			continue
		}
		m := copy(s.buf[len(s.buf):chunkSize], p)
		s.buf, p, n = s.buf[:len(s.buf)+m], p[m:], n+m
		if len(s.buf) == chunkSize {
			if s.err = s.writeRecord(s.buf, false); s.err != nil {
				return n, s.err
			}
			s.buf = s.buf[:0]
		}
	}
	return n, nil
}

// Close seals the final record. It does not close the underlying writer.
func (s *sealWriter) Close() error {
	if s.err != nil {
		return s.err
	}
	s.err = s.writeRecord(s.buf, true)
	if s.err == nil {
		s.buf = s.buf[:0]
		s.err = errors.New("cache: write after close")
		return nil
	}
	return s.err
}

// chunkReader decrypts the records of one file, caching the last chunk.
type chunkReader struct {
	fc     *fileCipher
	f      io.ReaderAt
	rec    []byte
	plain  []byte
	cached int64 // index of the chunk in plain, -1 for none
}

func newChunkReader(f io.ReaderAt, fc *fileCipher) *chunkReader {
	return &chunkReader{fc: fc, f: f, cached: -1}
}

// chunk returns the plaintext of chunk idx, which holds n bytes. The
// result is valid until the next call.
func (c *chunkReader) chunk(idx int64, n int, final bool) ([]byte, error) {
	if c.cached == idx && len(c.plain) == n {
		return c.plain, nil
	}
	c.cached = -1
	if c.rec == nil {
		c.rec = make([]byte, fullRecord)
		c.plain = make([]byte, 0, chunkSize)
	}
	rec := c.rec[:n+recordOverhead]
	if _, err := c.f.ReadAt(rec, recordOffset(idx)); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: chunk %d is cut short", ErrCorrupt, idx)
		}
		return nil, fmt.Errorf("cache: %w", err)
	}
	p, err := c.fc.open(c.plain[:0], rec, idx, final)
	if err != nil {
		return nil, err
	}
	c.plain, c.cached = p, idx
	return p, nil
}

// readAt reads plaintext at off, below limit. The chunk holding limit is
// the final one when complete is set; otherwise limit is a chunk boundary
// and every chunk below it is full.
func (c *chunkReader) readAt(p []byte, off, limit int64, complete bool) (int, error) {
	total := 0
	for len(p) > 0 && off < limit {
		idx := off / chunkSize
		n := int64(chunkSize)
		final := complete && idx == limit/chunkSize
		if final {
			n = limit % chunkSize
		}
		data, err := c.chunk(idx, int(n), final)
		if err != nil {
			return total, err
		}
		m := copy(p, data[off-idx*chunkSize:])
		p, off, total = p[m:], off+int64(m), total+m
	}
	return total, nil
}

// blobReader reads a complete encrypted blob as plaintext.
type blobReader struct {
	cr   *chunkReader
	size int64
	off  int64
	// finalOK: the final record authenticated, so reading to the end
	// proves the file was not cut short.
	finalOK bool
}

func (r *blobReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.off >= r.size {
		if !r.finalOK {
			if _, err := r.cr.chunk(r.size/chunkSize, int(r.size%chunkSize), true); err != nil {
				return 0, err
			}
			r.finalOK = true
		}
		return 0, io.EOF
	}
	n, err := r.cr.readAt(p, r.off, r.size, true)
	r.off += int64(n)
	if err == nil && r.off == r.size && r.size%chunkSize != 0 {
		r.finalOK = true // the last bytes came from the final record
	}
	return n, err
}

// ReadAt reads plaintext at off without moving the Read position.
func (r *blobReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("cache: negative offset")
	}
	n, err := r.cr.readAt(p, off, r.size, true)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (r *blobReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("cache: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("cache: negative position")
	}
	r.off = abs
	return abs, nil
}
