package swarm

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	const piece = 1 << 20
	tests := []struct {
		name   string
		rate   float64
		jitter float64
		want   time.Duration
	}{
		{"a piece's time at the upload rate", 1 << 20, 0.5, time.Second},
		{"spread down", 1 << 20, 0, 500 * time.Millisecond},
		{"spread up", 1 << 20, 0.999999, 1500 * time.Millisecond},
		{"no rate measured yet", 0, 0.5, retryBase},
		{"a fast link: no less than the busy backoff", 1 << 30, 0.5, BusyBackoff},
		{"a crawling link: bounded", 1 << 10, 1, MaxRetryAfter},
		{"jitter out of range is clamped", 1 << 20, 7, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RetryAfter(tt.rate, piece, tt.jitter)
			if d := got - tt.want; d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("RetryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// An asker leaves a busy peer alone for as long as it said, within
// MaxRetryAfter, and not a moment less.
func TestPlannerBusyFor(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		name  string
		after time.Duration
		want  time.Duration
	}{
		{"as told", 700 * time.Millisecond, 700 * time.Millisecond},
		{"bounded", time.Hour, MaxRetryAfter},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlanner(4*1024, 1024, "", 1)
			p.Learn("a", 4*1024)
			peer, ok := p.Pick(0, t0)
			if !ok || peer != "a" {
				t.Fatalf("Pick = %q, %v", peer, ok)
			}
			p.BusyFor("a", tt.after, t0)
			if peer, ok := p.Pick(0, t0.Add(tt.want-time.Millisecond)); ok {
				t.Fatalf("asked %s again before the wait ended", peer)
			}
			if _, ok := p.Pick(0, t0.Add(tt.want)); !ok {
				t.Fatal("not asked again once the wait ended")
			}
		})
	}
}
