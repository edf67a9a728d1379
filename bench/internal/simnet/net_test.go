package simnet

import (
	"math"
	"math/rand/v2"
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

// A flow slowed down by one that starts beside it ends when its bytes
// have moved, not when it would have alone: its end event, set for
// then, puts itself off (Flow.arrive).
func TestSlowedFlowEndsLate(t *testing.T) {
	clk := &Clock{}
	n := NewNet(clk, 3, 1000, 1000)
	ends := map[string]time.Duration{}
	var moved float64
	n.Start(0, 1, 1500, func(b float64) { moved += b }, func(bool) { ends["long"] = clk.Now() })
	clk.After(500*time.Millisecond, func() {
		n.Start(0, 2, 500, nil, func(bool) { ends["short"] = clk.Now() })
	})
	clk.Run(time.Hour)
	// 500 B alone by 0.5 s, 500 B at half the link by 1.5 s, when the
	// short flow ends, and the last 500 B alone by 2 s.
	if ends["short"] != 1500*time.Millisecond || ends["long"] != 2*time.Second || moved != 1500 {
		t.Fatalf("ends %v, the long flow moved %v B; want short at 1.5s, long at 2s, 1500 B", ends, moved)
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

// BenchmarkNetRollout runs flows shaped like a rollout's: most messages
// of a kilobyte and the rest 1 MiB pieces, a third of them out of one
// busy holder, between 2,000 nodes at 100 Mbit/s. Start times and sizes
// are drawn before the run, so every version of the net runs the same
// flows.
func BenchmarkNetRollout(b *testing.B) {
	const nodes, flows = 2000, 40000
	type start struct {
		at       time.Duration
		src, dst int
		bytes    int64
	}
	rng := rand.New(rand.NewPCG(1, 2))
	starts := make([]start, flows)
	for i := range starts {
		s := start{at: time.Duration(rng.Int64N(int64(10 * time.Second))), src: rng.IntN(nodes), dst: rng.IntN(nodes), bytes: 1 << 10}
		if rng.IntN(3) == 0 {
			s.src = 0
		}
		if s.dst == s.src {
			s.dst = (s.dst + 1) % nodes
		}
		if rng.IntN(5) == 0 {
			s.bytes = 1 << 20
		}
		starts[i] = s
	}
	b.ReportAllocs()
	for b.Loop() {
		clk := &Clock{}
		n := NewNet(clk, nodes, 12.5e6, 12.5e6)
		ended := 0
		for _, s := range starts {
			clk.At(s.at, func() { n.Start(s.src, s.dst, s.bytes, nil, func(bool) { ended++ }) })
		}
		clk.Run(time.Hour)
		if ended != flows {
			b.Fatalf("%d flows ended, want %d", ended, flows)
		}
	}
}
