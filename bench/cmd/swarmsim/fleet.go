package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/simnet"
	"github.com/shoal-dev/shoal/swarm"
)

// Constants of the node that the simulation copies rather than imports:
// they live in packages a bench command should not reach into (p2p,
// ingest), and a change there should show here as a deliberate edit.
const (
	// pieceSize is p2p.PieceSize.
	pieceSize = 1 << 20
	// defaultSendBuffer is how much of a piece is below a holder's
	// write when it returns (-sendbuf's default): libp2p's initial yamux
	// stream window.
	defaultSendBuffer = 256 << 10
	// maxUploads is p2p's memory bound on upload streams.
	maxUploads = 32
	// preloadConcurrency is ingest's: a preload pulls up to eight blobs
	// at once.
	preloadConcurrency = 8
	// statusTimeout is how long a status question to the origin waits.
	statusTimeout = 5 * time.Second
	// idleTimeout is cache's fetchIdleTimeout: a fetch whose store has
	// had no byte this long is given up, and the pull fails.
	idleTimeout = 2 * time.Minute
)

// config is one simulated rollout.
type config struct {
	nodes   int
	rate    float64 // bytes per second, each way, per node
	size    int64   // image bytes
	layers  int
	latency time.Duration // one way, per message
	leave   float64       // fraction of nodes that die during the rollout
	seed    uint64
	share   bool // false: every node pulls from upstream (no sharing)
	// sendBuffer is how many bytes of a piece are still on their way
	// when the holder's write returns and frees its upload slot.
	sendBuffer int64
	// verbose, if set, is told of every swarm fetch that stalls.
	verbose io.Writer
	// heapProfile, if set, is where the shared run's heap is written
	// when its simulation ends, the fleet still live.
	heapProfile string
	// freeHeaders makes requests and answer headers cost only the
	// latency, as the simulation did before it counted them (wire.go).
	freeHeaders bool
	// membersByName makes every answer name its members by peer ID, as
	// p2p answers a node of an earlier release, instead of by ref.
	membersByName bool
	// progress, every progressEvery of simulated time (0: never), is
	// told how far the run has got.
	progress      io.Writer
	progressEvery time.Duration
	// noCutThrough makes a node pass a piece on only once it holds it
	// whole and checked (store and forward), as the node did before
	// cut-through relay (p2p's inbound.go; fetch.go, relay).
	noCutThrough bool
}

// fleet is the state of one simulated rollout.
type fleet struct {
	cfg   config
	clk   *simnet.Clock
	net   *simnet.Net
	t0    time.Time
	rng   *rand.Rand
	blobs []*blob
	nodes []*node
	names []string
	stats stats
	// upBuckets is the fleet's upload in each bucket of time.
	upBuckets []float64
}

// heldPoll is the longest whenHeld waits before it looks again.
const heldPoll = 100 * time.Millisecond

// bucket is the resolution of the upload record.
const bucket = 100 * time.Millisecond

func (f *fleet) countUpload(n, to *node, x float64) {
	n.uploaded += x
	to.downloaded += x
	k := int(f.clk.Now() / bucket)
	for len(f.upBuckets) <= k {
		f.upBuckets = append(f.upBuckets, 0)
	}
	f.upBuckets[k] += x
}

type blob struct {
	idx    int
	size   int64
	origin int
	// injected is, per piece, when its first copy finished leaving the
	// origin (0: not yet).
	injected []time.Duration
}

func (b *blob) pieces() int { return int((b.size + pieceSize - 1) / pieceSize) }

func (b *blob) pieceLen(i int) int64 { return min(pieceSize, b.size-int64(i)*pieceSize) }

// node is one simulated shoal node.
type node struct {
	id       int
	dead     bool
	slots    *swarm.Slots
	intake   *swarm.Slots
	trackers map[int]*swarm.Tracker
	holds    map[int]*holding
	queue    []int // blobs its preload has yet to start
	running  int
	bringing int // upstream streams it reads for the fleet
	// bringIns are the blobs it took to bring in, and those it handed
	// on (designate).
	bringIns swarm.BringIns
	left     int // blobs not yet done
	doneAt   time.Duration
	uploaded float64
	// downloaded counts every byte the node received, from peers and
	// upstream, including pieces that arrived too late to count.
	downloaded float64
}

// holding is what a node holds of one blob: a stored prefix, checked
// pieces beyond it in memory (a swarm fetch), or a stream from upstream
// (the origin's fetch, or a fetch that fell back to a Range request).
type holding struct {
	stored   int64
	mem      []bool // checked pieces, by index (swarm fetch)
	upstream *simnet.Flow
	upFrom   int64
	complete bool
	fetch    *fetch
	started  bool // the origin's upstream fetch has begun
	wanted   bool // the node's own preload has asked for it
}

