package cache

import (
	"fmt"
	"time"
)

// Filesystem is the space of the filesystem that holds the store, as df
// counts it: Used and Avail (to an unprivileged writer) need not add up
// to Size, which includes blocks reserved for root.
type Filesystem struct {
	Size, Used, Avail int64
}

// UsedRatio is how full the filesystem is, as df reports it: used over
// used plus available.
func (f Filesystem) UsedRatio() float64 {
	if f.Used+f.Avail <= 0 {
		return 0
	}
	return float64(f.Used) / float64(f.Used+f.Avail)
}

// spaceInterval is how often the space watcher looks at the filesystem:
// other writers fill it too, and a store that cannot write tries again.
const spaceInterval = 10 * time.Second

// Space is the filesystem under the store and the watermarks it is kept
// within; ok is false when the filesystem cannot be measured.
func (s *Store) Space() (fs Filesystem, high, low float64, ok bool) {
	fs, err := s.statfs(s.dir)
	return fs, s.opts.HighWatermark, s.opts.LowWatermark, err == nil
}

func (s *Store) statfs(dir string) (Filesystem, error) {
	if s.opts.statfs != nil {
		return s.opts.statfs(dir)
	}
	return statfs(dir)
}

// checkWatermarks validates the watermark options.
func checkWatermarks(high, low float64) error {
	if high == 0 && low == 0 {
		return nil
	}
	if !(high > 0 && high <= 1) || !(low > 0 && low < high) {
		return fmt.Errorf("%w: watermarks must satisfy 0 < low < high <= 1 (high %v, low %v)", ErrInvalid, high, low)
	}
	return nil
}

// evictForFilesystem keeps the filesystem below the high watermark: past
// it, least recently used mirrored content is evicted until the
// filesystem is at the low watermark, or nothing evictable is left.
// Local content is never evicted; other files on the filesystem may keep
// it above the mark whatever the store evicts.
//
// Mirrored content is evicted for the metadata's headroom too
// (headroom.go), watermarks or not. On a filesystem another writer has
// filled, eviction's own metadata write needs the reserve file's blocks.
func (s *Store) evictForFilesystem() {
	high, low := s.opts.HighWatermark, s.opts.LowWatermark
	fs, err := s.statfs(s.dir)
	if err != nil {
		return
	}
	var need int64
	if high > 0 && fs.UsedRatio() > high {
		need = fs.Used - int64(low*float64(fs.Used+fs.Avail))
	}
	short := s.contentHeadroom() - fs.Avail
	need = max(need, short)
	if need <= 0 || !s.hasEvictable() {
		return
	}
	if s.roomForMeta() != nil {
		s.releaseReserve("to evict on a full filesystem")
	}
	evicted, freed := s.evictBytes(need)
	s.notifyEvicted(evicted)
	switch {
	case freed < need:
		s.log.Warn("cache: the filesystem is too full with no more mirrored content to evict",
			"used_bytes", fs.Used, "available_bytes", fs.Avail, "high_watermark", high, "headroom_bytes", s.contentHeadroom(), "evicted_bytes", freed)
	case short >= need:
		s.log.Info("cache: evicted for the metadata's headroom", "evicted_bytes", freed, "blobs", len(evicted), "headroom_bytes", s.contentHeadroom())
	default:
		s.log.Info("cache: evicted to the low watermark", "evicted_bytes", freed, "blobs", len(evicted), "low_watermark", low)
	}
}

// roomFor makes sure a blob of size bytes about to be fetched fits: within
// MaxBytes (evicting for it), and in the filesystem's free space beside
// the other blobs being fetched (evicting mirrored content for it). When
// it cannot fit the store refuses to store it, without failing: an error
// matching ErrCannotWrite, so that the blob passes through.
func (s *Store) roomFor(f *fetch, size int64) error {
	if size <= 0 {
		return nil
	}
	if s.opts.MaxBytes > 0 {
		evicted, fits := s.evict(size)
		s.notifyEvicted(evicted)
		if !fits {
			return s.noRoom(fmt.Sprintf("the size limit of %d bytes is held by content that cannot be evicted (pushed or in use)", s.opts.MaxBytes), size)
		}
	}
	fs, err := s.statfs(s.dir)
	if err != nil {
		return nil // not measurable: a failing write will say
	}
	keep := s.contentHeadroom()
	short := size + s.pendingBytes(f) + keep - fs.Avail
	if short <= 0 {
		return nil
	}
	evicted, freed := s.evictBytes(short)
	s.notifyEvicted(evicted)
	if freed >= short {
		return nil
	}
	return s.noRoom(fmt.Sprintf("the filesystem of %s has %d bytes free, too few for a blob of %d bytes and the %d kept free for the metadata", s.dir, fs.Avail+freed, size, keep), size)
}

// noRoom is roomFor's refusal: an episode of blobs that do not fit.
func (s *Store) noRoom(reason string, size int64) error {
	s.enterDegraded(reason, true)
	return fmt.Errorf("%w: a blob of %d bytes: %s", ErrCannotWrite, size, reason)
}

// pendingBytes is what the fetches in flight other than self have still
// to write, which the free space must hold too.
func (s *Store) pendingBytes(self *fetch) int64 {
	s.mu.Lock()
	fetches := make([]*fetch, 0, len(s.inflight))
	for _, f := range s.inflight {
		if f != self {
			fetches = append(fetches, f)
		}
	}
	s.mu.Unlock()
	var n int64
	for _, f := range fetches {
		f.mu.Lock()
		if f.size > f.written && !f.verified {
			n += f.size - f.written
		}
		f.mu.Unlock()
	}
	return n
}

// watchSpace keeps the filesystem within its watermarks as other writers
// fill it, and, while writes fail, probes until they work again.
func (s *Store) watchSpace() {
	defer s.wg.Done()
	interval := s.opts.spaceInterval
	if interval <= 0 {
		interval = spaceInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.checkSpace()
		}
	}
}

// checkSpace is one look of the space watcher.
func (s *Store) checkSpace() {
	s.evictForFilesystem()
	s.keepReserve()
	if !s.writesFailing() {
		return
	}
	if err := s.roomForMeta(); err != nil {
		s.log.Debug("cache: the metadata still has no room", "err", err)
		return
	}
	if !s.checkHeadroom() {
		return
	}
	if err := s.probeWrite(); err != nil {
		s.log.Debug("cache: the store still cannot write", "err", err)
		return
	}
	s.leaveDegraded("a probe write succeeded")
}

// hasEvictable says whether any blob could be evicted now.
func (s *Store) hasEvictable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, evictable, _ := s.oldestLocked(1)
	return evictable > 0
}
