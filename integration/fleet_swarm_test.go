package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/integration/harness"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/swarm"
)

// The swarm's fault tests (docs/fleet.md, "Testing faults"): a cold layer
// spreads through a fleet piece by piece while it arrives, and something
// goes wrong in the middle. Every node's links are capped with tc so that
// the layer takes seconds to cross the fleet, long enough for the fault to
// land while nodes are passing on pieces they are still receiving.
//
// Every node pulls at the same moment with POST /shoal/v1/preload, which
// fetches the image through the node's own registry path: the pull of a
// client on the node's own machine, over loopback, which no NIC cap slows.
// Once the rollout is over the caps are lifted and the test GETs every
// blob through every node, checking each against its digest.
const (
	// fleetSwarmRate caps each node's link, each way: the layer crosses
	// one link in about 13 s.
	fleetSwarmRate = "16mbit"
	// fleetSwarmLayer is the size of the cold layer: 24 pieces.
	fleetSwarmLayer = 24 << 20
	// fleetSwarmWait bounds one rollout.
	fleetSwarmWait = 3 * time.Minute
	// fleetSmallBlobs bounds what a node may bring in from upstream and
	// still count as having none of the layer from there: the image's
	// config and manifest, a few hundred bytes each, against a layer of
	// 24 one-MiB pieces.
	fleetSmallBlobs = 64 << 10
)

// fleetSwarmTools skips (or in CI fails) a test that caps links: it needs
// root, tc and nsenter.
func fleetSwarmTools(t *testing.T) {
	t.Helper()
	requireRoot(t)
	requireTool(t, "tc", "nsenter", "ip")
}

// fleetCapLinks caps every interface of each node at fleetSwarmRate, both
// ways.
func fleetCapLinks(t *testing.T, ctx context.Context, nodes ...*harness.FleetNode) {
	t.Helper()
	for _, n := range nodes {
		if err := n.CapNetwork(ctx, fleetSwarmRate); err != nil {
			t.Fatalf("capping %s's links: %v", n.Short, err)
		}
	}
}

// fleetUncapLinks lifts the caps, so that checking every byte through
// every node afterwards takes no longer than it must.
func fleetUncapLinks(t *testing.T, ctx context.Context, nodes ...*harness.FleetNode) {
	t.Helper()
	for _, n := range nodes {
		if err := n.UncapNetwork(ctx); err != nil {
			t.Fatalf("lifting %s's caps: %v", n.Short, err)
		}
	}
}

// fleetColdImage pushes a one-layer image of fleetSwarmLayer bytes whose
// layer's designated fetcher (its origin), and its config's and
// manifest's, among nodes are ones that ok accepts, trying seeds from
// seed on.
//
// 256 seeds, not 32: the nodes' IDs are random, and the share of the key
// space each one is closest to varies widely, so when the nodes ok
// refuses own most of it all three must still land elsewhere; 32 seeds
// all failed once in CI (the partition case, 3 of 5 nodes acceptable).
func fleetColdImage(t *testing.T, ctx context.Context, f *harness.Fleet, repo string, seed uint64, nodes []*harness.FleetNode, ok func(origin *harness.FleetNode) bool) (*fleetImage, *harness.FleetNode) {
	t.Helper()
	const seeds = 256
	for s := seed; s < seed+seeds; s++ {
		img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, s, fleetSwarmLayer)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil {
			t.Fatal(err)
		}
		d, err := layers[0].Digest()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigName()
		if err != nil {
			t.Fatal(err)
		}
		man, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		// The config's and the manifest's designated fetchers serve them
		// to the others too: a corrupting X that brought the config in
		// was penalised by every node before the layer's swarm began,
		// and took no part in it (seen in CI).
		if origin := fleetClosest(t, d.String(), nodes...); ok(origin) && ok(fleetClosest(t, cfg.String(), nodes...)) && ok(fleetClosest(t, man.String(), nodes...)) {
			return fleetPushBuilt(t, ctx, f, repo, "1", img), origin
		}
	}
	t.Fatalf("no seed in %d gave a layer with an acceptable origin", seeds)
	return nil, nil
}