type stats struct {
	upstreamBytes float64
	requests      int
	busy          int
	timeouts      int
	stalls        int
	// relays counts the requests a node served while the piece was
	// still arriving to it (cut-through), relaysBroken those of them
	// broken off because its own copy did not arrive whole and checked.
	relays       int
	relaysBroken int
	statuses     int
	// headerBytes are the bytes of requests and answer headers (wire.go).
	headerBytes float64
	// readerWait is the longest any fetch's reader waited for its next
	// piece.
	readerWait time.Duration
	// starved counts the fetches whose reader waited past idleTimeout.
	starved int
}

func newFleet(cfg config) *fleet {
	clk := &simnet.Clock{}
	f := &fleet{cfg: cfg, clk: clk, net: simnet.NewNet(clk, cfg.nodes, cfg.rate, cfg.rate), t0: time.Unix(1_800_000_000, 0), rng: rand.New(rand.NewPCG(cfg.seed, 0x5eed))}
	sizes := splitSize(cfg.size, cfg.layers)
	for i := range cfg.nodes {
		n := &node{id: i, slots: swarm.NewSlots(maxUploads), intake: swarm.NewIntake(), trackers: map[int]*swarm.Tracker{}, holds: map[int]*holding{}, left: len(sizes)}
		for b := range sizes {
			n.queue = append(n.queue, b)
		}
		f.nodes = append(f.nodes, n)
		f.names = append(f.names, "n"+strconv.Itoa(i))
	}
	for i, sz := range sizes {
		f.blobs = append(f.blobs, &blob{idx: i, size: sz, origin: f.designate(i)})
		f.blobs[i].injected = make([]time.Duration, f.blobs[i].pieces())
	}
	return f
}

// designate is blob i's origin. Every node ranks the nodes alike for a
// blob (p2p: by DHT distance to its digest); the first that takes it
// brings it in (swarm.BringIns), and a node already bringing in another
// blob hands it to the next. The preloads ask for every blob at once, so
// the decisions are taken at the start, in blob order. Every node hands
// it on only when there are fewer nodes than blobs (the one-node phases):
// then the first in the ranking reads it all the same, as in p2p a node
// with no peer after it does.
func (f *fleet) designate(i int) int {
	rank := f.rng.Perm(f.cfg.nodes)
	key := strconv.Itoa(i)
	for _, r := range rank {
		if f.nodes[r].bringIns.Mine(key, f.t0) {
			f.nodes[r].bringIns.Started(key, f.t0)
			return r
		}
	}
	f.nodes[rank[0]].bringIns.Started(key, f.t0)
	return rank[0]
}

// splitSize is benchimage.SplitSize: equal layers, the last takes the rest.
func splitSize(total int64, parts int) []int64 {
	out := make([]int64, parts)
	for i := range out {
		out[i] = total / int64(parts)
	}
	out[parts-1] += total % int64(parts)
	return out
}

func (f *fleet) now() time.Time { return f.t0.Add(f.clk.Now()) }

func (f *fleet) idOf(name string) int {
	i, _ := strconv.Atoi(name[1:])
	return i
}

// run simulates the rollout until every live node is done (or limit).
func (f *fleet) run(limit time.Duration) {
	if f.cfg.leave > 0 {
		onePull := time.Duration(float64(f.cfg.size) / f.cfg.rate * float64(time.Second))
		dying := int(f.cfg.leave * float64(f.cfg.nodes))
		for _, i := range f.rng.Perm(f.cfg.nodes)[:dying] {
			at := time.Duration(f.rng.Int64N(int64(onePull)))
			f.clk.At(at, func() { f.kill(i) })
		}
	}
	for _, n := range f.nodes {
		// The preload first resolves the tag and reads the manifest
		// from upstream: two round trips.
		f.clk.At(4*f.cfg.latency, func() { f.next(n) })
	}
	if f.cfg.progressEvery > 0 {
		f.clk.After(f.cfg.progressEvery, f.report)
	}
	f.clk.Run(limit)
}

