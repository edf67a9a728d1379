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

// Span is the pieces from From up to To, To not included.
type Span struct{ From, To int }

// Offer is what a node that holds or is receiving the first held pieces
// of a blob could send an asker that holds its first have bytes: the
// pieces of the asker's window (Window) from its next one on. Pieces
// beyond its window it would not take.
func Offer(have, pieceSize int64, held int) Span {
	next := int(max(0, have) / pieceSize)
	return Span{next, min(held, next+Window)}
}

// Spread counts, per piece of one blob, the copies a node has begun to
// send. The zero value is ready to use; it is not safe for concurrent use.
type Spread struct {
	sent map[int]*copies
	// low is where the search for a piece with no copy begun starts:
	// every piece below it has one (unbegun).
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

// MayServe says whether piece i may go to one more asker now, and counts
// it if so; Sent tells how that copy ended. offer is the pieces the node
// could send this asker instead (Offer): while one of them has no copy
// begun, a repeat of piece i waits. First copies go first.
//
// The origin's uplink is what the swarm waits on, and in the simulation
// (bench/cmd/swarmsim, 10 nodes at 4 Mbit/s) two thirds of what it
// uploaded were repeats of pieces others held and pieces of other
// blobs: the last piece's first copy left it at 174 s of a 184 s
// rollout. A repeat held back for a first copy the asker cannot take
// (beyond its window) would stall it: every asker's window full of
// pieces one peer held, and the origin serving none of them.
func (s *Spread) MayServe(i int, offer Span, now time.Time) bool {
	c := s.piece(i, now)
	limit := FirstCopies
	if !c.done.IsZero() && !now.Before(c.done) {
		limit += 1 + int(now.Sub(c.done)/CopiesEvery)
	}
	if c.n >= limit {
		return false
	}
	if !c.done.IsZero() {
		if j := s.unbegun(offer); j >= 0 && j != i {
			return false
		}
	}
	c.n++
	return true
}

// unbegun is the lowest piece of span with no copy begun and none sent
// whole, or -1. The search costs the asker's window, not the blob: low
// moves past the pieces begun from the start.
func (s *Spread) unbegun(span Span) int {
	for s.low < span.To && s.begun(s.low) {
		s.low++
	}
	for j := max(s.low, span.From); j < span.To; j++ {
		if !s.begun(j) {
			return j
		}
	}
	return -1
}

// begun says whether piece i has a copy going out or sent whole.
func (s *Spread) begun(i int) bool {
	c := s.sent[i]
	return c != nil && (c.n > 0 || !c.done.IsZero())
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
		if c.n == 0 && c.done.IsZero() {
			s.low = min(s.low, i)
		}
	}
}
