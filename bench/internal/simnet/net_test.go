package simnet

import (
	"math"
	"testing"
	"time"
)

func TestFlowsShareLinks(t *testing.T) {
	clk := &Clock{}
	n := NewNet(clk, 3, 1000, 1000)
	var doneAt []time.Duration
	done := func(ok bool) {
		if !ok {
			t.Error("a flow was cancelled")
		}
		doneAt = append(doneAt, clk.Now())
	}
	// Two flows out of node 0 share its upload: 500 B/s each, so the
	// short one ends at 1 s; the long one then has it all.
	n.Start(0, 1, 500, nil, done)
	n.Start(0, 2, 1500, nil, done)
	clk.Run(time.Hour)
	want := []time.Duration{time.Second, 2 * time.Second}
	for i := range want {
		if i >= len(doneAt) || math.Abs(float64(doneAt[i]-want[i])) > float64(time.Millisecond) {
			t.Fatalf("flows ended at %v, want %v", doneAt, want)
		}
	}
}

func TestUpstreamIsBoundByTheReceiver(t *testing.T) {
	clk := &Clock{}
	n := NewNet(clk, 1, 1000, 2000)
	var moved float64
	f := n.Start(Upstream, 0, 4000, func(b float64) { moved += b }, func(bool) {})
	clk.Run(time.Hour)
	if clk.Now() != 2*time.Second || moved != 4000 || f.Moved() != 4000 {
		t.Fatalf("4000 B at a 2000 B/s download: ended at %v having moved %v, want 2s and 4000", clk.Now(), moved)
	}
}

func TestKillCancels(t *testing.T) {
	clk := &Clock{}
	n := NewNet(clk, 2, 1000, 1000)
	var ok []bool
	n.Start(0, 1, 1000, nil, func(o bool) { ok = append(ok, o) })
	clk.After(500*time.Millisecond, func() { n.Kill(1) })
	clk.Run(time.Hour)
	if len(ok) != 1 || ok[0] {
		t.Fatalf("a flow to a killed node ended %v, want once, cancelled", ok)
	}
}

func TestNoLinkOverItsCap(t *testing.T) {
	clk := &Clock{}
	n := NewNet(clk, 4, 1000, 1000)
	// Node 3 downloads from 0, 1 and 2; node 0 also uploads to 1 and 2.
	for _, e := range [][2]int{{0, 3}, {1, 3}, {2, 3}, {0, 1}, {0, 2}} {
		n.Start(e[0], e[1], 1e6, nil, func(bool) {})
	}
	for i := range 4 {
		var up, down float64
		for _, f := range n.ups[i] {
			up += f.Rate()
		}
		for _, f := range n.downs[i] {
			down += f.Rate()
		}
		if up > 1000+1e-9 || down > 1000+1e-9 {
			t.Fatalf("node %d: up %.1f, down %.1f B/s, over its 1000 B/s cap", i, up, down)
		}
	}
}
