package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// Source opens a blob's content from elsewhere (a peer, an upstream). size
// is the declared length, or -1 if unknown. It is called at most once per
// fetch, with a context that is not the caller's: it ends when the store
// closes or the transfer stalls.
type Source func(ctx context.Context) (body io.ReadCloser, size int64, err error)

// Confirmed is a Source's body whose source vouches that a repository
// holds the blob (an upstream serving it under that repository's name):
// the blob is linked into that repository, as fetched content, in the
// transaction that stores it.
type Confirmed interface {
	ConfirmedIn() (repo string)
}

// fetch is one blob being filled from a Source into a temp file. Readers
// follow it by opening the file themselves and reading up to written.
type fetch struct {
	d   digest.Digest
	tmp string
	// header is the encryption header of tmp in an encrypted store, from
	// which followers make their own cipher.
	header []byte

	readyOnce sync.Once
	// ready is closed when src has returned with a known size, or when the
	// fetch has ended (which is when the size of an unknown-length blob
	// becomes known).
	ready chan struct{}

	mu   sync.Mutex
	cond *sync.Cond
	size int64 // -1 until known
	// written is how many bytes followers may read: all that arrived, or
	// in an encrypted store the whole chunks sealed so far and, once
	// verified, all of them.
	written int64
	// committed: the file has left tmp (renamed into place, or dropped
	// because d was already stored); open the stored blob instead.
	committed bool
	// verified: every byte has arrived and matched the digest. Readers
	// may finish then, without waiting for the fsync and rename that
	// store the blob; a failure after this point loses only the cache
	// entry, not what readers were given.
	verified bool
	done     bool  // verified and stored
	err      error // why the fetch failed
	// pieces are the PieceSize piece digests of the bytes written so far
	// (when the store hashes pieces on write): a node passes them on to
	// the peers that fetch the blob from it while it arrives.
	pieces []digest.Digest
}

// releasable is how much of the blob followers may read: never the last
// byte of a blob of known size before it is verified, so that a blob that
// fails verification always breaks the response instead of ending it
// cleanly with wrong bytes. Callers hold f.mu.
func (f *fetch) releasable() int64 {
	if f.verified || f.done || f.size < 0 || f.written < f.size {
		return f.written
	}
	return f.size - 1
}

func (f *fetch) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

// bufSize is the copy buffer of one fetch.
const bufSize = 512 << 10

// Fetch returns a reader of blob d. A stored blob is read from its file. A
// blob being fetched is followed. Otherwise src is called to fetch it,
// once for all concurrent callers, on a context detached from ctx so that
// a caller going away neither aborts nor poisons the fill.
//
// Fetch returns once src has returned and the size is known (for a size of
// -1, once the whole blob is stored). Reads of an unfinished blob block
// until the bytes arrive; if the blob fails verification, has the wrong
// size or src's body fails, nothing is stored and Reads fail (Err reports
// why; ErrDigestMismatch or ErrSizeMismatch for bad content). ctx bounds
// only the wait of this caller.
func (s *Store) Fetch(ctx context.Context, d digest.Digest, src Source) (*Reader, error) {
	if err := validDigest(d); err != nil {
		return nil, err
	}
	return s.fetchOrFollow(ctx, d, src)
}

// fetchOrFollow is Fetch, and with a nil src Follow: a blob neither
// stored nor being fetched is then ErrNotFound.
func (s *Store) fetchOrFollow(ctx context.Context, d digest.Digest, src Source) (*Reader, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if bi := s.blobs[d]; bi != nil {
		s.pins[d]++
		s.touchLocked(d, bi)
		size := bi.size
		s.mu.Unlock()
		r, err := s.openStored(d, size)
		if err != nil {
			s.unpin(d)
		}
		return r, err
	}
	f := s.inflight[d]
	if f == nil && src == nil {
		s.mu.Unlock()
		return nil, ErrNotFound
	}
	if f == nil && s.writesFailing() {
		s.mu.Unlock()
		h := s.Health()
		return nil, fmt.Errorf("%w: %s", ErrCannotWrite, h.Reason)
	}
	if f == nil {
		file, err := s.createTemp()
		if err != nil {
			s.mu.Unlock()
			return nil, s.writeFailed(fmt.Errorf("cache: %w", err))
		}
		var fc *fileCipher
		if s.enc != nil {
			if fc, err = s.enc.newFile(); err != nil {
				s.mu.Unlock()
				_ = file.Close()
				_ = os.Remove(file.Name())
				return nil, err
			}
		}
		f = &fetch{d: d, tmp: file.Name(), size: -1, ready: make(chan struct{})}
		if fc != nil {
			f.header = fc.header[:]
		}
		f.cond = sync.NewCond(&f.mu)
		s.inflight[d] = f
		s.wg.Add(1)
		go s.runFetch(ctx, f, file, fc, src)
	}
	s.pins[d]++
	s.mu.Unlock()

	select {
	case <-f.ready:
	case <-ctx.Done():
		s.unpin(d)
		return nil, ctx.Err()
	}
	r, err := s.follow(f)
	if err != nil {
		s.unpin(d)
	}
	return r, err
}

