package cache

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Reader reads one blob. Content is the *os.File itself when the blob is
// complete and the store is not encrypted, so net/http can send it with
// sendfile; in an encrypted store it decrypts the chunks it reads, and a
// Read fails (never returns wrong bytes) if the file was altered. While
// the blob is still being fetched Content is a reader whose Read blocks
// until the bytes have arrived, and fails if the blob cannot be completed
// or verified.
type Reader struct {
	Size    int64
	Content io.ReadSeeker

	complete bool
	close    func() error
	err      func() error
	once     sync.Once
	cerr     error
}

// Close releases the reader and its pin on the blob. It is idempotent.
func (r *Reader) Close() error {
	r.once.Do(func() {
		if r.close != nil {
			r.cerr = r.close()
		}
	})
	return r.cerr
}

// Complete reports whether the blob was complete and verified when the
// reader was opened (it was not being fetched).
func (r *Reader) Complete() bool { return r.complete }

// Err reports why an in-flight blob could not be completed, once a Read
// has failed; it is nil otherwise.
func (r *Reader) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err()
}

// followReader reads a blob that is still being fetched, through its own
// descriptor on the fetch's file, never past the bytes written so far.
type followReader struct {
	f    *fetch
	file *os.File
	// dec decrypts the file in an encrypted store; nil otherwise.
	dec *chunkReader
	off int64
	// closed is guarded by f.mu so Close can wake a blocked Read.
	closed bool
	failed error
}

var errReaderClosed = errors.New("cache: reader closed")

func (r *followReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f := r.f
	f.mu.Lock()
	for r.off >= f.releasable() && !f.done && !f.verified && f.err == nil && !r.closed {
		f.cond.Wait()
	}
	written, ferr, closed, verified := f.releasable(), f.err, r.closed, f.verified
	if f.verified {
		// What failed after verification (storing) does not touch the
		// bytes this reader hands out: its descriptor still has them.
		ferr = nil
	}
	if ferr != nil {
		r.failed = ferr
	}
	f.mu.Unlock()
	switch {
	case closed:
		return 0, errReaderClosed
	case ferr != nil:
		return 0, ferr
	case r.off >= written:
		// done, and every byte has been read: the blob is verified.
		return 0, io.EOF
	}
	if avail := written - r.off; int64(len(p)) > avail {
		p = p[:avail]
	}
	if r.dec != nil {
		// written counts whole sealed chunks until the fetch is verified,
		// when the final, partial chunk has been sealed too.
		n, err := r.dec.readAt(p, r.off, written, verified)
		r.off += int64(n)
		if err != nil {
			return n, fmt.Errorf("cache: read %s: %w", f.d, err)
		}
		return n, nil
	}
	n, err := r.file.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("cache: read %s: %w", f.d, err)
	}
	if err == io.EOF {
		// The file is shorter than what the fetch has written: it was
		// truncated under us.
		return n, fmt.Errorf("cache: read %s: unexpected end of file", f.d)
	}
	return n, nil
}

// Seek sets the offset for the next Read. It never blocks: a Read past
// the bytes written so far waits for them. SeekEnd needs the size, which
// is known by the time Fetch returns.
func (r *followReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		r.f.mu.Lock()
		size := r.f.size
		r.f.mu.Unlock()
		if size < 0 {
			return 0, errors.New("cache: seek from end of a blob of unknown size")
		}
		abs = size + offset
	default:
		return 0, errors.New("cache: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("cache: negative position")
	}
	r.off = abs
	return abs, nil
}

func (r *followReader) close() error {
	r.f.mu.Lock()
	r.closed = true
	r.f.cond.Broadcast()
	r.f.mu.Unlock()
	return r.file.Close()
}

func (r *followReader) errFn() error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	return r.failed
}
