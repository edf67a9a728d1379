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
		{name: "a 1 Gbit/s link", rate: 125e6, want: 3 * Window},
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
