package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// report is everything one run measured.
type report struct {
	opts              options
	env               environment
	started, finished time.Time

	imageBytes  int64
	imageLayers int

	base         nodeRun
	baseUpstream int64

	fleet              []nodeRun
	fleetWall          time.Duration
	fleetUpstream      int64 // after the proxy went quiet
	fleetUpstreamAtEnd int64 // when the last pull finished
	fleetClientCPU     float64
	fleetRegistryCPU   float64
	fleetMachineCPU    float64 // all processes on the machine, from /proc/stat
	fleetIdleCPU       float64 // the joined fleet's CPU s/s before the pull
	fleetMem           []goMem
	registryPID        int
	fleetErrors        []string

	direct         []pullResult
	directUpstream int64

	peerSize int64
	peer     []peerSample

	smallBytes int64
	small      []smallSample
	// smallSkipped counts small images every node took in while the
	// first pulled them, which measure nothing.
	smallSkipped int
}

// environment is the machine and the tools a run used.
type environment struct {
	harness.HostInfo
	registry, shoal string
}

func selfPID() int { return os.Getpid() }

func machine(bin string) environment {
	return environment{
		HostInfo: harness.Host(),
		registry: harness.CommandOutput("dpkg-query", "-W", "-f", "${Version}", "docker-registry"),
		shoal:    harness.CommandOutput(bin, "version"),
	}
}

func (r *report) lastFleet() time.Duration {
	var m time.Duration
	for _, n := range r.fleet {
		m = max(m, n.pull.Dur)
	}
	return m
}