// report tells cfg.progress how far the run has got, and comes again
// while any live node is still pulling.
func (f *fleet) report() {
	done, dead := 0, 0
	for _, n := range f.nodes {
		switch {
		case n.dead:
			dead++
		case n.left == 0:
			done++
		}
	}
	fmt.Fprintf(f.cfg.progress, "swarmsim: seed %d, sharing %v: %v simulated, %d of %d nodes done, %d dead, %.2f upstream copies, %v CPU\n",
		f.cfg.seed, f.cfg.share, f.clk.Now(), done, len(f.nodes), dead, f.stats.upstreamBytes/float64(f.cfg.size), cpuTime().Round(time.Second))
	if done+dead < len(f.nodes) {
		f.clk.After(f.cfg.progressEvery, f.report)
	}
}

// next starts the node's next blobs, up to the preload's concurrency.
func (f *fleet) next(n *node) {
	for !n.dead && n.running < preloadConcurrency && len(n.queue) > 0 {
		b := f.blobs[n.queue[0]]
		n.queue = n.queue[1:]
		n.running++
		f.pull(n, b)
	}
}

// pull is the node's client asking it for blob b.
func (f *fleet) pull(n *node, b *blob) {
	h := f.holding(n, b)
	h.wanted = true
	if !f.cfg.share || b.origin == n.id {
		if h.complete {
			f.clk.After(f.cfg.latency, func() { f.blobDone(n, b) })
			return
		}
		f.startUpstream(n, b, h, 0, true)
		return
	}
	// Fetch: the designated fetcher is asked for the header (a status
	// answer), then the swarm fetch starts.
	giveUp := func() { f.clk.After(statusTimeout, func() { f.fallback(n, b, f.holding(n, b)) }) }
	f.message(n.id, b.origin, requestBytes(0, nil, nil), func(ok bool) {
		o := f.nodes[b.origin]
		if !ok || o.dead {
			giveUp()
			return
		}
		f.originOpens(o, b)
		f.tracker(o, b).Note(f.names[n.id], 0, nil, f.now())
		have, mem := f.haveOf(o, b)
		members, version := f.tracker(o, b).Members(f.names[n.id], 0, nil, f.now())
		every := f.tracker(o, b).StatusEvery()
		f.message(o.id, n.id, answerBytes(have, mem, members, int(have/pieceSize), f.cfg.membersByName), func(ok bool) {
			if n.dead {
				return
			}
			if !ok {
				giveUp()
				return
			}
			f.startFetch(n, b, have, mem, members, version, every)
		})
	})
}

// message carries a request or an answer's header from src to dst:
// its bytes on both links (wire.go), then the latency. then is told
// whether it arrived (false: a node at either end died on the way).
func (f *fleet) message(src, dst int, bytes int64, then func(ok bool)) {
	if f.cfg.freeHeaders {
		f.clk.After(f.cfg.latency, func() { then(!f.nodes[dst].dead) })
		return
	}
	if f.nodes[src].dead || f.nodes[dst].dead {
		f.clk.After(f.cfg.latency, func() { then(false) })
		return
	}
	f.net.Start(src, dst, bytes, func(x float64) { f.stats.headerBytes += x }, func(ok bool) {
		if !ok {
			then(false)
			return
		}
		f.clk.After(f.cfg.latency, func() { then(!f.nodes[dst].dead) })
	})
}

func (f *fleet) holding(n *node, b *blob) *holding {
	h := n.holds[b.idx]
	if h == nil {
		h = &holding{}
		n.holds[b.idx] = h
	}
	return h
}

func (f *fleet) tracker(n *node, b *blob) *swarm.Tracker {
	t := n.trackers[b.idx]
	if t == nil {
		t = swarm.NewTracker(f.cfg.seed ^ uint64(n.id)<<20 ^ uint64(b.idx))
		n.trackers[b.idx] = t
	}
	// As p2p's tracker, each use sees the node's upload rate now.
	t.SetUplink(n.slots.Rate())
	return t
}

// originOpens starts the designated fetcher's upstream fetch of b on
// the first request that opens the blob there (or its own client's).
func (f *fleet) originOpens(o *node, b *blob) {
	h := f.holding(o, b)
	if !h.started {
		f.startUpstream(o, b, h, 0, true)
	}
}

