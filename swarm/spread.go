package swarm

import "time"

// The node that brings a blob into the fleet (its origin) sends each
// piece to one peer first, and to more only once that copy has gone out
// whole: the peers that have it pass it on, so the origin uploads each
// piece about once, not once per node. From then the limit grows by one
// every CopiesEvery, so that a swarm that loses those peers still gets
// the piece; a copy that breaks off is given back at once.
//
// The limit used to grow with the time since the first copy began,
// from two. On a link where a copy takes longer than CopiesEvery the
// origin began the third and fourth copies of a piece before the first
// had arrived, and its uplink, the one every node waits on, carried
// repeats while pieces nobody else had queued behind them. Counting from
// the first copy's end took the simulated rollout (bench/cmd/swarmsim,
// 8 Mbit/s, 16 MiB) from 2.01x to 1.73x of one pull at 10 nodes, 2.27x to
// 1.99x at 50, and 2.44x to 2.22x at 100; two first copies instead of
// one gave most of that back (1.94x at 10).
const (
	FirstCopies = 1
	CopiesEvery = time.Second
)

// Spread counts, per piece of one blob, the copies a node has begun to
// send. The zero value is ready to use; it is not safe for concurrent use.
type Spread struct {
	sent map[int]*copies
	// low is at or below the lowest piece no copy of has begun
	// (unbegun): pieces begin about in order, so a scan from it is short
	// where one from 0 walked every piece already out on each question.
	low int
}

type copies struct {
	n     int       // copies begun and not given back
	asked time.Time // when the piece was first asked for
	done  time.Time // when the first copy went out whole; zero before
}

// piece is piece i's count, begun when it is first asked for.
func (s *Spread) piece(i int, now time.Time) *copies {
	if s.sent == nil {
		s.sent = map[int]*copies{}
	}
	c := s.sent[i]
	if c == nil {
		c = &copies{asked: now}
		s.sent[i] = c
	}
	return c
}

// AskedFor is how long ago piece i was first asked for (0 now).
func (s *Spread) AskedFor(i int, now time.Time) time.Duration {
	return now.Sub(s.piece(i, now).asked)
}

// begun says whether a copy of piece i has been sent whole or is on its
// way.
func (s *Spread) begun(i int) bool {
	c := s.sent[i]
	return c != nil && (c.n > 0 || !c.done.IsZero())
}

// unbegun says whether one of the first n pieces, other than piece skip,
// has had no copy begun.
func (s *Spread) unbegun(n, skip int) bool {
	for s.low < n && s.begun(s.low) {
		s.low++
	}
	for k := s.low; k < n; k++ {
		if k != skip && !s.begun(k) {
			return true
		}
	}
	return false
}

// MayServe says whether piece i may go to one more asker now, and counts
// it if so; Sent tells how that copy ended.
func (s *Spread) MayServe(i int, now time.Time) bool {
	c := s.piece(i, now)
	limit := FirstCopies
	if !c.done.IsZero() && !now.Before(c.done) {
		limit += 1 + int(now.Sub(c.done)/CopiesEvery)
	}
	if c.n >= limit {
		return false
	}
	c.n++
	return true
}

// Sent records how a copy of piece i that MayServe allowed ended: sent
// whole (ok), or broken off, which gives the copy back.
func (s *Spread) Sent(i int, ok bool, now time.Time) {
	c := s.sent[i]
	if c == nil {
		return
	}
	switch {
	case ok && c.done.IsZero():
		c.done = now
	case !ok && c.n > 0:
		c.n--
		if !s.begun(i) {
			s.low = min(s.low, i)
		}
	}
}
