package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchimage"
	"github.com/shoal-dev/shoal/bench/internal/meter"
	"github.com/shoal-dev/shoal/integration/harness"
)

// nodeRun is what one fleet node did in the fleet pull.
type nodeRun struct {
	name     string
	pull     pullResult
	peakRSS  int64 // largest VmRSS sampled every 100 ms during the pull
	hwm      int64 // VmHWM at the end
	cpu      float64
	counters nodeCounters
}

func baseline(ctx context.Context, o options, work string, proxy *meter.Proxy, ps *procs, big benchimage.Pushed, rep *report) error {
	n, err := startNode(ctx, o, work, "baseline", proxy.URL(), ps)
	if err != nil {
		return err
	}
	defer n.Stop(10 * time.Second)
	logf("baseline: one node alone pulls the image")
	cpu0, _ := cpuSeconds(n.PID())
	before := proxy.Bytes()
	s := sampleRSS([]int{n.PID()}, 100*time.Millisecond)
	pctx, cancel := context.WithTimeout(ctx, o.pullTimeout)
	r := pullImage(pctx, newClient(), n.URL(), "up/bench/big", "v1", big.Digest)
	cancel()
	peak := s.Stop()[n.PID()]
	if r.Err != nil {
		return fmt.Errorf("%w; node log tail:\n%s", r.Err, n.LogTail(3000))
	}
	proxy.WaitQuiet(ctx)
	mem, _ := harness.ReadProcMem(n.PID())
	cpu1, _ := cpuSeconds(n.PID())
	c, _ := counters(ctx, n)
	rep.base = nodeRun{name: "baseline", pull: r, peakRSS: peak, hwm: mem.HWM, cpu: cpu1 - cpu0, counters: c}
	rep.baseUpstream = proxy.Bytes() - before
	logf("baseline: T1 = %.2fs, upstream %d bytes", r.Dur.Seconds(), rep.baseUpstream)
	return nil
}

func fleetPull(ctx context.Context, o options, f *fleet, proxy *meter.Proxy, big benchimage.Pushed, rep *report) error {
	pids := make([]int, len(f.nodes))
	bases := make([]string, len(f.nodes))
	cpu0 := make([]float64, len(f.nodes))
	c0 := make([]nodeCounters, len(f.nodes))
	for i, n := range f.nodes {
		pids[i], bases[i] = n.PID(), n.URL()
		cpu0[i], _ = cpuSeconds(n.PID())
		c0[i], _ = counters(ctx, n)
	}
	selfCPU0, _ := cpuSeconds(selfPID())
	regCPU0, _ := cpuSeconds(rep.registryPID)
	busy0, _ := machineBusySeconds()
	rep.fleetIdleCPU = f.idleCPU
	logf("fleet: %d nodes pull the image at once", len(f.nodes))
	before := proxy.Bytes()
	s := sampleRSS(pids, 100*time.Millisecond)
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, o.pullTimeout)
	results := pullAll(pctx, bases, "up/bench/big", "v1", big.Digest)
	cancel()
	rep.fleetWall = time.Since(start)
	rep.fleetUpstreamAtEnd = proxy.Bytes() - before
	busy1, _ := machineBusySeconds()
	rep.fleetMachineCPU = busy1 - busy0
	regCPU1, _ := cpuSeconds(rep.registryPID)
	rep.fleetRegistryCPU = regCPU1 - regCPU0
	peaks := s.Stop()
	proxy.WaitQuiet(ctx)
	rep.fleetUpstream = proxy.Bytes() - before
	selfCPU1, _ := cpuSeconds(selfPID())
	rep.fleetClientCPU = selfCPU1 - selfCPU0 // includes the proxy, idle here
	var errs []string
	for i, n := range f.nodes {
		mem, _ := harness.ReadProcMem(n.PID())
		cpu1, _ := cpuSeconds(n.PID())
		c, err := counters(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %d metrics: %v", i, err))
		}
		run := nodeRun{name: fmt.Sprintf("node-%02d", i), pull: results[i], peakRSS: peaks[n.PID()], hwm: mem.HWM, cpu: cpu1 - cpu0[i], counters: c.sub(c0[i])}
		rep.fleet = append(rep.fleet, run)
		if results[i].Err != nil {
			errs = append(errs, fmt.Sprintf("node %d: %v", i, results[i].Err))
		}
	}
	rep.fleetMem = goMemory(ctx, f, rep.fleet, 3)
	logf("fleet: TN = %.2fs, upstream %d bytes (%.2fx the image)", rep.lastFleet().Seconds(), rep.fleetUpstream, float64(rep.fleetUpstream)/float64(rep.imageBytes))
	if len(errs) > 0 {
		rep.fleetErrors = errs
		logf("fleet: %d pulls or metrics failed: %v", len(errs), errs)
	}
	return nil
}

