package main

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/simnet"
)

// small is a rollout that runs in a fraction of a second.
func small(nodes int) config {
	return config{nodes: nodes, rate: 1e6, size: 6 << 20, layers: 2, latency: time.Millisecond, seed: 3, share: true, sendBuffer: defaultSendBuffer}
}

func TestSameSeedSameRun(t *testing.T) {
	a, b := measure(small(12), time.Hour), measure(small(12), time.Hour)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs of one seed differ:\n%+v\n%+v", a, b)
	}
	c := small(12)
	c.seed++
	if reflect.DeepEqual(a, measure(c, time.Hour)) {
		t.Fatal("another seed gave the very same run: the seed is not used")
	}
}

// Reports of progress read the run and change nothing in it, and stop
// once every node is done.
func TestProgressChangesNothing(t *testing.T) {
	var log bytes.Buffer
	c := small(12)
	c.progress, c.progressEvery = &log, 500*time.Millisecond
	if a, b := measure(small(12), time.Hour), measure(c, time.Hour); !reflect.DeepEqual(a, b) {
		t.Fatalf("a run with reports differs from one without:\n%+v\n%+v", b, a)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[len(lines)-1], "12 of 12 nodes done") {
		t.Fatalf("reports end with %q, want the last to say all 12 nodes are done", lines[len(lines)-1])
	}
}

func TestOneNodeTakesSizeOverRate(t *testing.T) {
	r := measure(small(1), time.Hour)
	want := float64(6<<20) / 1e6
	if math.Abs(r.Alone-want)/want > 0.01 || math.Abs(r.Last-want)/want > 0.01 {
		t.Fatalf("one node alone took %.3f s (in a fleet of one %.3f s), want %.3f s (size/rate) within 1%%", r.Alone, r.Last, want)
	}
	if r.Copies != 1 {
		t.Fatalf("one node took %.2f copies from upstream, want 1", r.Copies)
	}
}

func TestFleetTakesTheImageOnEveryNode(t *testing.T) {
	cfg := small(15)
	f := newFleet(cfg)
	f.run(time.Hour)
	for _, n := range f.nodes {
		if n.left != 0 {
			t.Fatalf("node %d has %d blobs left", n.id, n.left)
		}
		if n.downloaded < float64(cfg.size)-1 {
			t.Fatalf("node %d received %.0f bytes, less than the image's %d", n.id, n.downloaded, cfg.size)
		}
	}
	if f.stats.upstreamBytes < float64(cfg.size)-1 {
		t.Fatalf("upstream sent %.0f bytes, less than one copy (%d)", f.stats.upstreamBytes, cfg.size)
	}
	var up float64
	for _, n := range f.nodes {
		up += n.uploaded
	}
	if got, want := up+f.stats.upstreamBytes, float64(cfg.nodes)*float64(cfg.size); got < want-1 {
		t.Fatalf("peers and upstream sent %.0f bytes in all, less than an image per node (%.0f)", got, want)
	}
}

// Nodes dying do not stall the rest, and a relay whose own copy of a
// piece fails breaks its streams off: their askers ask elsewhere rather
// than wait.
func TestNodesLeavingDoNotStallTheRest(t *testing.T) {
	cfg := small(20)
	cfg.leave = 0.25
	r := measure(cfg, time.Hour)
	if r.Died == 0 || r.RelaysBroken == 0 {
		t.Fatalf("%d nodes died, %d relays broke off: the test tests nothing", r.Died, r.RelaysBroken)
	}
	if r.Done+r.Died != cfg.nodes {
		t.Fatalf("%d nodes done and %d died of %d: the rest stalled", r.Done, r.Died, cfg.nodes)
	}
}

func TestFlagsAndOutput(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-nodes", "4", "-size", "2", "-layers", "1", "-rate", "8mbit"}, &out); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-nodes", "4", "-size", "2", "-layers", "1", "-rate", "8mbit", "-no-cut-through"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one pull alone", "no sharing", "fleet p50", "upstream copies", "upload use", "served while still arriving"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range [][]string{{"-nodes", "0"}, {"-rate", "fast"}, {"-rate", "-8mbit"}, {"-layers", "0"}, {"-leave", "1"}, {"-runs", "0"}, {"-sendbuf", "-1"}} {
		if err := run(bad, &out); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"8mbit": 1e6, "40Mbit": 5e6, "800kbit": 1e5, "1gbit": 1.25e8, "8000": 1000} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// On a link so slow that a piece from the origin cannot come in within
