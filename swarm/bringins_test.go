package swarm

import (
	"strconv"
	"testing"
	"time"
)

func TestBringIns(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	type step struct {
		at   time.Duration
		op   string // mine, handedOff, started, ended, take
		blob string
		want bool // for mine and handedOff
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"an idle node takes a blob", []step{
			{0, "mine", "a", true},
			{0, "handedOff", "a", false},
		}},
		{"a second blob while the first opens is handed on", []step{
			{0, "mine", "a", true},
			{time.Second, "mine", "b", false},
			{time.Second, "handedOff", "b", true},
		}},
		{"a second blob while the first arrives is handed on", []step{
			{0, "mine", "a", true},
			{time.Second, "started", "a", false},
			{time.Minute, "mine", "b", false},
		}},
		{"a blob taken but never opened stops counting", []step{
			{0, "mine", "a", true},
			{handOffPending, "mine", "b", true},
		}},
		{"once the first has arrived the next is taken", []step{
			{0, "mine", "a", true},
			{time.Second, "started", "a", false},
			{time.Minute, "ended", "a", false},
			{time.Minute, "mine", "b", true},
		}},
		{"the decision stands: a blob handed on is not taken later", []step{
			{0, "started", "a", false},
			{time.Second, "mine", "b", false},
			{time.Minute, "ended", "a", false},
			{2 * time.Minute, "mine", "b", false},
			{2 * time.Minute, "handedOff", "b", true},
		}},
		{"the decision stands: a blob taken is still the node's", []step{
			{0, "mine", "a", true},
			{time.Second, "started", "a", false},
			{2 * time.Second, "mine", "a", true},
		}},
		{"a decision not asked for is forgotten", []step{
			{0, "started", "a", false},
			{time.Second, "mine", "b", false},
			{time.Minute, "ended", "a", false},
			{time.Second + handOffMemory, "handedOff", "b", false},
			{time.Second + handOffMemory, "mine", "b", true},
		}},
		{"a blob arriving is not forgotten", []step{
			{0, "mine", "a", true},
			{time.Second, "started", "a", false},
			{2 * handOffMemory, "mine", "b", false},
		}},
		{"a body opened without a decision counts as taken", []step{
			{0, "started", "a", false},
			{time.Second, "mine", "b", false},
			{time.Second, "mine", "a", true},
		}},
		{"two bodies of one blob: it arrives until both end", []step{
			{0, "started", "a", false},
			{0, "started", "a", false},
			{time.Second, "ended", "a", false},
			{time.Second, "mine", "b", false},
			{2 * time.Second, "ended", "a", false},
			{2 * time.Second, "mine", "c", true},
		}},
		{"a blob handed on is taken when the asker has no one after", []step{
			{0, "started", "a", false},
			{time.Second, "mine", "b", false},
			{2 * time.Second, "take", "b", false},
			{2 * time.Second, "mine", "b", true},
			{2 * time.Second, "handedOff", "b", false},
		}},
		{"a blob taken so counts as arriving until it opens", []step{
			{0, "take", "b", false},
			{time.Second, "mine", "c", false},
			{handOffPending, "mine", "d", true},
		}},
		{"a blob taken that fails before it opens stops counting at once", []step{
			{0, "take", "b", false},
			{time.Second, "failed", "b", false},
			{time.Second, "mine", "c", true},
		}},
		{"a blob decided that fails before it opens stops counting at once", []step{
			{0, "mine", "a", true},
			{time.Second, "failed", "a", false},
			{time.Second, "mine", "b", true},
			{time.Second, "mine", "a", false},
		}},
		{"a failure after the body opened changes nothing", []step{
			{0, "mine", "a", true},
			{time.Second, "started", "a", false},
			{time.Second, "failed", "a", false},
			{time.Second, "mine", "b", false},
		}},
		{"a failure of a blob handed on keeps the decision", []step{
			{0, "started", "a", false},
			{time.Second, "mine", "b", false},
			{time.Second, "failed", "b", false},
			{time.Second, "handedOff", "b", true},
		}},
		{"more ends than starts change nothing", []step{
			{0, "ended", "a", false},
			{0, "mine", "b", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b BringIns
			for k, s := range tt.steps {
				now := t0.Add(s.at)
				switch s.op {
				case "mine":
					if got := b.Mine(s.blob, now); got != s.want {
						t.Fatalf("step %d: Mine(%s) = %v, want %v", k, s.blob, got, s.want)
					}
				case "handedOff":
					if got := b.HandedOff(s.blob, now); got != s.want {
						t.Fatalf("step %d: HandedOff(%s) = %v, want %v", k, s.blob, got, s.want)
					}
				case "started":
					b.Started(s.blob, now)
				case "ended":
					b.Ended(s.blob, now)
				case "take":
					b.Take(s.blob, now)
				case "failed":
					b.Failed(s.blob, now)
				}
			}
		})
	}
}

// The record stays bounded, and what it drops is what was asked for
// longest ago, never a blob arriving.
func TestBringInsBounded(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var b BringIns
	b.Started("arriving", t0)
	for i := range 3 * maxBringIns {
		b.Mine(strconv.Itoa(i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if len(b.blobs) > maxBringIns {
		t.Fatalf("%d decisions kept, want at most %d", len(b.blobs), maxBringIns)
	}
	if e := b.blobs["arriving"]; e == nil || e.open != 1 {
		t.Fatal("the blob arriving was dropped")
	}
	if _, ok := b.blobs[strconv.Itoa(3*maxBringIns-1)]; !ok {
		t.Fatal("the latest decision was dropped")
	}
	if _, ok := b.blobs["0"]; ok {
		t.Fatal("the oldest decision was kept")
	}
}
