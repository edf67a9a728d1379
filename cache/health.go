package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ErrCannotWrite says the store cannot take new content now: its
// filesystem is full or failing, or its size limit is held by content
// that may not be evicted. Nothing stored is affected, and the content
// asked for can still be served without being stored (pass-through).
var ErrCannotWrite = errors.New("cache: cannot write")

// Health is whether the store can write.
type Health struct {
	// Degraded is true while the store cannot write: content is then
	// served without being stored.
	Degraded bool
	// Reason says why, for an operator.
	Reason string
	// Since is when the episode began.
	Since time.Time
}

// health is the store's write state. It is changed by failed writes (enter)
// and by the space watcher's probe or a write that succeeds (leave); each
// change is logged once, so an episode is one warning and one notice.
type health struct {
	mu sync.Mutex
	h  Health
	// perBlob: the episode is of blobs that did not fit (the size limit
	// or the free space), not of a failing filesystem: smaller blobs are
	// still tried, and the next one stored ends it.
	perBlob bool
}

// Health reports whether the store can write now.
func (s *Store) Health() Health {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.h
}

// writesFailing reports whether fetches should pass through without
// trying to write: the filesystem failed and the probe has not yet seen
// it recover. Whether a blob fits is decided per blob instead.
func (s *Store) writesFailing() bool {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.h.Degraded && !s.health.perBlob
}

// enterDegraded starts (or continues) an episode.
func (s *Store) enterDegraded(reason string, perBlob bool) {
	s.health.mu.Lock()
	was := s.health.h.Degraded
	switch {
	case !was:
		s.health.h = Health{Degraded: true, Reason: reason, Since: s.now()}
		s.health.perBlob = perBlob
	case s.health.perBlob && !perBlob:
		// A failing filesystem is the stronger reason: say it.
		s.health.h.Reason = reason
		s.health.perBlob = false
	}
	s.health.mu.Unlock()
	if !was {
		s.log.Warn("cache: the store cannot write; serving content without storing it until it can", "reason", reason)
	}
}

// leaveDegraded ends an episode, if one is on.
func (s *Store) leaveDegraded(how string) {
	s.health.mu.Lock()
	h := s.health.h
	s.health.h = Health{}
	s.health.perBlob = false
	s.health.mu.Unlock()
	if h.Degraded {
		s.log.Info("cache: the store can write again; storing content again", "how", how, "was", h.Reason, "for", s.now().Sub(h.Since).Round(time.Second))
	}
}

// stored ends an episode of blobs that did not fit: one did. (An
// episode of a failing filesystem is left by the probe.)
func (s *Store) stored() {
	s.health.mu.Lock()
	perBlob := s.health.h.Degraded && s.health.perBlob
	s.health.mu.Unlock()
	if perBlob {
		s.leaveDegraded("a blob was stored")
	}
}

// writeFailed looks at err from a write of the store: a full or failing
// filesystem (ENOSPC, EDQUOT, EIO, EROFS) starts an episode, and the
// error then also matches ErrCannotWrite. Other errors are returned as
// they are.
func (s *Store) writeFailed(err error) error {
	if err == nil || !isWriteFailure(err) {
		return err
	}
	// The space watcher evicts for a full filesystem and probes until
	// writes work again (callers may hold s.meta, so not here).
	s.enterDegraded(fmt.Sprintf("the filesystem of %s cannot be written: %v", s.dir, rootCause(err)), false)
	if errors.Is(err, ErrCannotWrite) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrCannotWrite, err)
}

// isWriteFailure says whether err is the filesystem refusing writes, as
// opposed to bad content or a closed store.
func isWriteFailure(err error) bool {
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// rootCause is the innermost error of err, for a short reason.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// probeBytes is what the probe writes: enough that a filesystem with
// only a few blocks left does not pass.
const probeBytes = 1 << 20

// probeWrite checks that the store can write again: a file of
// probeBytes can be written, synced and removed under tmp/.
func (s *Store) probeWrite() error {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "probe-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.Write(make([]byte, probeBytes)); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