// swarm.PieceTimeout at its fair share, the swarm still fetches each
// blob from upstream once: the bound on a request to the origin grows
// with the link (swarm.OriginLimit). With PieceTimeout as the bound,
// every first copy of a piece was given back before it arrived, and the
// fetches stalled and went upstream (2.2 copies at 10 nodes).
func TestSlowLinksKeepOneUpstreamCopy(t *testing.T) {
	cfg := config{nodes: 10, rate: 250e3, size: 64 << 20, layers: 4, latency: time.Millisecond, seed: 1, share: true, sendBuffer: defaultSendBuffer}
	r := measure(cfg, 2*time.Hour)
	if r.Copies > 1.05 {
		t.Fatalf("10 nodes on 2 Mbit/s links read %.2f copies of the image from upstream, want at most 1.05", r.Copies)
	}
}

// No fetch's reader waits past the node's idle timeout, which would
// fail the pull: on 1 Mbit/s links, where readers waited up to 132 s,
// a fetch whose reader has waited swarm.ReaderStarve goes upstream.
func TestNoReaderWaitsPastTheIdleTimeout(t *testing.T) {
	cfg := config{nodes: 10, rate: 125e3, size: 64 << 20, layers: 4, latency: time.Millisecond, seed: 1, share: true, sendBuffer: defaultSendBuffer}
	r := measure(cfg, 4*time.Hour)
	if r.Starved != 0 {
		t.Fatalf("%d fetches' readers waited past the node's idle timeout (longest %.0f s): their pulls would fail", r.Starved, r.ReaderWait)
	}
	if r.Done != cfg.nodes {
		t.Fatalf("%d of %d nodes done", r.Done, cfg.nodes)
	}
}

// A node passes a piece on while it still arrives (cut-through): down a
// chain of askers the first copies of a one-layer image no longer take
// a whole piece's time per hop, and the origin still reads the image
// from upstream once. -no-cut-through is the store-and-forward model,
// and serves nothing while it arrives.
func TestCutThroughShortensTheChain(t *testing.T) {
	for _, nodes := range []int{3, 4} {
		cfg := small(nodes)
		cfg.layers = 1
		cut := measure(cfg, time.Hour)
		cfg.noCutThrough = true
		saf := measure(cfg, time.Hour)
		if cut.Relays == 0 {
			t.Errorf("%d nodes: no piece was served while it arrived: the test tests nothing", nodes)
		}
		if saf.Relays != 0 || saf.RelaysBroken != 0 {
			t.Errorf("%d nodes, -no-cut-through: %d pieces served while they arrived (%d broken off), want none", nodes, saf.Relays, saf.RelaysBroken)
		}
		if cut.Last >= saf.Last {
			t.Errorf("%d nodes: the last node was done at %.2f s with cut-through, at %.2f s without: want sooner", nodes, cut.Last, saf.Last)
		}
		for _, r := range []result{cut, saf} {
			if math.Abs(r.Copies-1) > 0.01 || r.Done != nodes {
				t.Errorf("%d nodes: %d done, %.2f upstream copies; want all done, 1.00", nodes, r.Done, r.Copies)
			}
		}
	}
}

// Both models repeat for a seed.
func TestSameSeedSameRunEitherWay(t *testing.T) {
	for _, noCut := range []bool{false, true} {
		c := small(12)
		c.layers, c.noCutThrough = 1, noCut
		if a, b := measure(c, time.Hour), measure(c, time.Hour); !reflect.DeepEqual(a, b) {
			t.Fatalf("noCutThrough %v: two runs of one seed differ:\n%+v\n%+v", noCut, a, b)
		}
	}
}

// What a relay reads of a piece arriving: its bytes beyond the answer's
// header, exact between the flow's changes of rate, when the last came,
// and one break that reaches every relay once.
func TestInboundCountsWhatArrived(t *testing.T) {
	clk := &simnet.Clock{}
	net := simnet.NewNet(clk, 2, 1e6, 1e6)
	g := &inbound{header: 1000}
	fl := net.Start(0, 1, 1000+pieceSize, nil, func(bool) {})
	g.flow = fl
	clk.At(500*time.Millisecond, func() {})
	clk.Run(500 * time.Millisecond)
	if got, want := g.pieceBytes(), int64(500_000-1000); got < want-1 || got > want+1 {
		t.Fatalf("after 0.5 s at 1 MB/s: %d piece bytes arrived, want %d", got, want)
	}
	if got := g.lastByte(clk.Now()); got != clk.Now() {
		t.Fatalf("while bytes move the last came at %v, want now (%v)", got, clk.Now())
	}
	broken := 0
	g.relays = append(g.relays, func() { broken++ }, func() { broken++ })
	g.breakOff()
	g.breakOff()
	if !g.broken || broken != 2 {
		t.Fatalf("a break reached its relays %d times, want each of the two once", broken)
	}
}
