package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchimage"
	"github.com/shoal-dev/shoal/bench/internal/benchrun"
)

type report struct {
	o       options
	env     benchrun.Environment
	cmd     string
	img     benchimage.Pushed
	gateway string

	alone, direct, fleet phaseResult
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func (r *report) times(p phaseResult) float64 { return float64(p.upstream) / float64(r.img.Bytes) }

func (r *report) markdown(runErr error) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## rolloutbench: cold rollout across %d node containers, %s each way per node\n\n", r.o.nodes, r.o.rate)
	w("Command: `%s`\n\n", r.cmd)
	e := r.env
	w("Machine: %d × %s, %s RAM, Linux %s, docker %s, %s, docker-registry %s, shoal `%s`.\n\n",
		e.CPUs, e.Model, e.MemTotal, e.Kernel, e.Docker, e.Go, e.Registry, e.Shoal)
	w("Image: %.1f MiB (config + %d layers), digest `%s`. Each node is a FROM scratch container on its own bench network; "+
		"its network is capped at %s with tbf on its eth0 (egress) and on the host end of its veth (ingress). "+
		"The upstream is docker-registry on the host behind a counting proxy with no aggregate cap at the network gateway %s. "+
		"Every node pulls by POST /shoal/v1/preload from the host, all nodes of a phase at the same moment; a node's time is until its preload stream ends. "+
		"Each phase uses fresh containers (empty caches).\n\n",
		float64(r.img.Bytes)/mib, r.o.layers, r.img.Digest, r.o.rate, r.gateway)
	if r.o.procs > 0 {
		w("Every node runs with GOMAXPROCS=%d.\n\n", r.o.procs)
	}
	w("| phase | nodes | p50 | last done | failed | upstream bytes / image | peak node RSS | links used, up / down |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range []struct {
		name string
		p    phaseResult
	}{{"one node alone", r.alone}, {"no sharing (nodes without peers)", r.direct}, {"Shoal fleet", r.fleet}} {
		if len(row.p.nodes) == 0 {
			w("| %s | – | not run | | | | | |\n", row.name)
			continue
		}
		mem := "–"
		if row.p.memPeak > 0 {
			mem = fmt.Sprintf("%.0f MiB", float64(row.p.memPeak)/mib)
		}
		w("| %s | %d | %s | %s | %d | %.2fx | %s | %.0f%% / %.0f%% |\n", row.name, len(row.p.nodes), secs(row.p.p50()), secs(row.p.last()), row.p.failures(), r.times(row.p), mem, 100*row.p.links.up, 100*row.p.links.down)
	}
	w("\n")
	if len(r.direct.nodes) > 0 && len(r.fleet.nodes) > 0 {
		w("Shoal / no sharing, last node done: **%.2fx** (p50 %.2fx). Upstream bytes, no sharing / Shoal: %.2fx / %.2fx.\n\n",
			r.fleet.last().Seconds()/r.direct.last().Seconds(), r.fleet.p50().Seconds()/r.direct.p50().Seconds(),
			r.times(r.direct), r.times(r.fleet))
	}
	if len(r.alone.nodes) > 0 && len(r.fleet.nodes) > 0 {
		w("Shoal last node / one node alone: %.2fx.\n\n", r.fleet.last().Seconds()/r.alone.last().Seconds())
	}
	w("Links used is what the nodes sent and received, from the byte counters of their veths' host ends, as a share of their summed caps over the phase (from the start of the preloads to the last node done). The upstream sits on the host, so its bytes are in the nodes' download and in no node's upload.\n\n")
	if u := r.fleet.links; len(u.upByT) > 0 {
		w("The fleet's links, per %v from the start: %s.\n\n", linkBucket, u)
	}
	w("Peak node RSS is the highest anonymous memory of any node container (its cgroup's total_rss, sampled every 200 ms during the preloads): the Go heap and stacks, not the tmpfs holding the node's data.\n\n")
	for _, p := range []phaseResult{r.alone, r.direct, r.fleet} {
		for _, n := range p.nodes {
			if n.err != "" {
				w("- %s failed after %s: %s\n", n.name, secs(n.dur), n.err)
			}
		}
	}
	if runErr != nil {
		w("\n**The run stopped early:** %v\n", runErr)
	}
	return b.String()
}
