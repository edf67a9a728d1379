package swarm

import "time"

// The node that brings a blob into the fleet (its origin) sends each
// piece to a few peers at first, and to more as time passes: those first
// peers pass it on, so the origin uploads each piece about FirstCopies
// times, not once per node. The limit grows by one every CopiesEvery so that a
// swarm that loses those peers still gets the piece.
const (
	FirstCopies = 2
	CopiesEvery = time.Second
)

// Spread counts, per piece of one blob, the copies a node has begun to
// send. The zero value is ready to use; it is not safe for concurrent use.
type Spread struct {
	sent map[int]*copies
}

type copies struct {
	first time.Time
	n     int
}

// MayServe says whether piece i may go to one more asker now, and counts
// it if so.
func (s *Spread) MayServe(i int, now time.Time) bool {
	if s.sent == nil {
		s.sent = map[int]*copies{}
	}
	c := s.sent[i]
	if c == nil {
		c = &copies{first: now}
		s.sent[i] = c
	}
	if c.n >= FirstCopies+int(now.Sub(c.first)/CopiesEvery) {
		return false
	}
	c.n++
	return true
}
