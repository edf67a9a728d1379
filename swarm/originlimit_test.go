package swarm

import (
	"math"
	"testing"
	"time"
)

func TestOriginLimit(t *testing.T) {
	const piece = 1 << 20
	for _, tc := range []struct {
		name string
		rate float64 // bytes per second
		want time.Duration
	}{
		{"not measured yet", 0, PieceTimeout},
		{"a nonsense rate", math.NaN(), PieceTimeout},
		{"negative", -1, PieceTimeout},
		{"100 Mbit/s", 12.5e6, PieceTimeout},
		// 4 pieces' time is 8.4 s: under PieceTimeout, which stands.
		{"4 Mbit/s", 500e3, PieceTimeout},
		{"2 Mbit/s", 250e3, time.Duration(4 * piece / 250e3 * float64(time.Second))},
		{"1 Mbit/s", 125e3, time.Duration(4 * piece / 125e3 * float64(time.Second))},
		{"a crawl", 1, PieceLimit},
		{"infinitely fast", math.Inf(1), PieceTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OriginLimit(piece, tc.rate); got != tc.want {
				t.Fatalf("OriginLimit(%v) = %v, want %v", tc.rate, got, tc.want)
			}
		})
	}
}