// fleetTraffic is what a node's metrics say it moved.
type fleetTraffic struct {
	servedPeers, fromPeers, fromUpstream float64
	// relayed counts pieces sent to peers from blobs the node was still
	// receiving (shoal_swarm_relayed_pieces_total).
	relayed float64
}

func (a fleetTraffic) minus(b fleetTraffic) fleetTraffic {
	return fleetTraffic{a.servedPeers - b.servedPeers, a.fromPeers - b.fromPeers, a.fromUpstream - b.fromUpstream, a.relayed - b.relayed}
}

// fetched is what the node took in, from anywhere.
func (a fleetTraffic) fetched() float64 { return a.fromPeers + a.fromUpstream }

func (a fleetTraffic) String() string {
	return fmt.Sprintf("served peers %.1f MiB (%.0f pieces while still receiving), took %.1f MiB from peers and %.1f MiB from upstream", a.servedPeers/(1<<20), a.relayed, a.fromPeers/(1<<20), a.fromUpstream/(1<<20))
}

func fleetTrafficOf(ctx context.Context, n *harness.FleetNode) (fleetTraffic, error) {
	return fleetTrafficAt(ctx, n.Short, n.API)
}

// fleetTrafficAt reads the traffic of node name through api.
func fleetTrafficAt(ctx context.Context, name string, api *harness.Node) (fleetTraffic, error) {
	m, err := api.Metrics(ctx)
	if err != nil {
		return fleetTraffic{}, fmt.Errorf("node %s /metrics: %w", name, err)
	}
	return fleetTraffic{
		servedPeers:  harness.Series(m, "shoal_served_bytes_total", `to="peer"`),
		fromPeers:    harness.Series(m, "shoal_fetched_bytes_total", `source="peer"`),
		fromUpstream: harness.Series(m, "shoal_fetched_bytes_total", `source="upstream"`),
		relayed:      harness.Series(m, "shoal_swarm_relayed_pieces_total", ""),
	}, nil
}

