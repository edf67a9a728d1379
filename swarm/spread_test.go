package swarm

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestSpread(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// served asks for piece i asks times at d, and says how many were
	// allowed.
	served := func(s *Spread, i int, d time.Duration, asks int) int {
		n := 0
		for range asks {
			if s.MayServe(i, at(d)) {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s *Spread)
	}{
		{"one copy at first, however long it takes", func(t *testing.T, s *Spread) {
			if got := served(s, 0, 0, 10); got != FirstCopies {
				t.Fatalf("at first %d copies, want %d", got, FirstCopies)
			}
			if got := served(s, 1, 0, 10); got != FirstCopies {
				t.Fatalf("another piece: %d copies, want its own %d", got, FirstCopies)
			}
			// A slow link: the first copy is still going out long after
			// CopiesEvery; no repeat may start before it ends.
			if got := served(s, 0, 10*CopiesEvery, 10); got != 0 {
				t.Fatalf("%d more copies while the first is still being sent", got)
			}
		}},
		{"more once the first copy went out whole", func(t *testing.T, s *Spread) {
			served(s, 0, 0, 1)
			s.Sent(0, true, at(5*time.Second))
			if got := served(s, 0, 5*time.Second, 10); got != 1 {
				t.Fatalf("after the first copy ended %d more, want 1", got)
			}
			if got := served(s, 0, 5*time.Second+CopiesEvery, 10); got != 1 {
				t.Fatalf("one interval later %d more, want 1", got)
			}
			if got := served(s, 0, 5*time.Second+10*CopiesEvery, 100); got != 9 {
				t.Fatalf("ten intervals later %d more, want 9", got)
			}
		}},
		{"a copy broken off is given back", func(t *testing.T, s *Spread) {
			served(s, 0, 0, 1)
			s.Sent(0, false, at(time.Second))
			if got := served(s, 0, time.Second, 10); got != FirstCopies {
				t.Fatalf("after a broken copy %d copies, want %d again", got, FirstCopies)
			}
		}},
		{"a report of a piece never counted changes nothing", func(t *testing.T, s *Spread) {
			s.Sent(3, true, at(0))
			s.Sent(3, false, at(0))
			if got := served(s, 3, 0, 10); got != FirstCopies {
				t.Fatalf("%d copies, want %d", got, FirstCopies)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, &Spread{}) })
	}
}

// unbegun, which scans from the lowest piece that may have no copy out,
// agrees with a scan of every piece, whatever order copies begin, end and
// break off in.
func TestSpreadUnbegun(t *testing.T) {
	t0 := time.Unix(1000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 50 {
		var s Spread
		const pieces = 12
		for step := range 200 {
			now := t0.Add(time.Duration(step) * time.Millisecond)
			i := rng.IntN(pieces)
			switch rng.IntN(3) {
			case 0:
				s.MayServe(i, now)
			case 1:
				s.Sent(i, true, now)
			default:
				s.Sent(i, false, now)
			}
			n, skip := rng.IntN(pieces+1), rng.IntN(pieces)
			want := false
			for k := range n {
				want = want || (k != skip && !s.begun(k))
			}
			if got := s.unbegun(n, skip); got != want {
				t.Fatalf("run %d step %d: unbegun(%d, %d) = %v, want %v", run, step, n, skip, got, want)
			}
		}
	}
}
