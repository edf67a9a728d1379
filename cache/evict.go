package cache

import (
	"sort"

	"github.com/opencontainers/go-digest"
)

// maybeEvict removes least recently used blobs until the store (its blobs
// and open uploads) is within MaxBytes, and its filesystem below the
// high watermark (see space.go). Blobs linked into a local repository,
// pinned by a reader, or still being written (not yet in s.blobs) are
// never candidates.
func (s *Store) maybeEvict() {
	s.evictForFilesystem()
	if s.opts.MaxBytes <= 0 {
		return
	}
	s.meta.Lock()
	evicted, _ := s.evictLocked(0)
	s.meta.Unlock()
	s.notifyEvicted(evicted)
}

// evictCand is a blob eviction may remove.
type evictCand struct {
	d     digest.Digest
	size  int64
	atime int64
}

// candidatesLocked lists the blobs eviction may remove, least recently
// used first, and their total size. The caller holds s.mu.
func (s *Store) candidatesLocked() ([]evictCand, int64) {
	var cands []evictCand
	var evictable int64
	for d, bi := range s.blobs {
		if bi.localLinks > 0 || s.pins[d] > 0 {
			continue
		}
		cands = append(cands, evictCand{d, bi.size, bi.atime})
		evictable += bi.size
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].atime != cands[j].atime {
			return cands[i].atime < cands[j].atime
		}
		return cands[i].d < cands[j].d
	})
	return cands, evictable
}

// takeLocked removes c from the in-memory state, under the same lock
// that pins, so no reader can open it from here on. The caller holds
// s.mu, and then drops its file with dropVictimsLocked.
func (s *Store) takeLocked(c evictCand) {
	delete(s.blobs, c.d)
	delete(s.dirty, c.d)
	s.total -= c.size
}

// dropVictimsLocked removes the files and records of blobs taken with
// takeLocked, and returns those removed. The caller holds s.meta.
func (s *Store) dropVictimsLocked(victims []evictCand) []digest.Digest {
	evicted := make([]digest.Digest, 0, len(victims))
	for _, v := range victims {
		if err := s.dropBlobLocked(v.d); err != nil {
			s.log.Error("cache: evict", "digest", v.d, "err", err)
			continue
		}
		s.log.Debug("cache: evicted", "digest", v.d, "size", v.size)
		evicted = append(evicted, v.d)
	}
	return evicted
}

// evictLocked evicts until the store's size plus extra bytes about to be
// written is within MaxBytes, and reports whether it then is. For extra
// bytes that would not fit even with every candidate gone it evicts
// nothing: they will be refused, and the mirrored content is worth more
// kept. The caller holds s.meta.
func (s *Store) evictLocked(extra int64) ([]digest.Digest, bool) {
	s.mu.Lock()
	fits := func() bool { return s.total+s.uploadBytes+extra <= s.opts.MaxBytes }
	if s.closed || fits() {
		ok := fits()
		s.mu.Unlock()
		return nil, ok
	}
	cands, evictable := s.candidatesLocked()
	if extra > 0 && s.total-evictable+s.uploadBytes+extra > s.opts.MaxBytes {
		s.mu.Unlock()
		return nil, false
	}
	var victims []evictCand
	for _, c := range cands {
		if fits() {
			break
		}
		s.takeLocked(c)
		victims = append(victims, c)
	}
	ok := fits()
	over, total, uploads := s.total+s.uploadBytes > s.opts.MaxBytes, s.total, s.uploadBytes
	s.mu.Unlock()

	evicted := s.dropVictimsLocked(victims)
	if over {
		s.log.Warn("cache: over the size limit with nothing evictable",
			"blob_bytes", total, "upload_bytes", uploads, "max_bytes", s.opts.MaxBytes)
	}
	return evicted, ok
}

// evictBytesLocked evicts least recently used blobs until at least need
// bytes are freed or no candidate is left, and returns how many bytes
// it freed. The caller holds s.meta.
func (s *Store) evictBytesLocked(need int64) ([]digest.Digest, int64) {
	s.mu.Lock()
	if s.closed || need <= 0 {
		s.mu.Unlock()
		return nil, 0
	}
	cands, _ := s.candidatesLocked()
	var victims []evictCand
	var freed int64
	for _, c := range cands {
		if freed >= need {
			break
		}
		s.takeLocked(c)
		victims = append(victims, c)
		freed += c.size
	}
	s.mu.Unlock()
	return s.dropVictimsLocked(victims), freed
}

// atimeEntry is one access time waiting to be persisted.
type atimeEntry struct {
	d           digest.Digest
	size, atime int64
}

// flushAtimesLocked persists the access times recorded since the last
// flush in one batch. The caller holds s.meta, so no blob record is
// recreated after its blob was removed.
func (s *Store) flushAtimesLocked() error {
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return nil
	}
	list := make([]atimeEntry, 0, len(s.dirty))
	for d := range s.dirty {
		if bi := s.blobs[d]; bi != nil {
			list = append(list, atimeEntry{d, bi.size, bi.atime})
		}
	}
	clear(s.dirty)
	s.mu.Unlock()

	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range list {
		if err := wb.Set(key(kindBlob, string(e.d)), encodeBlobMeta(e.size, e.atime)); err != nil {
			s.redirty(list)
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		s.redirty(list)
		return err
	}
	return nil
}

// redirty queues list for the next flush after a failed one.
func (s *Store) redirty(list []atimeEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range list {
		if s.blobs[e.d] != nil {
			s.dirty[e.d] = struct{}{}
		}
	}
}
