package swarm

import (
	"testing"
	"time"
)

func TestSlots(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		rate float64 // bytes per second the link has been moving
		max  int
		want int // streams admitted
	}{
		{name: "nothing measured: the minimum", rate: 0, max: 32, want: 2},
		{name: "a 40 Mbit/s link: the minimum", rate: 5e6, max: 32, want: 2},
		{name: "a 100 Mbit/s link", rate: 12.5e6, max: 32, want: 3},
		{name: "a 1 Gbit/s link", rate: 125e6, max: 32, want: 30},
		{name: "memory bounds a fast link", rate: 125e6, max: 8, want: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlots(tt.max)
			now := settle(s, tt.rate, t0)
			n := 0
			for n < 100 && s.Admit(now) {
				n++
			}
			if n != tt.want {
				t.Fatalf("admitted %d streams at %.0f B/s, want %d", n, tt.rate, tt.want)
			}
			s.Release()
			if !s.Admit(now) {
				t.Fatal("a released slot is not given again")
			}
		})
	}
}

// An idle spell leaves the measured rate as it was: a fast link that
// has been quiet for a while admits as many streams as before at once,
// and a slow one still only the minimum.
func TestSlotsIdleSpellIsNotMeasured(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		name string
		rate float64
		want int
	}{
		{name: "a 1 Gbit/s link", rate: 125e6, want: 30},
		{name: "a 40 Mbit/s link", rate: 5e6, want: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlots(32)
			now := settle(s, tt.rate, t0)
			if !s.Admit(now) {
				t.Fatal("no stream admitted")
			}
			now = now.Add(30 * time.Millisecond)
			s.Sent(int64(tt.rate*0.03), now)
			s.Release()
			now = now.Add(5 * time.Second)
			n := 0
			for n < 100 && s.Admit(now) {
				n++
			}
			if n != tt.want {
				t.Fatalf("after 5 s idle admitted %d streams, want %d", n, tt.want)
			}
		})
	}
}

// The intake admits as the upload side does, up to 3 windows; Take
// counts a request that must go out whatever the room, and Admit then
// sees it.
func TestIntake(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		rate float64
		want int
	}{
		{name: "an 8 Mbit/s link: the minimum", rate: 1e6, want: 2},
		{name: "a 1 Gbit/s link", rate: 125e6, want: MaxIntake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewIntake()
			now := settle(s, tt.rate, t0)
			n := 0
			for n < 100 && s.Admit(now) {
				n++
			}
			if n != tt.want {
				t.Fatalf("admitted %d requests at %.0f B/s, want %d", n, tt.rate, tt.want)
			}
			s.Take()
			if s.Active() != n+1 {
				t.Fatalf("after Take %d active, want %d", s.Active(), n+1)
			}
			s.Release()
			s.Release()
			if !s.Admit(now) || s.Admit(now) {
				t.Fatal("with Take's request and one more released, one request is admitted, and only one")
			}
		})
	}
}

// settle runs s's link at rate bytes per second for five seconds from
// t0, so that its average settles, and returns the time after.
func settle(s *Slots, rate float64, t0 time.Time) time.Time {
	s.Sent(0, t0)
	now := t0
	for range 100 {
		now = now.Add(50 * time.Millisecond)
		s.Sent(int64(rate*0.05), now)
	}
	return now
}

// A body from upstream takes precedence over the one request each fetch
// is owed: while it runs, a fetch with nothing in flight is admitted
// only as Admit would; before and after, always.
func TestIntakeUpstreamFirst(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		rate float64
		// owed is how many fetches with nothing in flight are admitted
		// beside one upstream body.
		owed int
	}{
		{name: "an 8 Mbit/s link: one beside it, by Min", rate: 1e6, owed: 1},
		{name: "a 1 Gbit/s link: as many as the rate allows", rate: 125e6, owed: MaxIntake - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewIntake()
			now := settle(s, tt.rate, t0)
			s.TakeFirst()
			n := 0
			for n < 100 && s.AdmitOwed(now) {
				n++
			}
			if n != tt.owed {
				t.Fatalf("beside an upstream body %d owed requests admitted, want %d", n, tt.owed)
			}
			s.ReleaseFirst()
			if !s.AdmitOwed(now) {
				t.Fatal("with the upstream body ended, an owed request must go out")
			}
			if s.Active() != n+1 {
				t.Fatalf("%d active, want %d", s.Active(), n+1)
			}
		})
	}
}

// A reserve leaves room unused: on a slow link with Min 2 a stream
// admitted with one slot reserved fits only when none runs, and one
// without a reserve then takes the slot kept.
func TestSlotsReserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		name      string
		rate      float64
		reserving int // admitted with one reserved
	}{
		{name: "a 40 Mbit/s link", rate: 5e6, reserving: 1},
		{name: "a 1 Gbit/s link", rate: 125e6, reserving: 29},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSlots(32)
			now := settle(s, tt.rate, t0)
			n := 0
			for n < 100 && s.AdmitReserving(now, 1) {
				n++
			}
			if n != tt.reserving {
				t.Fatalf("admitted %d with one slot reserved, want %d", n, tt.reserving)
			}
			if !s.Admit(now) {
				t.Fatal("the reserved slot is not given to a stream without a reserve")
			}
			if s.Admit(now) {
				t.Fatal("more than the reserved slot given")
			}
		})
	}
}
