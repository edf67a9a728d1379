package cache

import (
	"github.com/opencontainers/go-digest"
)

// evictPass is the most blobs one eviction pass removes, in one metadata
// transaction, holding s.meta: it bounds how long eviction keeps other
// writers waiting, however much there is to evict.
const evictPass = 256

// maybeEvict brings the store within MaxBytes, and its filesystem below
// the high watermark (see space.go), by evicting least recently used
// blobs. Blobs linked into a local repository, pinned by a reader, or
// still being written (not yet in s.blobs) are never candidates. It runs
// on request paths, so it does one pass here and leaves any more to the
// background goroutine.
func (s *Store) maybeEvict() {
	s.evictForFilesystem()
	if s.opts.MaxBytes <= 0 {
		return
	}
	s.meta.Lock()
	evicted, _, more := s.evictPassLocked(0)
	s.meta.Unlock()
	s.notifyEvicted(evicted)
	if more {
		select {
		case s.evictMore <- struct{}{}:
		default: // already asked
		}
	}
}

// evictRest runs eviction passes until the store is within MaxBytes,
// nothing more can be evicted or the store closes, releasing s.meta
// between passes. The passes take their victims from one queue; when it
// runs out, one new queue is listed (blobs may have been added or used).
func (s *Store) evictRest() {
	for fresh := 0; fresh < 2 && s.ctx.Err() == nil; fresh++ {
		q := s.newEvictQueue()
		for s.ctx.Err() == nil {
			s.meta.Lock()
			evicted, fits, more := s.evictQueuedLocked(q)
			s.meta.Unlock()
			s.notifyEvicted(evicted)
			if fits {
				return
			}
			if !more {
				break
			}
		}
	}
	if s.ctx.Err() == nil {
		total, _ := s.Usage()
		s.log.Warn("cache: over the size limit with nothing evictable",
			"bytes", total, "max_bytes", s.opts.MaxBytes)
	}
}

// evictQueuedLocked is a pass of evictRest: it evicts up to evictPass
// blobs from q towards the store being within MaxBytes, and reports
// whether it then is and whether q may hold more. The caller holds
// s.meta.
func (s *Store) evictQueuedLocked(q *evictQueue) (evicted []digest.Digest, fits, more bool) {
	if s.roomForMeta() != nil {
		return nil, false, false // eviction is a metadata write
	}
	s.mu.Lock()
	fit := func() bool { return s.total+s.uploadBytes <= s.opts.MaxBytes }
	if s.closed || fit() {
		ok := fit()
		s.mu.Unlock()
		return nil, ok, false
	}
	var victims []evictCand
	empty := false
	for !fit() && !empty {
		var cands []evictCand
		cands, empty = q.nextLocked(s, evictPass-len(victims))
		for _, c := range cands {
			if fit() {
				break
			}
			s.takeLocked(c)
			victims = append(victims, c)
		}
		if len(victims) >= evictPass {
			break
		}
	}
	fits = fit()
	s.mu.Unlock()
	return s.dropVictimsLocked(victims), fits, !fits && !empty
}

