package swarm

import (
	"testing"
	"time"
)

func TestSpread(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var s Spread
	served := func(i int, at time.Duration, asks int) int {
		n := 0
		for range asks {
			if s.MayServe(i, t0.Add(at)) {
				n++
			}
		}
		return n
	}
	if got := served(0, 0, 10); got != FirstCopies {
		t.Fatalf("at first %d copies of a piece, want %d", got, FirstCopies)
	}
	if got := served(1, 0, 10); got != FirstCopies {
		t.Fatalf("another piece: %d copies, want its own %d", got, FirstCopies)
	}
	if got := served(0, CopiesEvery, 10); got != 1 {
		t.Fatalf("one interval later %d more copies, want 1", got)
	}
	if got := served(0, 10*CopiesEvery, 100); got != 9 {
		t.Fatalf("ten intervals later %d more copies, want 9", got)
	}
}