func fleetMustTraffic(t *testing.T, ctx context.Context, nodes ...*harness.FleetNode) map[*harness.FleetNode]fleetTraffic {
	t.Helper()
	out := map[*harness.FleetNode]fleetTraffic{}
	for _, n := range nodes {
		tr, err := fleetTrafficOf(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = tr
	}
	return out
}

// fleetRollout is one image preloaded on several nodes at once.
type fleetRollout struct {
	start   time.Time
	results map[*harness.FleetNode]chan fleetPreloaded
}

type fleetPreloaded struct {
	err  error
	took time.Duration
}

// fleetStartRollout starts preloading im on every node at the same moment.
func fleetStartRollout(t *testing.T, ctx context.Context, im *fleetImage, nodes ...*harness.FleetNode) *fleetRollout {
	t.Helper()
	ref := harness.UpstreamRule + "/" + im.repo + ":" + im.tag
	r := &fleetRollout{results: map[*harness.FleetNode]chan fleetPreloaded{}}
	clients := map[*harness.FleetNode]*adminapi.Client{}
	for _, n := range nodes {
		c, err := adminapi.New(n.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		clients[n] = c
		r.results[n] = make(chan fleetPreloaded, 1)
	}
	r.start = time.Now()
	for n, c := range clients {
		go func() {
			// The last line only counts failures; the ref's own line
			// says why.
			var why []string
			_, err := c.Preload(ctx, []string{ref}, func(l adminapi.ImageStreamLine) {
				if l.Error != "" && !l.Final() {
					why = append(why, l.Error)
				}
			})
			if err != nil && len(why) > 0 {
				err = fmt.Errorf("%w: %s", err, strings.Join(why, "; "))
			}
			r.results[n] <- fleetPreloaded{err: err, took: time.Since(r.start)}
		}()
	}
	return r
}

// ended reports whether n's preload has ended, without waiting.
func (r *fleetRollout) ended(n *harness.FleetNode) bool { return len(r.results[n]) > 0 }

// wait is n's preload's outcome, waiting for it as long as ctx lasts.
func (r *fleetRollout) wait(ctx context.Context, n *harness.FleetNode) fleetPreloaded {
	select {
	case res := <-r.results[n]:
		r.results[n] <- res
		return res
	case <-ctx.Done():
		return fleetPreloaded{err: fmt.Errorf("still running when the test's time ran out: %w", ctx.Err()), took: time.Since(r.start)}
	}
}

// mustSucceed waits for each node's preload: each must succeed.
func (r *fleetRollout) mustSucceed(t *testing.T, ctx context.Context, nodes ...*harness.FleetNode) {
	t.Helper()
	for _, n := range nodes {
		res := r.wait(ctx, n)
		if res.err != nil {
			t.Errorf("%s's pull failed after %v: %v", n.Short, res.took.Round(time.Millisecond), res.err)
			continue
		}
		t.Logf("%s pulled the image in %v", n.Short, res.took.Round(time.Millisecond))
	}
	if t.Failed() {
		t.FailNow()
	}
}

// fleetLogLines are the lines of n's log that contain s.
func fleetLogLines(ctx context.Context, n *harness.FleetNode, s string) []string {
	var out []string
	for _, l := range strings.Split(n.Logs(ctx, 1<<20), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// --- A node killed while it serves pieces it is still receiving --------------

// Five nodes pull a cold layer at once. As soon as a node other than the
// layer's origin has served peers pieces while it holds less than the
// whole layer, it is killed (SIGKILL). Every other node's pull must
// complete, with the right bytes, and the fleet must still fetch the
// layer from upstream about once.
func testFleetSwarmKill(t *testing.T, env *fleetEnv) {
	fleetSwarmTools(t)
	ctx := testContext(t, 4*time.Minute)
	f := fleetNew(t, ctx, env, "swkill", false)
	n0 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n0"})
	nodes := []*harness.FleetNode{n0}
	for _, name := range []string{"n1", "n2", "n3", "n4"} {
		nodes = append(nodes, fleetStartNode(t, ctx, f, harness.NodeSpec{Name: name, Bootstrap: []*harness.FleetNode{n0}}))
	}
	fleetWaitPeers(t, ctx, len(nodes)-1, nodes...)
	im, origin := fleetColdImage(t, ctx, f, "fleet/swarm-kill", 601, nodes, func(*harness.FleetNode) bool { return true })
	layer := im.layer()
	pids := map[*harness.FleetNode]int{}
	for _, n := range nodes {
		pid, err := n.Pid(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pids[n] = pid
	}
	// The watch below reads metrics from inside each node's own network
	// namespace: over the capped links a reading took seconds, queued
	// behind the pieces, and the window in which a relayer is still
	// receiving (a few seconds) was missed (seen in CI).
	inside := map[*harness.FleetNode]*harness.Node{}
	for _, n := range nodes {
		api, err := n.Inside(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inside[n] = api
	}
	fleetCapLinks(t, ctx, nodes...)
	before := fleetMustTraffic(t, ctx, nodes...)
	ro := fleetStartRollout(t, ctx, im, nodes...)

	// A relayer: a node that is not the origin, has brought none of the
	// layer in from upstream, has sent peers a piece of the layer while it
	// was still receiving it (the node counts those itself: watching
	// served and fetched bytes from outside missed the moment in CI), and
	// is receiving still. It may have brought in the config or the
	// manifest, a few hundred bytes each, as their designated fetcher:
	// excluding those nodes too left two candidates or fewer, and once
	// neither relayed before its pull ended (seen in CI).
	var victim *harness.FleetNode
	var seen fleetTraffic
	var tooLate error
	err := waitFor(ctx, fleetSwarmWait, func() error {
		running := 0
		for _, n := range nodes {
			if n == origin || ro.ended(n) {
				continue
			}
			running++
			now, err := fleetTrafficAt(ctx, n.Short, inside[n])
			if err != nil {
				continue // one node's reading failed: look at the others, and at it next round
			}
			tr := now.minus(before[n])
			// Its pull still runs (ro.ended is false): it is receiving the
			// layer or about to end; its count says it passed pieces on
			// while receiving.
			if tr.relayed >= 1 && tr.fromUpstream < fleetSmallBlobs {
				victim, seen = n, tr
				return nil
			}
		}
		if running == 0 {
			tooLate = errors.New("every node but the origin finished its pull before one was seen serving a piece it was still receiving")
			return nil
		}
		return errors.New("no node other than the origin has served a piece of the layer while still receiving it")
	})
	if err == nil {
		err = tooLate
	}
	if err != nil {
		for _, n := range nodes {
			if now, terr := fleetTrafficAt(ctx, n.Short, inside[n]); terr == nil {
				t.Logf("%s (origin %v, ended %v): %s", n.Short, n == origin, ro.ended(n), now.minus(before[n]))
			}
		}
		t.Fatalf("%v (after %v)", err, time.Since(ro.start).Round(time.Millisecond))
	}
	// SIGKILL from the host lands at once; docker kill can take seconds.
	if err := syscall.Kill(pids[victim], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.Kill(ctx) // for docker's own record; the node is dead already
	t.Logf("killed %s %v into the rollout (origin %s): it had %s, of a %d-byte layer", victim.Short, time.Since(ro.start).Round(time.Millisecond), origin.Short, seen, layer.Size)

	var survivors []*harness.FleetNode
	for _, n := range nodes {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	ro.mustSucceed(t, ctx, survivors...)
	after := fleetMustTraffic(t, ctx, survivors...)
	var upstream float64
	for _, n := range survivors {
		tr := after[n].minus(before[n])
		upstream += tr.fromUpstream
		t.Logf("%s: %s", n.Short, tr)
	}
	// The origin brings the layer in once, and it is alive and holds every
	// piece: a survivor has no reason to go upstream itself (it would
	// after a 30 s stall, or if the piece list were wrong). The bound is
	// issue 9's target for a rollout, 1.05 copies.
	t.Logf("upstream sent the survivors %.2f copies of the layer", upstream/float64(layer.Size))
	if upstream > 1.05*float64(layer.Size) {
		t.Errorf("upstream sent the survivors %.0f bytes, %.2f copies of the %d-byte layer: losing one relayer sent nodes upstream", upstream, upstream/float64(layer.Size), layer.Size)
	}
	fleetUncapLinks(t, ctx, survivors...)
	for _, n := range survivors {
		fleetMustPull(t, ctx, n, im, false)
	}
}

// --- A peer that corrupts pieces while the blob is arriving -----------------

// Five nodes pull a cold layer at once; one of them, X, is not the layer's
// origin and corrupts every piece it sends swarm askers (a shoalfault
// build with SHOAL_FAULT_CORRUPT_PEER_PIECES=1), so every piece it passes
// on is wrong. Small blobs it relays whole stay right: with those
// corrupted too, X was once penalised for a config before the layer's
// swarm began, and served no piece to test (seen in CI).
// Every honest node's pull must complete with the right bytes; those X
// sent a piece to must penalise it, and no one else.
func testFleetSwarmCorrupt(t *testing.T, env *fleetEnv) {
	fleetSwarmTools(t)
	ctx := testContext(t, 4*time.Minute)
	f := fleetNew(t, ctx, env, "swcorrupt", false)
	n0 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n0"})
	boot := []*harness.FleetNode{n0}
	honest := []*harness.FleetNode{n0}
	for _, name := range []string{"n1", "n2", "n3"} {
		honest = append(honest, fleetStartNode(t, ctx, f, harness.NodeSpec{Name: name, Bootstrap: boot}))
	}
	x := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "x", Bootstrap: boot, Env: []string{"SHOAL_FAULT_CORRUPT_PEER_PIECES=1"}})
	nodes := append([]*harness.FleetNode{x}, honest...)
	fleetWaitPeers(t, ctx, len(nodes)-1, nodes...)
	im, origin := fleetColdImage(t, ctx, f, "fleet/swarm-corrupt", 701, nodes, func(o *harness.FleetNode) bool { return o != x })
	fleetCapLinks(t, ctx, nodes...)
	before := fleetMustTraffic(t, ctx, nodes...)
	ro := fleetStartRollout(t, ctx, im, nodes...)
	ro.mustSucceed(t, ctx, honest...)
	xRes := ro.wait(ctx, x)
	t.Logf("X's own pull (its receiving side is honest) ended after %v: %v", xRes.took.Round(time.Millisecond), xRes.err)

	after := fleetMustTraffic(t, ctx, nodes...)
	for _, n := range nodes {
		t.Logf("%s (origin %v): %s; penalties %v", n.Short, n == origin, after[n].minus(before[n]), fleetMetric(t, ctx, n, "shoal_peer_penalties_total", ""))
	}
	xServed := after[x].minus(before[x]).servedPeers
	if xServed < p2p.PieceSize {
		for _, n := range honest {
			for _, l := range fleetLogLines(ctx, n, "penalising peer") {
				t.Logf("%s: %s", n.Short, l)
			}
		}
		t.Fatalf("X served peers %.0f bytes, less than a piece: no one asked it, so nothing was tested", xServed)
	}
	// Who penalised whom, from the honest nodes' logs (the metric counts
	// penalties but does not name the peer).
	caught := 0
	for _, n := range honest {
		lines := fleetLogLines(ctx, n, "penalising peer")
		for _, l := range lines {
			if !strings.Contains(l, "peer="+x.PeerID) {
				t.Errorf("%s penalised a peer other than X: %s", n.Short, l)
			}
		}
		if len(lines) > 0 {
			caught++
			t.Logf("%s: %s", n.Short, lines[0])
			if pen := fleetMetric(t, ctx, n, "shoal_peer_penalties_total", ""); pen < 1 {
				t.Errorf("%s logged a penalty but its shoal_peer_penalties_total is %v", n.Short, pen)
			}
		}
	}
	if caught == 0 {
		t.Errorf("X served peers %.0f corrupt bytes and no honest node penalised it", xServed)
	}
	fleetUncapLinks(t, ctx, honest...)
	for _, n := range honest {
		fleetMustPull(t, ctx, n, im, false)
	}
}

// --- A partition during a rollout --------------------------------------------

// Five nodes pull a cold layer at once. When P1 and P2 have some of it,
// both are cut off the fleet network (and so from the upstream, which is on
// it too) for 13 s, then reconnected at the same addresses. They
// share an island network, through which the test keeps talking to them
// (and they to each other). Every node must finish with the right bytes.
func testFleetSwarmPartition(t *testing.T, env *fleetEnv) {
	fleetSwarmTools(t)
	ctx := testContext(t, 4*time.Minute)
	f := fleetNew(t, ctx, env, "swpart", true)
	// The island's name sorts before the fleet network's, so P1's and
	// P2's published ports go through it and survive the partition.
	island, err := f.CreateNetwork(ctx, "b-island", false)
	if err != nil {
		t.Fatal(err)
	}
	n0 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n0"})
	boot := []*harness.FleetNode{n0}
	n1 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n1", Bootstrap: boot})
	n2 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n2", Bootstrap: boot})
	p1 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "p1", Bootstrap: boot, Networks: []*harness.Network{island}})
	p2 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "p2", Bootstrap: boot, Networks: []*harness.Network{island}})
	parted := []*harness.FleetNode{p1, p2}
	nodes := []*harness.FleetNode{n0, n1, n2, p1, p2}
	fleetWaitPeers(t, ctx, len(nodes)-1, nodes...)
	im, origin := fleetColdImage(t, ctx, f, "fleet/swarm-part", 801, nodes, func(o *harness.FleetNode) bool { return o != p1 && o != p2 })
	layer := im.layer()
	ips := map[*harness.FleetNode]string{}
	for _, p := range parted {
		ip, err := p.IP(ctx, f.Net.Name)
		if err != nil {
			t.Fatal(err)
		}
		ips[p] = ip
	}
	fleetCapLinks(t, ctx, nodes...)
	before := fleetMustTraffic(t, ctx, nodes...)
	ro := fleetStartRollout(t, ctx, im, nodes...)

	// Cut them off once both hold a few pieces and neither holds most.
	var tooLate error
	err = waitFor(ctx, fleetSwarmWait, func() error {
		for _, p := range parted {
			tr, err := fleetTrafficOf(ctx, p)
			if err != nil {
				return err
			}
			got := tr.minus(before[p]).fetched()
			if got > float64(layer.Size)/2 {
				tooLate = fmt.Errorf("%s had %.0f of %d bytes before the other had two pieces: too late to cut it off mid-rollout, so nothing would be tested", p.Short, got, layer.Size)
				return nil
			}
			if got < 2*p2p.PieceSize {
				return fmt.Errorf("%s has %.0f bytes of the layer, not yet two pieces", p.Short, got)
			}
		}
		return nil
	})
	if err == nil {
		err = tooLate
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parted {
		if err := f.Net.Disconnect(ctx, p.Container); err != nil {
			t.Fatal(err)
		}
	}
	atCut := fleetMustTraffic(t, ctx, parted...)
	cutAt := time.Now()
	t.Logf("cut P1 and P2 off %v into the rollout (origin %s): P1 %s; P2 %s", cutAt.Sub(ro.start).Round(time.Millisecond), origin.Short, atCut[p1].minus(before[p1]), atCut[p2].minus(before[p2]))
	// Longer than a piece request may take, so that the requests in
	// flight when the link went fail (a shorter cut is bridged by TCP
	// itself: the same addresses come back and the streams go on), and
	// shorter than a swarm waits without progress before it goes
	// upstream.
	time.Sleep(swarm.PieceTimeout + 3*time.Second)
	atHeal := fleetMustTraffic(t, ctx, parted...)
	for _, p := range parted {
		if err := f.Net.Connect(ctx, p.Container, ips[p]); err != nil {
			t.Fatal(err)
		}
	}
	// Their fleet interfaces are new, and uncapped.
	fleetCapLinks(t, ctx, parted...)
	t.Logf("reconnected P1 and P2 after %v; meanwhile P1 %s; P2 %s", time.Since(cutAt).Round(time.Millisecond), atHeal[p1].minus(atCut[p1]), atHeal[p2].minus(atCut[p2]))

	ro.mustSucceed(t, ctx, nodes...)
	after := fleetMustTraffic(t, ctx, nodes...)
	var upstream float64
	for _, n := range nodes {
		tr := after[n].minus(before[n])
		upstream += tr.fromUpstream
		// Each "waiting" line is 5 s in which its fetch got no piece:
		// the connected nodes wait too, on requests to P1 and P2 that
		// neither fail nor answer until they time out.
		t.Logf("%s (origin %v): %s; idle 5 s %d times", n.Short, n == origin, tr, len(fleetLogLines(ctx, n, "swarm fetch waiting")))
	}
	// The cut is shorter than a swarm waits without progress, so P1 and
	// P2 go on from their peers once it heals: the fleet still fetches
	// the layer from upstream once (issue 9's bound, 1.05 copies). A node
	// that gave up on the swarm during the cut would have found the
	// upstream unreachable too.
	t.Logf("upstream sent the fleet %.2f copies of the layer", upstream/float64(layer.Size))
	if upstream > 1.05*float64(layer.Size) {
		t.Errorf("upstream sent the fleet %.0f bytes, %.2f copies of the %d-byte layer: the partition sent nodes upstream", upstream, upstream/float64(layer.Size), layer.Size)
	}
	for _, p := range parted {
		tr := after[p].minus(atHeal[p])
		how := "from peers"
		if tr.fromUpstream > 0 {
			how = "from upstream with Range"
		}
		t.Logf("after the partition %s went on %s: %s; resumed from upstream: %q", p.Short, how, tr, fleetLogLines(ctx, p, "resuming from upstream"))
	}
	fleetUncapLinks(t, ctx, nodes...)
	for _, n := range nodes {
		fleetMustPull(t, ctx, n, im, false)
	}
}
