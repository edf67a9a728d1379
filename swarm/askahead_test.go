package swarm

import (
	"testing"
	"time"
)

func TestAskAhead(t *testing.T) {
	const piece = 1 << 20
	ms := time.Millisecond
	tests := []struct {
		name      string
		answer    time.Duration
		since     time.Duration // since the header
		got, left int64
		linkRate  float64
		want      bool
	}{
		// 250,000 bytes a second on the stream: 1 s since the header.
		{name: "most of the piece to come", answer: 200 * ms, since: time.Second, got: 250_000, left: 900_000, linkRate: 500_000, want: false},
		{name: "the rest within two answers' waits", answer: 200 * ms, since: time.Second, got: 250_000, left: 90_000, linkRate: 500_000, want: true},
		{name: "the rest just past two answers' waits", answer: 200 * ms, since: time.Second, got: 250_000, left: 110_000, linkRate: 500_000, want: false},
		{name: "link not measured yet", answer: 200 * ms, since: time.Second, got: 250_000, left: 90_000, linkRate: 0, want: true},
		{name: "a long answer asks ahead at most AskAheadMax", answer: 5 * time.Second, since: 6 * time.Second, got: 1_500_000, left: 500_000, linkRate: 500_000, want: false},
		{name: "within AskAheadMax of a long answer", answer: 5 * time.Second, since: 6 * time.Second, got: 1_500_000, left: 350_000, linkRate: 500_000, want: true},
		{name: "1.2 Mbit/s link: never", answer: 200 * ms, since: time.Second, got: 75_000, left: 1_000, linkRate: 150_000, want: false},
		{name: "2 Mbit/s link: a piece in 4.2 s", answer: 200 * ms, since: time.Second, got: 125_000, left: 10_000, linkRate: 250_000, want: true},
		{name: "no bytes yet", answer: 200 * ms, since: time.Second, got: 0, left: 10_000, linkRate: 500_000, want: false},
		{name: "nothing left", answer: 200 * ms, since: time.Second, got: 250_000, left: 0, linkRate: 500_000, want: true},
		// Bytes queued behind the header come in one read: 32 KiB in
		// 150 µs look like 200 MB/s.
		{name: "a burst behind the header, before one answer's wait", answer: 150 * ms, since: 150 * time.Microsecond, got: 32 << 10, left: piece - 32<<10, linkRate: 500_000, want: false},
		{name: "the same burst, judged over the answer's wait", answer: 150 * ms, since: 150 * ms, got: 32 << 10, left: piece - 32<<10, linkRate: 500_000, want: false},
		{name: "a fast link: not before AskAheadSpan", answer: ms, since: 10 * ms, got: piece - 1000, left: 1000, linkRate: 50e6, want: false},
		{name: "a fast link, after AskAheadSpan", answer: 20 * ms, since: AskAheadSpan, got: piece - 1000, left: 1000, linkRate: 50e6, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AskAhead(tt.answer, tt.since, tt.got, tt.left, tt.linkRate, piece); got != tt.want {
				t.Fatalf("AskAhead(%v, %v, %d, %d, %v) = %v, want %v", tt.answer, tt.since, tt.got, tt.left, tt.linkRate, got, tt.want)
			}
		})
	}
}