// startUpstream fetches b from upstream from byte from: a request, an
// answer, then the bytes at the node's download share.
func (f *fleet) startUpstream(n *node, b *blob, h *holding, from int64, bringsIn bool) {
	if h.started && from == 0 {
		return
	}
	h.started = true
	h.upFrom = from
	f.clk.After(2*f.cfg.latency, func() {
		if n.dead {
			return
		}
		// The upstream stream counts in the node's intake, as in the node
		// (pull's Downlink, p2p's UpstreamStream).
		// One the node reads for the fleet counts as the intake's
		// minimum, and holds its fetches' first requests back
		// (p2p's UpstreamStream, bringsIn).
		weight := 1
		if bringsIn {
			weight = n.intake.Min
			n.bringing++
		}
		for range weight {
			n.intake.Take()
		}
		h.upstream = f.net.Start(simnet.Upstream, n.id, b.size-from, func(x float64) {
			f.stats.upstreamBytes += x
			n.downloaded += x
			n.intake.Sent(int64(x), f.now())
		}, func(ok bool) {
			for range weight {
				n.intake.Release()
			}
			if bringsIn {
				n.bringing--
				n.bringIns.Ended(strconv.Itoa(b.idx), f.now())
			}
			if !ok {
				return
			}
			h.stored, h.complete = b.size, true
			if h.wanted {
				f.clk.After(f.cfg.latency, func() { f.blobDone(n, b) })
			}
		})
	})
}

// haveOf is what node n can send of b without waiting: its stored
// prefix (or its upstream stream's progress), and the checked pieces
// it holds beyond that, with those it serves on while they arrive
// (cut-through, on a link fast enough for it: swarm.CutThrough; p2p's
// heldPieces).
func (f *fleet) haveOf(n *node, b *blob) (int64, []int) {
	h := n.holds[b.idx]
	if h == nil {
		return 0, nil
	}
	if h.complete {
		return b.size, nil
	}
	have := h.stored
	if h.upstream != nil {
		have = max(have, h.upFrom+int64(h.upstream.Moved()))
	}
	var extra []int
	for i := int(have / pieceSize); i < len(h.mem); i++ {
		if (h.mem[i] || h.fetch != nil && h.fetch.inbound[i] != nil && swarm.CutThrough(n.intake.Rate(), pieceSize)) && int64(i+1)*pieceSize > have {
			extra = append(extra, i)
		}
	}
	return have, extra
}

// holdsPiece says whether n holds piece i of b whole.
func (f *fleet) holdsPiece(n *node, b *blob, i int) bool {
	h := n.holds[b.idx]
	if h == nil {
		return false
	}
	have, _ := f.haveOf(n, b)
	return have >= int64(i)*pieceSize+b.pieceLen(i) || (i < len(h.mem) && h.mem[i])
}

// whenHeld calls g once n holds piece i of b: the origin streams a piece
// while it arrives from upstream, so its last byte cannot leave before
// it has come in. It looks again when the upstream stream's rate now
// would bring the piece in, but at least every heldPoll: the rate is
// the stream's share of the node's download link, which the messages
// coming in share too, and it rises as they end. (A wait for the rate
// of one instant once slept 15.7 s for a piece that came in 2 s later,
// at a time 17 requests were coming in to the origin; its asker's
// request had run out at 10 s, and with it the first copy.)
func (f *fleet) whenHeld(n *node, b *blob, i int, g func()) {
	if f.holdsPiece(n, b, i) {
		g()
		return
	}
	h := n.holds[b.idx]
	wait := 10 * time.Millisecond
	if h != nil && h.upstream != nil && h.upstream.Rate() > 0 {
		have, _ := f.haveOf(n, b)
		need := float64(int64(i)*pieceSize + b.pieceLen(i) - have)
		wait = min(heldPoll, max(time.Millisecond, time.Duration(need/h.upstream.Rate()*float64(time.Second))))
	}
	f.clk.After(wait, func() {
		if !n.dead {
			f.whenHeld(n, b, i, g)
		}
	})
}

func (f *fleet) blobDone(n *node, b *blob) {
	if n.dead {
		return
	}
	n.running--
	n.left--
	if n.left == 0 {
		n.doneAt = f.clk.Now()
		return
	}
	f.next(n)
}

// kill ends node i: its transfers break, and it answers no one.
func (f *fleet) kill(i int) {
	n := f.nodes[i]
	if n.dead || n.left == 0 {
		return
	}
	n.dead = true
	f.net.Kill(i)
}

// fallback is the node going upstream with a Range request from what it
// has stored, after its swarm fetch gave up.
func (f *fleet) fallback(n *node, b *blob, h *holding) {
	if n.dead {
		return
	}
	f.stats.stalls++
	h.mem = nil
	if h.fetch != nil {
		// The swarm fetch is called off, and in the node its requests
		// with it: the pieces it was receiving break for their relays.
		// (Here their flows run on, and what they bring is dropped.)
		h.fetch.breakInbound()
	}
	f.startUpstream(n, b, h, h.stored, false)
}

// sortedInts returns the keys of a set in order, so runs repeat.
func sortedInts[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}