func mibf(b int64) float64 { return float64(b) / (1 << 20) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.opts
	p("## Fleet: %d shoal nodes pulling through one capped upstream (%s)\n\n", o.nodes, r.started.UTC().Format("2006-01-02 15:04 MST"))
	p("**Command:** `%s`\n\n", commandLine())
	p("**Machine:** `nproc` = %d; CPU `%s`; MemTotal %s; Linux %s; %s; docker-registry %s; shoal `%s`. Everything on 127.0.0.1; all %d nodes, docker-registry and the clients share the same %d cores.\n\n",
		r.env.CPUs, r.env.Model, r.env.MemTotal, r.env.Kernel, r.env.Go, r.env.registry, r.env.shoal, o.nodes, r.env.CPUs)
	p("**Setup:** image of %d bytes (%.0f MiB: %d uncompressed tar layers of random data + config) in docker-registry, reached only through a proxy in the harness that counts every response-body byte and caps them all together at %.0f MB/s (one token bucket). Each pull = GET manifest by tag through the node, then config and all layers at once, each read to the end and digest-checked. Run took %s.\n\n",
		r.imageBytes, mibf(r.imageBytes), r.imageLayers, o.rate/1e6, r.finished.Sub(r.started).Round(time.Second))

	tn, t1 := r.lastFleet(), r.base.pull.Dur
	ratioUp := float64(r.fleetUpstream) / float64(r.imageBytes)
	worstHWM := int64(0)
	for _, n := range r.fleet {
		worstHWM = max(worstHWM, n.hwm)
	}
	p("### Targets\n\n| measure | value | target | |\n| --- | ---: | ---: | --- |\n")
	p("| fleet upstream bytes / image size | %.3f | ≤ 1.05 | %s |\n", ratioUp, verdict(ratioUp <= 1.05))
	p("| TN / T1 (last fleet node vs one node alone) | %.2f (%.2f s / %.2f s) | ≤ 1.5 | %s |\n", tn.Seconds()/t1.Seconds(), tn.Seconds(), t1.Seconds(), verdict(tn.Seconds()/t1.Seconds() <= 1.5))
	p("| worst node peak RSS (VmHWM) | %.1f MiB | < 128 MiB | %s |\n", mibf(worstHWM), verdict(worstHWM < 128<<20))
	if len(r.peer) > 0 {
		ratio := r.peerRatio()
		p("| peer GET / local GET throughput, median | %.2f | ≥ 0.8 | %s |\n", ratio, verdict(ratio >= 0.8))
	}
	if len(r.small) > 0 {
		p50, p90 := r.smallPercentiles()
		p("| small image (%.0f MB) through a peer, p50 | %.0f ms (p90 %.0f ms) | < 100 ms | %s |\n", float64(r.smallBytes)/1e6, ms(p50), ms(p90), verdict(p50 < 100*time.Millisecond))
	}
	p("\n")

	p("### Cold rollout: fleet vs every node straight from upstream (same run)\n\n")
	p("| | one node alone | %d-node shoal fleet | %d direct pulls from upstream | fleet / direct |\n| --- | ---: | ---: | ---: | ---: |\n", o.nodes, o.nodes)
	if len(r.direct) > 0 {
		dn := maxDur(r.direct)
		p("| last pull done (s) | %.2f | %.2f | %.2f | %.2f |\n", t1.Seconds(), tn.Seconds(), dn.Seconds(), tn.Seconds()/dn.Seconds())
		p("| upstream bytes (MiB) | %.1f | %.1f | %.1f | %.3f |\n", mibf(r.baseUpstream), mibf(r.fleetUpstream), mibf(r.directUpstream), float64(r.fleetUpstream)/float64(r.directUpstream))
		p("| upstream bytes / image | %.3f | %.3f | %.3f | |\n", float64(r.baseUpstream)/float64(r.imageBytes), ratioUp, float64(r.directUpstream)/float64(r.imageBytes))
	} else {
		p("| last pull done (s) | %.2f | %.2f | skipped | |\n", t1.Seconds(), tn.Seconds())
		p("| upstream bytes (MiB) | %.1f | %.1f | skipped | |\n", mibf(r.baseUpstream), mibf(r.fleetUpstream))
	}
	p("\nFleet upstream bytes when the last pull finished: %.1f MiB; after the proxy went quiet: %.1f MiB. Harness (all %d clients hashing) CPU during the fleet pull: %.1f s. Baseline node: CPU %.1f s, peak RSS %.1f MiB, VmHWM %.1f MiB.\n\n",
		mibf(r.fleetUpstreamAtEnd), mibf(r.fleetUpstream), o.nodes, r.fleetClientCPU, r.base.cpu, mibf(r.base.peakRSS), mibf(r.base.hwm))

	p("### Per node (fleet pull)\n\n| node | time (s) | fetched from peers (MiB) | fetched from upstream (MiB) | served to peers (MiB) | peak VmRSS, 100 ms samples (MiB) | VmHWM (MiB) | CPU (s) | error |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	var sumCPU float64
	for _, n := range r.fleet {
		e := ""
		if n.pull.Err != nil {
			e = strings.ReplaceAll(truncate(n.pull.Err.Error(), 160), "|", "/")
		}
		sumCPU += n.cpu
		p("| %s | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %s |\n", n.name, n.pull.Dur.Seconds(), n.counters.FetchedPeer/(1<<20), n.counters.FetchedUpstream/(1<<20), n.counters.ServedPeer/(1<<20), mibf(n.peakRSS), mibf(n.hwm), n.cpu, e)
	}
	p("\nCPU during the fleet pull (%.2f s of wall time, %d cores = %.1f core-seconds available): nodes %.1f s, harness clients and proxy %.1f s, docker-registry %.1f s; the whole machine %.1f s busy, so %.1f s went to other processes on the machine. Before the pull, the idle fleet used %.2f CPU-seconds per second (DHT upkeep).\n\n",
		r.fleetWall.Seconds(), r.env.CPUs, float64(r.env.CPUs)*r.fleetWall.Seconds(), sumCPU, r.fleetClientCPU, r.fleetRegistryCPU, r.fleetMachineCPU, r.fleetMachineCPU-sumCPU-r.fleetClientCPU-r.fleetRegistryCPU, r.fleetIdleCPU)
	if len(r.fleetMem) > 0 {
		p("Go memory of the nodes with the highest VmHWM, from their /metrics right after the pull:\n\n| node | VmHWM (MiB) | goroutines | heap from OS (MiB) | heap in use (MiB) | stacks (MiB) | next GC at (MiB) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, m := range r.fleetMem {
			p("| %s | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f |\n", m.name, mibf(m.hwm), m.goroutines, m.heapSys/(1<<20), m.heapInuse/(1<<20), m.stackInuse/(1<<20), m.nextGC/(1<<20))
		}
		p("\n")
	}
	if len(r.direct) > 0 {
		var ds []string
		for _, d := range r.direct {
			ds = append(ds, fmt.Sprintf("%.2f", d.Dur.Seconds()))
		}
		p("Direct pulls, each client (s): %s.\n\n", strings.Join(ds, ", "))
	}

	if len(r.peer) > 0 {
		p("### Peer throughput: a %.0f MiB blob held by one node only\n\n", mibf(r.peerSize))
		p("Pushed into node A's local repository (so A alone holds it), then GET through node B (B fetches it from A over libp2p, verifies and stores it while serving), then GET again from A (served from A's store).\n\n")
		p("| A → B | through B (MB/s) | B's headers after (ms) | through B, after its headers (MB/s) | from A locally (MB/s) | B / A | B fetched from peers (MiB) | from upstream (MiB) | CPU s of A, B during the transfer | error |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
		for _, s := range r.peer {
			e := ""
			if s.err != nil {
				e = truncate(s.err.Error(), 160)
			}
			pb, lb := mbps(r.peerSize, s.peerDur), mbps(r.peerSize, s.localDur)
			p("| %s → %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f, %.2f | %s |\n", s.a, s.b, pb, ms(s.peerTTFB), mbps(r.peerSize, s.peerDur-s.peerTTFB), lb, pb/lb, s.bFetched.FetchedPeer/(1<<20), s.bFetched.FetchedUpstream/(1<<20), s.aCPU, s.bCPU, e)
		}
		p("\n")
	}
	if len(r.small) > 0 {
		p50, p90 := r.smallPercentiles()
		p("### Small image through a peer (%d iterations)\n\n", len(r.small))
		p("Each iteration pushes a fresh %.0f MB one-layer image upstream, pulls it through node A, waits %v, then times the pull through node B (manifest by tag, config and layer).\n\n", float64(r.smallBytes)/1e6, r.opts.provideWait)
		if r.smallSkipped > 0 {
			p("%d of the %d images were skipped: the designated fetchers of their blobs were every other node, so every node held the image after the first pull.\n\n", r.smallSkipped, r.smallSkipped+len(r.small))
		}
		p("p50 **%.0f ms**, p90 **%.0f ms**, min %.0f ms, max %.0f ms.\n\n", ms(p50), ms(p90), ms(percentile(r.smallDurs(), 0)), ms(percentile(r.smallDurs(), 100)))
		p("| # | A → B | time (ms) | B from peers (B) | B from upstream (B) | proxy bytes during B's pull | error |\n| ---: | --- | ---: | ---: | ---: | ---: | --- |\n")
		for i, s := range r.small {
			e := ""
			if s.err != nil {
				e = truncate(s.err.Error(), 120)
			}
			p("| %d | %s → %s | %.0f | %.0f | %.0f | %d | %s |\n", i, s.a, s.b, ms(s.dur), s.bFetched.FetchedPeer, s.bFetched.FetchedUpstream, s.upstreamBytes, e)
		}
		p("\n")
	}
	if len(r.fleetErrors) > 0 {
		p("### Errors\n\n")
		for _, e := range r.fleetErrors {
			p("- %s\n", truncate(e, 400))
		}
		p("\n")
	}
	return b.String()
}

func (r *report) peerRatio() float64 {
	var rs []float64
	for _, s := range r.peer {
		if s.err == nil {
			rs = append(rs, s.localDur.Seconds()/s.peerDur.Seconds())
		}
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	return rs[len(rs)/2]
}

func (r *report) smallDurs() []time.Duration {
	var ds []time.Duration
	for _, s := range r.small {
		if s.err == nil {
			ds = append(ds, s.dur)
		}
	}
	return ds
}

func (r *report) smallPercentiles() (time.Duration, time.Duration) {
	ds := r.smallDurs()
	return percentile(ds, 50), percentile(ds, 90)
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