func directPull(ctx context.Context, o options, proxy *meter.Proxy, big benchimage.Pushed, rep *report) error {
	logf("direct: %d clients pull the image straight from the capped upstream", o.nodes)
	bases := make([]string, o.nodes)
	for i := range bases {
		bases[i] = proxy.URL()
	}
	before := proxy.Bytes()
	pctx, cancel := context.WithTimeout(ctx, o.pullTimeout)
	rep.direct = pullAll(pctx, bases, "bench/big", "v1", big.Digest)
	cancel()
	rep.directUpstream = proxy.Bytes() - before
	for i, r := range rep.direct {
		if r.Err != nil {
			return fmt.Errorf("client %d: %w", i, r.Err)
		}
	}
	logf("direct: last %.2fs, upstream %d bytes", maxDur(rep.direct).Seconds(), rep.directUpstream)
	return nil
}

// peerSample is one blob moved node to node.
type peerSample struct {
	a, b          string
	peerDur       time.Duration // GET through B, which fetches from A
	peerTTFB      time.Duration // until B's response headers: its lookup and open
	localDur      time.Duration // GET from A, which holds it
	bFetched      nodeCounters
	upstreamBytes int64
	aCPU, bCPU    float64 // CPU seconds A and B spent on the transfer through B
	err           error
}

// peerThroughput pushes a fresh one-layer image into node A's local
// repositories (so A alone holds it), then GETs its layer through node B,
// which must fetch it from A, and GETs it again from A.
func peerThroughput(ctx context.Context, o options, f *fleet, proxy *meter.Proxy, seed uint64, rep *report) error {
	a := f.nodes[0]
	for i := range o.peerIters {
		b := f.nodes[1+i%(len(f.nodes)-1)]
		repo := fmt.Sprintf("peerbench/blob-%d", i)
		img, err := benchimage.Push(ctx, fmt.Sprintf("%s/%s:v1", a.Addr, repo), seed+1000+uint64(i), o.peerSize)
		if err != nil {
			return err
		}
		layer := img.Layers[0]
		time.Sleep(o.provideWait)
		s := peerSample{a: "node-00", b: fmt.Sprintf("node-%02d", 1+i%(len(f.nodes)-1))}
		c0, _ := counters(ctx, b)
		up0 := proxy.Bytes()
		aCPU0, _ := cpuSeconds(a.PID())
		bCPU0, _ := cpuSeconds(b.PID())
		pctx, cancel := context.WithTimeout(ctx, o.pullTimeout)
		start := time.Now()
		_, s.peerTTFB, err = getBlobTimed(pctx, newClient(), fmt.Sprintf("%s/v2/%s/blobs/%s", b.URL(), repo, layer.Digest), layer.Digest, layer.Size)
		s.peerDur = time.Since(start)
		if err != nil {
			cancel()
			s.err = err
			rep.peer = append(rep.peer, s)
			logf("peer %d: through %s: %v", i, s.b, err)
			continue
		}
		aCPU1, _ := cpuSeconds(a.PID())
		bCPU1, _ := cpuSeconds(b.PID())
		s.aCPU, s.bCPU = aCPU1-aCPU0, bCPU1-bCPU0
		c1, _ := counters(ctx, b)
		s.bFetched = c1.sub(c0)
		s.upstreamBytes = proxy.Bytes() - up0
		client := newClient()
		start = time.Now()
		_, err = getBlob(pctx, client, fmt.Sprintf("%s/v2/%s/blobs/%s", a.URL(), repo, layer.Digest), layer.Digest, layer.Size)
		s.localDur = time.Since(start)
		cancel()
		if err != nil {
			return fmt.Errorf("GET from the holder: %w", err)
		}
		rep.peer = append(rep.peer, s)
		logf("peer %d: %s from %s %.0f MB/s; %s locally %.0f MB/s", i, s.b, s.a, mbps(layer.Size, s.peerDur), s.a, mbps(layer.Size, s.localDur))
	}
	rep.peerSize = o.peerSize
	return nil
}

