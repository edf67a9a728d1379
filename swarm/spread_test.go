package swarm

import (
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
			if s.MayServe(i, Span{}, at(d)) {
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

// While a piece the asker could take has no copy begun, the origin
// sends no repeat: its uplink goes to pieces nobody has. A piece beyond
// the asker's window (or not yet arriving) does not hold a repeat back.
func TestSpreadFirstCopiesFirst(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// sent gives pieces 0 and 1 a first copy sent whole at t0, and
	// piece 2 one still going out.
	sent := func() *Spread {
		s := &Spread{}
		for i := range 3 {
			if !s.MayServe(i, Span{}, at(0)) {
				t.Fatalf("first copy of piece %d refused", i)
			}
		}
		s.Sent(0, true, at(0))
		s.Sent(1, true, at(0))
		return s
	}
	tests := []struct {
		name  string
		piece int
		offer Span
		want  bool
	}{
		{"a repeat, nothing else to offer", 0, Span{0, 3}, true},
		{"a repeat while piece 3 has no copy", 0, Span{0, 4}, false},
		{"the piece with no copy itself", 3, Span{0, 4}, true},
		{"a repeat while a later piece has no copy", 1, Span{1, 8}, false},
		{"the piece with no copy is beyond the asker's window", 0, Span{0, 3}, true},
		{"the piece with no copy is below what the asker holds", 1, Span{4, 4}, true},
		{"a piece still going out: one copy at a time", 2, Span{0, 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sent()
			if got := s.MayServe(tt.piece, tt.offer, at(5*CopiesEvery)); got != tt.want {
				t.Fatalf("MayServe(%d, %+v) = %v, want %v", tt.piece, tt.offer, got, tt.want)
			}
		})
	}
}

// A first copy broken off gives its piece back: it is one to offer
// again, and repeats wait for it.
func TestSpreadBrokenFirstCopyIsOfferedAgain(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := &Spread{}
	for i := range 2 {
		s.MayServe(i, Span{}, t0)
	}
	s.Sent(1, true, t0)
	if !s.MayServe(1, Span{0, 2}, t0.Add(2*CopiesEvery)) {
		t.Fatal("a repeat of piece 1 refused while every piece has a copy")
	}
	s.Sent(0, false, t0.Add(2*CopiesEvery))
	if s.MayServe(1, Span{0, 2}, t0.Add(3*CopiesEvery)) {
		t.Fatal("a repeat of piece 1 sent while piece 0, its first copy broken off, has none")
	}
	if !s.MayServe(0, Span{0, 2}, t0.Add(3*CopiesEvery)) {
		t.Fatal("piece 0 refused: its first copy broke off")
	}
}

func TestOffer(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		have int64
		held int
		want Span
	}{
		{"asker has nothing, origin has little", 0, 3, Span{0, 3}},
		{"the window bounds it", 0, 100, Span{0, Window}},
		{"from the asker's next piece", 5*mib + 10, 100, Span{5, 5 + Window}},
		{"the asker is ahead of the origin", 9 * mib, 4, Span{9, 4}},
		{"a negative have is nothing", -1, 2, Span{0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Offer(tt.have, mib, tt.held); got != tt.want {
				t.Fatalf("Offer(%d, %d) = %+v, want %+v", tt.have, tt.held, got, tt.want)
			}
		})
	}
}
