package swarm

import "slices"

// top sorts the k smallest elements of s by cmp into s[:k] (the rest in
// no order), in O(len(s) + k log k) expected: a tracker answering every
// request of a large swarm picks 64 of up to 512 members each time, and
// sorting all of them was most of its work. Elements that compare equal
// make it quadratic: callers break ties (the tracker with a random key).
func top[E any](s []E, k int, cmp func(a, b E) int) {
	if k >= len(s) {
		slices.SortFunc(s, cmp)
		return
	}
	if k <= 0 {
		return
	}
	lo, hi := 0, len(s)-1
	for lo < hi {
		// Median of three as the pivot, moved to hi.
		mid := lo + (hi-lo)/2
		if cmp(s[mid], s[lo]) < 0 {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if cmp(s[hi], s[lo]) < 0 {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if cmp(s[mid], s[hi]) < 0 {
			s[mid], s[hi] = s[hi], s[mid]
		}
		pivot := s[hi]
		store := lo
		for i := lo; i < hi; i++ {
			if cmp(s[i], pivot) < 0 {
				s[i], s[store] = s[store], s[i]
				store++
			}
		}
		s[store], s[hi] = s[hi], s[store]
		switch {
		case store == k-1:
			lo = hi // done: s[:k] are the k smallest
		case store < k-1:
			lo = store + 1
		default:
			hi = store - 1
		}
	}
	slices.SortFunc(s[:k], cmp)
}