// smallSample is one small image pulled through B after A took it in.
type smallSample struct {
	a, b          string
	dur           time.Duration
	bFetched      nodeCounters
	upstreamBytes int64
	err           error
}

func smallLatency(ctx context.Context, o options, f *fleet, up *harness.Upstream, proxy *meter.Proxy, seed uint64, rep *report) error {
	for i := range o.smallIters {
		ai := i % len(f.nodes)
		a := f.nodes[ai]
		repo := fmt.Sprintf("small/img-%d", i)
		img, err := benchimage.Push(ctx, fmt.Sprintf("%s/%s:v1", up.Addr, repo), seed+2000+uint64(i), o.smallSize)
		if err != nil {
			return err
		}
		held0 := cacheBytes(ctx, f)
		pctx, cancel := context.WithTimeout(ctx, o.pullTimeout)
		if r := pullImage(pctx, newClient(), a.URL(), "up/"+repo, "v1", img.Digest); r.Err != nil {
			cancel()
			return fmt.Errorf("pull through node-%02d: %w", ai, r.Err)
		}
		// A may have had a peer (the blob's designated fetcher) bring it in
		// from upstream; that peer holds it too, once it has stored it. B
		// is the next node that took in nothing, so that B really has to
		// fetch.
		time.Sleep(o.provideWait)
		held1 := cacheBytes(ctx, f)
		bi := -1
		for k := 1; k < len(f.nodes); k++ {
			if j := (ai + k) % len(f.nodes); held1[j] == held0[j] {
				bi = j
				break
			}
		}
		if bi < 0 {
			// The blobs' designated fetchers were every other node, so
			// each holds the image now and a pull would not cross the
			// fleet: this image measures nothing.
			cancel()
			rep.smallSkipped++
			logf("small %d: skipped: every node took in the image through node-%02d", i, ai)
			continue
		}
		b := f.nodes[bi]
		c0, _ := counters(ctx, b)
		up0 := proxy.Bytes()
		r := pullImage(pctx, newClient(), b.URL(), "up/"+repo, "v1", img.Digest)
		cancel()
		c1, _ := counters(ctx, b)
		s := smallSample{a: fmt.Sprintf("node-%02d", ai), b: fmt.Sprintf("node-%02d", bi), dur: r.Dur, bFetched: c1.sub(c0), upstreamBytes: proxy.Bytes() - up0, err: r.Err}
		rep.small = append(rep.small, s)
		logf("small %d: %s after %s: %.0f ms (peer %.0f B, upstream %.0f B)", i, s.b, s.a, ms(s.dur), s.bFetched.FetchedPeer, s.bFetched.FetchedUpstream)
	}
	rep.smallBytes = o.smallSize
	return nil
}

// cacheBytes is cache.bytes of each node (-1 where it cannot be read).
func cacheBytes(ctx context.Context, f *fleet) []int64 {
	out := make([]int64, len(f.nodes))
	for i, n := range f.nodes {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		b, err := n.CacheBytes(cctx)
		cancel()
		if err != nil {
			b = -1
		}
		out[i] = b
	}
	return out
}

func maxDur(rs []pullResult) time.Duration {
	var m time.Duration
	for _, r := range rs {
		m = max(m, r.Dur)
	}
	return m
}

// percentile is the nearest-rank percentile p (0..100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }
func ms(d time.Duration) float64                { return float64(d.Microseconds()) / 1000 }

// goMem is a node's Go runtime memory, from its /metrics, right after the
// fleet pull.
type goMem struct {
	name                                               string
	hwm                                                int64
	goroutines, heapSys, heapInuse, stackInuse, nextGC float64
}

// goMemory reads the Go memory series of the top nodes by VmHWM, to tell
// heap from stacks from what the runtime has not given back.
func goMemory(ctx context.Context, f *fleet, runs []nodeRun, top int) []goMem {
	idx := make([]int, len(runs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return int(runs[b].hwm - runs[a].hwm) })
	var out []goMem
	for _, i := range idx[:min(top, len(idx))] {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := f.nodes[i].Metrics(cctx)
		cancel()
		if err != nil {
			continue
		}
		out = append(out, goMem{
			name: runs[i].name, hwm: runs[i].hwm,
			goroutines: m["go_goroutines"], heapSys: m["go_memstats_heap_sys_bytes"],
			heapInuse: m["go_memstats_heap_inuse_bytes"], stackInuse: m["go_memstats_stack_inuse_bytes"],
			nextGC: m["go_memstats_next_gc_bytes"],
		})
	}
	return out
}