// evictCand is a blob eviction may remove.
type evictCand struct {
	d     digest.Digest
	size  int64
	atime int64
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
// takeLocked, in one transaction, and returns those removed. A
// transaction too big for badger is split in halves; a failing one is
// retried blob by blob so that one bad blob does not keep the others.
// The caller holds s.meta.
func (s *Store) dropVictimsLocked(victims []evictCand) []digest.Digest {
	if len(victims) == 0 {
		return nil
	}
	ds := make([]digest.Digest, len(victims))
	for i, v := range victims {
		ds[i] = v.d
	}
	err := s.dropBlobsLocked(ds)
	if err == nil {
		for _, v := range victims {
			s.log.Debug("cache: evicted", "digest", v.d, "size", v.size)
		}
		return ds
	}
	if len(victims) > 1 {
		if isTxnTooBig(err) {
			// Halves, not one by one: each transaction is an fsync.
			half := len(victims) / 2
			return append(s.dropVictimsLocked(victims[:half]), s.dropVictimsLocked(victims[half:])...)
		}
		s.log.Warn("cache: evict in one transaction; one by one", "blobs", len(victims), "err", err)
		var evicted []digest.Digest
		for _, v := range victims {
			evicted = append(evicted, s.dropVictimsLocked([]evictCand{v})...)
		}
		return evicted
	}
	s.log.Error("cache: evict", "digest", ds[0], "err", err)
	return nil
}

// evictPassLocked evicts up to evictPass blobs towards the store's size
// plus extra bytes about to be written being within MaxBytes. It reports
// whether they then fit and whether another pass could evict more
// towards it. For extra bytes that would not fit even with every
// candidate gone it evicts nothing: they will be refused, and the
// mirrored content is worth more kept. The caller holds s.meta.
func (s *Store) evictPassLocked(extra int64) (evicted []digest.Digest, fits, more bool) {
	if s.roomForMeta() != nil {
		return nil, false, false // eviction is a metadata write
	}
	s.mu.Lock()
	fit := func() bool { return s.total+s.uploadBytes+extra <= s.opts.MaxBytes }
	if s.closed || fit() {
		ok := fit()
		s.mu.Unlock()
		return nil, ok, false
	}
	cands, evictable, all := s.oldestLocked(evictPass)
	if extra > 0 && s.total-evictable+s.uploadBytes+extra > s.opts.MaxBytes {
		s.mu.Unlock()
		return nil, false, false
	}
	var victims []evictCand
	for _, c := range cands {
		if fit() {
			break
		}
		s.takeLocked(c)
		victims = append(victims, c)
	}
	fits = fit()
	more = !fits && !all && len(victims) > 0
	stuck := !fits && !more
	total, uploads := s.total, s.uploadBytes
	s.mu.Unlock()

	evicted = s.dropVictimsLocked(victims)
	if stuck && extra == 0 {
		s.log.Warn("cache: over the size limit with nothing evictable",
			"blob_bytes", total, "upload_bytes", uploads, "max_bytes", s.opts.MaxBytes)
	}
	return evicted, fits, more
}

// evict runs eviction passes until the store's size plus extra bytes
// about to be written is within MaxBytes, and reports whether it then is.
// It takes s.meta for each pass, not across them.
func (s *Store) evict(extra int64) ([]digest.Digest, bool) {
	if s.roomForMeta() != nil {
		// Eviction is a metadata write: without room, nothing fits.
		s.mu.Lock()
		fits := s.total+s.uploadBytes+extra <= s.opts.MaxBytes
		s.mu.Unlock()
		return nil, fits
	}
	var evicted []digest.Digest
	for {
		s.meta.Lock()
		ev, fits, more := s.evictPassLocked(extra)
		s.meta.Unlock()
		evicted = append(evicted, ev...)
		if fits || !more {
			return evicted, fits
		}
	}
}

// evictBytes evicts least recently used blobs until at least need bytes
// are freed or no candidate is left, and returns how many bytes it freed.
// It takes s.meta for each pass of at most evictPass blobs, and the
// passes take their victims from one candidate list (evictQueue): a
// filesystem watermark can ask for many passes.
func (s *Store) evictBytes(need int64) ([]digest.Digest, int64) {
	var evicted []digest.Digest
	var freed int64
	if need <= 0 || s.roomForMeta() != nil {
		return nil, 0
	}
	q := s.newEvictQueue()
	for freed < need {
		s.meta.Lock()
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			s.meta.Unlock()
			break
		}
		var victims []evictCand
		empty := false
		for freed < need && !empty && len(victims) < evictPass {
			var cands []evictCand
			cands, empty = q.nextLocked(s, evictPass-len(victims))
			for _, c := range cands {
				if freed >= need {
					break
				}
				s.takeLocked(c)
				victims = append(victims, c)
				freed += c.size
			}
		}
		s.mu.Unlock()
		evicted = append(evicted, s.dropVictimsLocked(victims)...)
		s.meta.Unlock()
		if empty || len(victims) == 0 {
			break
		}
	}
	return evicted, freed
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

	// Without room they wait in memory for a flush that has it.
	if err := s.roomForMeta(); err != nil {
		s.redirty(list)
		return err
	}
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
