package cache

import "slices"

// evictQueue is the candidates of a run of eviction passes, least
// recently used first, listed once for the run: choosing among every
// blob again for each pass cost more than the passes' own work in a
// store of 100,000 blobs, and held s.mu, which every GET takes.
type evictQueue struct{ cands []evictCand }

// newEvictQueue lists the blobs eviction may remove now. It copies them
// under s.mu and sorts them after releasing it.
func (s *Store) newEvictQueue() *evictQueue {
	s.mu.Lock()
	cands := make([]evictCand, 0, len(s.blobs))
	for d, bi := range s.blobs {
		if bi.localLinks > 0 || s.pins[d] > 0 {
			continue
		}
		cands = append(cands, evictCand{d, bi.size, bi.atime})
	}
	s.mu.Unlock()
	slices.SortFunc(cands, func(a, b evictCand) int {
		if older(a, b) {
			return -1
		}
		if older(b, a) {
			return 1
		}
		return 0
	})
	return &evictQueue{cands}
}

// nextLocked takes up to k candidates off the queue that may still be
// evicted as they were listed: still stored, not pinned, not linked
// locally since, and not used since (a blob read after the queue was
// listed is no longer among the least recently used). It reports whether
// the queue is then empty. The caller holds s.mu.
func (q *evictQueue) nextLocked(s *Store, k int) ([]evictCand, bool) {
	var out []evictCand
	for len(q.cands) > 0 && len(out) < k {
		c := q.cands[0]
		q.cands = q.cands[1:]
		bi := s.blobs[c.d]
		if bi == nil || bi.localLinks > 0 || s.pins[c.d] > 0 || bi.atime != c.atime {
			continue
		}
		out = append(out, c)
	}
	return out, len(q.cands) == 0
}
