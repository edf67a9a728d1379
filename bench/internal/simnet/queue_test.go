package simnet

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The clock runs events by time, then by when they were scheduled,
// whether they were scheduled anew in place (again) or not: what a
// sorted list of every event ever scheduled gives.
func TestClockRunsInTimeThenScheduleOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	clk := &Clock{}
	type want struct {
		at  time.Duration
		seq uint64
	}
	var ran []want
	var live []*Event
	var expect []want
	schedule := func() {
		d := time.Duration(rng.IntN(20)) * time.Millisecond
		var e *Event
		e = clk.After(d, func() { ran = append(ran, want{clk.Now(), e.seq}) })
		live = append(live, e)
	}
	for range 200 {
		schedule()
	}
	for range 100 {
		e := live[rng.IntN(len(live))]
		if rng.IntN(2) == 0 {
			e.Cancel()
		} else if !e.canceled {
			clk.again(e, time.Duration(rng.IntN(20))*time.Millisecond)
		}
	}
	for _, e := range live {
		if !e.canceled {
			expect = append(expect, want{e.at, e.seq})
		}
	}
	slices.SortFunc(expect, func(a, b want) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return int(a.seq) - int(b.seq)
	})
	clk.Run(time.Hour)
	if !slices.Equal(ran, expect) {
		t.Fatalf("ran %v\nwant %v", ran, expect)
	}
}
