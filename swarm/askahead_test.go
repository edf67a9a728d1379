package swarm

import (
	"testing"
	"time"
)

func TestAskAhead(t *testing.T) {
	const piece = 1 << 20
	tests := []struct {
		name     string
		answer   time.Duration
		left     int64
		rate     float64 // the stream's, bytes per second
		linkRate float64
		want     bool
	}{
		{name: "most of the piece to come", answer: 200 * time.Millisecond, left: 900_000, rate: 250_000, linkRate: 500_000, want: false},
		{name: "the rest within two answers' waits", answer: 200 * time.Millisecond, left: 90_000, rate: 250_000, linkRate: 500_000, want: true},
		{name: "the rest just past two answers' waits", answer: 200 * time.Millisecond, left: 110_000, rate: 250_000, linkRate: 500_000, want: false},
		{name: "link not measured yet", answer: 200 * time.Millisecond, left: 90_000, rate: 250_000, linkRate: 0, want: true},
		{name: "a long answer asks ahead at most AskAheadMax", answer: 5 * time.Second, left: 500_000, rate: 250_000, linkRate: 500_000, want: false},
		{name: "within AskAheadMax of a long answer", answer: 5 * time.Second, left: 350_000, rate: 250_000, linkRate: 500_000, want: true},
		{name: "1.2 Mbit/s link: never", answer: 200 * time.Millisecond, left: 1_000, rate: 75_000, linkRate: 150_000, want: false},
		{name: "2 Mbit/s link: a piece in 4.2 s", answer: 200 * time.Millisecond, left: 10_000, rate: 125_000, linkRate: 250_000, want: true},
		{name: "no bytes moved yet", answer: 200 * time.Millisecond, left: 10_000, rate: 0, linkRate: 500_000, want: false},
		{name: "nothing left", answer: 200 * time.Millisecond, left: 0, rate: 250_000, linkRate: 500_000, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AskAhead(tt.answer, tt.left, tt.rate, tt.linkRate, piece); got != tt.want {
				t.Fatalf("AskAhead(%v, %d, %v, %v) = %v, want %v", tt.answer, tt.left, tt.rate, tt.linkRate, got, tt.want)
			}
		})
	}
}