// follow opens a reader on fetch f, whose digest the caller has pinned;
// the reader takes over the pin.
func (s *Store) follow(f *fetch) (*Reader, error) {
	f.mu.Lock()
	var file *os.File
	for {
		if f.err != nil {
			err := f.err
			f.mu.Unlock()
			return nil, err
		}
		if f.committed {
			size := f.written
			f.mu.Unlock()
			return s.openStored(f.d, size)
		}
		var err error
		file, err = os.Open(f.tmp)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			f.mu.Unlock()
			return nil, fmt.Errorf("cache: %w", err)
		}
		// The file is between tmp and its final place: wait for the
		// fetch to say where it went.
		f.cond.Wait()
	}
	size := f.size
	f.mu.Unlock()
	fr := &followReader{f: f, file: file}
	if s.enc != nil {
		fc, err := s.enc.fileFromHeader(f.header)
		if err != nil {
			_ = file.Close()
			return nil, err
		}
		fr.dec = newChunkReader(file, fc)
	}
	d := f.d
	return &Reader{
		Size:    size,
		Content: fr,
		close: func() error {
			err := fr.close()
			s.unpin(d)
			return err
		},
		err: fr.errFn,
	}, nil
}

// runFetch fills f from src and commits it, or fails it. fc seals the
// file in an encrypted store; it is nil otherwise.
func (s *Store) runFetch(parent context.Context, f *fetch, file *os.File, fc *fileCipher, src Source) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer cancel()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	defer stopOnClose()

	// The body is closed when ctx ends (idle or store closing) so that a
	// Read blocked on the network returns.
	var (
		bodyMu    sync.Mutex
		body      io.ReadCloser
		bodyShut  bool
		idleFired atomic.Bool
	)
	closeBody := func() {
		bodyMu.Lock()
		defer bodyMu.Unlock()
		if body != nil && !bodyShut {
			bodyShut = true
			_ = body.Close()
		}
	}
	defer closeBody()
	stopCloseBody := context.AfterFunc(ctx, closeBody)
	defer stopCloseBody()
	idle := s.idleTimeout
	timer := time.AfterFunc(idle, func() {
		idleFired.Store(true)
		cancel()
	})
	defer timer.Stop()

	reason := func(err error) error {
		switch {
		case idleFired.Load():
			return fmt.Errorf("cache: fetch %s: no data for %v: %w", f.d, idle, err)
		case s.ctx.Err() != nil:
			return fmt.Errorf("cache: fetch %s: %w", f.d, ErrClosed)
		}
		return fmt.Errorf("cache: fetch %s: %w", f.d, err)
	}

	var (
		w  io.Writer = file
		sw *sealWriter
	)
	if fc != nil {
		var err error
		if sw, err = newSealWriter(file, fc); err != nil {
			s.failFetch(f, file, fmt.Errorf("cache: fetch %s: %w", f.d, err))
			return
		}
		w = sw
	}
	// Content keeps off the metadata's headroom (headroom.go).
	w = &headroomWriter{w: w, g: headroomGuard{s: s}}

	b, size, err := src(ctx)
	if err == nil && b == nil {
		err = errors.New("source returned no body")
	}
	if err != nil {
		s.failFetch(f, file, reason(err))
		return
	}
	bodyMu.Lock()
	body = b
	bodyMu.Unlock()
	if ctx.Err() != nil {
		closeBody()
	}
	if size < 0 {
		size = -1
	}
	f.mu.Lock()
	f.size = size
	f.mu.Unlock()
	// A blob that cannot fit is refused before any follower reads it, so
	// that each can take it from its source without storing it.
	if err := s.roomFor(f, size); err != nil {
		s.failFetch(f, file, fmt.Errorf("cache: fetch %s: %w", f.d, err))
		return
	}
	if size >= 0 {
		f.markReady()
	}
	s.log.Debug("cache: fetch started", "digest", f.d, "size", size)

	h := f.d.Algorithm().Hash()
	ph := s.piecesOnWrite()
	if c, ok := b.(CheckedPieces); ok && ph != nil {
		ph.checked = c
	}
	buf := make([]byte, bufSize)
	var n int64
	for {
		m, rerr := b.Read(buf)
		if m > 0 {
			timer.Reset(idle)
			if size >= 0 && n+int64(m) > size {
				s.failFetch(f, file, fmt.Errorf("%w: %s: more than the declared %d bytes", ErrSizeMismatch, f.d, size))
				return
			}
			if _, werr := w.Write(buf[:m]); werr != nil {
				s.failFetch(f, file, s.writeFailed(fmt.Errorf("cache: fetch %s: %w", f.d, werr)))
				return
			}
			h.Write(buf[:m])
			ph.Write(buf[:m])
			n += int64(m)
			readable := n
			if sw != nil {
				readable = sw.sealed
			}
			f.mu.Lock()
			f.written = readable
			if ph != nil && len(ph.pieces) > len(f.pieces) && !ph.broken {
				// ph only appends, so this prefix never changes under
				// the readers that copy it.
				f.pieces = ph.pieces[:len(ph.pieces):len(ph.pieces)]
			}
			f.cond.Broadcast()
			f.mu.Unlock()
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			s.failFetch(f, file, reason(rerr))
			return
		}
	}
	timer.Stop()
	if size >= 0 && n != size {
		s.failFetch(f, file, fmt.Errorf("%w: %s: got %d bytes, declared %d", ErrSizeMismatch, f.d, n, size))
		return
	}
	got := digest.NewDigest(f.d.Algorithm(), h)
	// A source that must know whether its bytes were right (to blame the
	// peers that sent them) is told, so that it need not hash them again.
	if v, ok := b.(interface{ Verified(ok bool) }); ok {
		v.Verified(got == f.d)
	}
	if got != f.d {
		s.failFetch(f, file, fmt.Errorf("%w: want %s, got %s", ErrDigestMismatch, f.d, got))
		return
	}
	if sw != nil {
		if err := sw.Close(); err != nil {
			s.failFetch(f, file, s.writeFailed(fmt.Errorf("cache: fetch %s: %w", f.d, err)))
			return
		}
	}
	f.mu.Lock()
	f.written = n
	f.verified = true
	f.cond.Broadcast()
	f.mu.Unlock()
	if err := file.Sync(); err != nil {
		s.failFetch(f, file, s.writeFailed(fmt.Errorf("cache: fetch %s: %w", f.d, err)))
		return
	}
	if err := file.Close(); err != nil {
		s.failFetch(f, nil, s.writeFailed(fmt.Errorf("cache: fetch %s: %w", f.d, err)))
		return
	}
	var link func(mt *metaTxn) error
	if c, ok := b.(Confirmed); ok {
		if repo := c.ConfirmedIn(); validName("repository", repo) == nil {
			link = func(mt *metaTxn) error { return mt.link(repo, false, f.d) }
		}
	}
	isNew, freed, err := s.commitFile(f.tmp, f.d, n, ph.Sum(), link, func() {
		f.mu.Lock()
		f.committed = true
		f.size = n
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	if err != nil {
		s.failFetch(f, nil, s.writeFailed(fmt.Errorf("cache: fetch %s: %w", f.d, err)))
		return
	}
	s.stored()
	s.mu.Lock()
	if s.inflight[f.d] == f {
		delete(s.inflight, f.d)
	}
	s.mu.Unlock()
	f.mu.Lock()
	f.done = true
	f.cond.Broadcast()
	f.mu.Unlock()
	f.markReady()
	s.log.Debug("cache: fetch stored", "digest", f.d, "size", n)
	s.added(f.d, n, isNew, freed)
}

// failFetch ends f with err: the temp file goes, later callers start a new
// fetch, and followers' Reads return err.
func (s *Store) failFetch(f *fetch, file *os.File, err error) {
	if file != nil {
		_ = file.Close()
	}
	if rerr := os.Remove(f.tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		s.log.Warn("cache: remove temp file", "path", f.tmp, "err", rerr)
	}
	s.mu.Lock()
	if s.inflight[f.d] == f {
		delete(s.inflight, f.d)
	}
	s.mu.Unlock()
	f.mu.Lock()
	f.err = err
	f.cond.Broadcast()
	f.mu.Unlock()
	f.markReady()
	if errors.Is(err, ErrCannotWrite) {
		// Logged once per episode (health.go); the blob passes through.
		s.log.Debug("cache: fetch not stored", "digest", f.d, "err", err)
		return
	}
	s.log.Warn("cache: fetch failed", "digest", f.d, "err", err)
}
