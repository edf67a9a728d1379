package swarm

import "testing"

func TestCutThrough(t *testing.T) {
	const piece = 1 << 20
	tests := []struct {
		name string
		rate float64 // bytes per second
		want bool
	}{
		{name: "not yet measured", rate: 0, want: true},
		{name: "4 Mbit/s: a piece in 2.1 s", rate: 500_000, want: true},
		{name: "1.5 Mbit/s: a piece in 5.6 s", rate: 187_500, want: true},
		{name: "a piece in exactly CutThroughMax", rate: piece / CutThroughMax.Seconds(), want: true},
		{name: "1.2 Mbit/s: a piece in 7 s", rate: 150_000, want: true},
		{name: "1 Mbit/s: a piece in 8.4 s", rate: 125_000, want: false},
		{name: "a crawl", rate: 1_000, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CutThrough(tt.rate, piece); got != tt.want {
				t.Fatalf("CutThrough(%v) = %v, want %v", tt.rate, got, tt.want)
			}
		})
	}
}
