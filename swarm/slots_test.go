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
			s.Sent(0, t0)
			now := t0
			// Run the link at rate for a few seconds so the average
			// settles.
			for range 100 {
				now = now.Add(50 * time.Millisecond)
				s.Sent(int64(tt.rate*0.05), now)
			}
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
