package cache

import (
	"container/heap"
	"slices"
)

// oldestLocked returns up to k of the blobs eviction may remove, least
// recently used first, the total size of all of them, and whether the k
// are all of them. It keeps only k in a heap instead of sorting every
// blob: each bounded eviction pass calls it, and a large store holds
// hundreds of thousands. The caller holds s.mu.
func (s *Store) oldestLocked(k int) ([]evictCand, int64, bool) {
	h := make(newestFirst, 0, k)
	var evictable int64
	n := 0
	for d, bi := range s.blobs {
		if bi.localLinks > 0 || s.pins[d] > 0 {
			continue
		}
		n++
		evictable += bi.size
		c := evictCand{d, bi.size, bi.atime}
		switch {
		case len(h) < k:
			heap.Push(&h, c)
		case older(c, h[0]):
			h[0] = c
			heap.Fix(&h, 0)
		}
	}
	out := []evictCand(h)
	slices.SortFunc(out, func(a, b evictCand) int {
		if older(a, b) {
			return -1
		}
		if older(b, a) {
			return 1
		}
		return 0
	})
	return out, evictable, n <= k
}

// older orders candidates by access time, then digest so the order is
// total.
func older(a, b evictCand) bool {
	if a.atime != b.atime {
		return a.atime < b.atime
	}
	return a.d < b.d
}

// newestFirst is a max-heap of candidates: its root is the one a less
// recently used blob replaces.
type newestFirst []evictCand

func (h newestFirst) Len() int           { return len(h) }
func (h newestFirst) Less(i, j int) bool { return older(h[j], h[i]) }
func (h newestFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *newestFirst) Push(x any)        { *h = append(*h, x.(evictCand)) }
func (h *newestFirst) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
