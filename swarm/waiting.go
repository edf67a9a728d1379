package swarm

import (
	"container/heap"
	"time"
)

// waiting is the peers a fetch leaves alone after a busy or failed
// answer, by when it may ask them again: a min-heap in which a peer's
// entry goes stale when its wait is set anew or it is dropped, and
// stale or past entries leave as they reach the top. So Retry costs a
// few heap steps, not a pass over every peer the fetch knows: in a
// simulated fleet of 2,000 that pass was a fifth of the simulation's
// time once picks walked only holders.
type waiting []waitEntry

type waitEntry struct {
	until time.Time
	s     *peerState
}

// wait records that s is left alone until s.busyUntil.
func (w *waiting) wait(s *peerState) {
	heap.Push(w, waitEntry{until: s.busyUntil, s: s})
}

// first is the peer whose wait ends first after now, and when; ok is
// false when no peer is waiting.
func (w *waiting) first(now time.Time) (s *peerState, until time.Time, ok bool) {
	for w.Len() > 0 {
		e := (*w)[0]
		if !e.s.dropped && e.until.Equal(e.s.busyUntil) && now.Before(e.until) {
			return e.s, e.until, true
		}
		heap.Pop(w)
	}
	return nil, time.Time{}, false
}

func (w waiting) Len() int           { return len(w) }
func (w waiting) Less(i, j int) bool { return w[i].until.Before(w[j].until) }
func (w waiting) Swap(i, j int)      { w[i], w[j] = w[j], w[i] }
func (w *waiting) Push(x any)        { *w = append(*w, x.(waitEntry)) }
func (w *waiting) Pop() any {
	old := *w
	e := old[len(old)-1]
	*w = old[:len(old)-1]
	return e
}
