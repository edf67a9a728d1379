package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchimage"
	"github.com/shoal-dev/shoal/bench/internal/benchrun"
	"github.com/shoal-dev/shoal/bench/internal/meter"
	"github.com/shoal-dev/shoal/integration/harness"
)

// upstreamRule is the nodes' --upstream rule name: the image is preloaded
// as <rule>/bench/rollout:1.
const upstreamRule = "upstream.bench"

type bench struct {
	o      options
	prefix string
	image  string
	net    *harness.Network
	proxy  *meter.Proxy
	img    benchimage.Pushed
	labels map[string]string
	cl     *benchrun.Cleanups
}

type nodeResult struct {
	name string
	dur  time.Duration
	err  string
}

type phaseResult struct {
	nodes    []nodeResult
	upstream int64
	memPeak  int64 // highest anonymous memory of a node container seen, bytes
	memNode  string
	links    linkUse
}

func (p phaseResult) durs() []time.Duration {
	var ds []time.Duration
	for _, n := range p.nodes {
		ds = append(ds, n.dur)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

func (p phaseResult) p50() time.Duration {
	ds := p.durs()
	return ds[(len(ds)-1)/2]
}

func (p phaseResult) last() time.Duration {
	ds := p.durs()
	return ds[len(ds)-1]
}

func (p phaseResult) failures() int {
	f := 0
	for _, n := range p.nodes {
		if n.err != "" {
			f++
		}
	}
	return f
}

// phase starts n fresh node containers (joined into a fleet when p2p),
// caps them, preloads the image on all of them at once, and removes them.
func (b *bench) phase(ctx context.Context, name string, n int, p2p bool) (phaseResult, error) {
	benchrun.Logf("phase %s: starting %d node containers (p2p %v)", name, n, p2p)
	var nodes []*harness.FleetNode
	defer func() {
		if b.o.keep {
			return
		}
		rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, fn := range nodes {
			if err := fn.Remove(rctx); err != nil {
				benchrun.Logf("removing %s: %v", fn.Name, err)
			}
		}
	}()
	bootstrap := ""
	var veths []string // each node's host end, in node order
	var env []string
	if b.o.procs > 0 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", b.o.procs))
	}
	for i := 0; i < n; i++ {
		args := []string{"node",
			"--listen", ":5000",
			"--data-dir", "/data",
			"--upstream", upstreamRule + "=" + b.proxy.URL(),
			"--log-level", b.o.nodeLog,
		}
		// shoal node has no switch to turn p2p off: a node not told of a
		// bootstrap peer stays alone (checked below), which is no sharing.
		args = append(args, "--p2p-listen", fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", harness.P2PPort))
		if p2p && i > 0 {
			// Asked of the first node once: at 50 nodes on 2 cores a
			// status call per joining node was what timed out.
			if bootstrap == "" {
				addr, err := nodes[0].BootstrapAddr(ctx, b.net.Name)
				if err != nil {
					return phaseResult{}, err
				}
				bootstrap = addr
			}
			args = append(args, "--bootstrap", bootstrap)
		}
		c, err := harness.CreateContainer(ctx, harness.RunOptions{
			Name:    fmt.Sprintf("%s-%s-%d", b.prefix, name, i),
			Image:   b.image,
			Network: b.net.Name,
			Tmpfs:   []string{"/data"},
			Env:     env,
			Labels:  b.labels,
			Args:    args,
		})
		if err != nil {
			return phaseResult{}, err
		}
		// Registered for removal before anything else can fail, and also
		// with the run's cleanups in case this process is interrupted here.
		fn := &harness.FleetNode{Container: c, Short: fmt.Sprintf("%s-%d", name, i)}
		nodes = append(nodes, fn)
		b.cl.Add(fn.Remove)
		if err := c.Start(ctx); err != nil {
			return phaseResult{}, err
		}
		// The node's API on its own loopback, as a client on its machine
		// pulls: through the container's network namespace, not a
		// published port. At 50 nodes every preload's connection through
		// docker's port proxies was reset at the same instant.
		if fn.API, err = fn.Inside(ctx); err != nil {
			return phaseResult{}, err
		}
		// Generous: at 50 nodes on 2 cores a node starting while the others
		// join the fleet can take a while to answer.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = waitReady(wctx, fn.API)
		cancel()
		if err != nil {
			return phaseResult{}, fmt.Errorf("node %s (%s): %w\n%s", c.Name, c.State(ctx), err, c.Logs(ctx, 40))
		}
		if err := c.CapNetwork(ctx, b.o.rate); err != nil {
			return phaseResult{}, fmt.Errorf("capping %s: %w", c.Name, err)
		}
		hv, err := c.HostVeths(ctx)
		if err != nil {
			return phaseResult{}, fmt.Errorf("finding %s's links: %w", c.Name, err)
		}
		veths = append(veths, hv...)
	}
	if p2p && n > 1 {
		// A node that has not met the whole fleet may take itself for a
		// blob's designated fetcher and go upstream: its figures would be
		// those of a smaller fleet beside a second one, not the rollout
		// under test (a 50-node run went on with 24 nodes short and
		// measured 20x upstream). So the run stops instead. At 50 nodes
		// on 2 cores meshing takes a while: the status calls time out
		// while the fleet is forming.
		wait := time.Minute + time.Duration(n)*4*time.Second
		if err := harness.WaitPeers(ctx, nodes, n-1, wait); err != nil {
			return phaseResult{}, fmt.Errorf("the fleet did not mesh, so its figures would not be a fleet's: %w", err)
		}
	}
	if !p2p {
		for _, fn := range nodes {
			if p, err := fn.Peers(ctx); err != nil || p != 0 {
				return phaseResult{}, fmt.Errorf("node %s, started with no bootstrap peer, has %d peers (err %v): not a no-sharing node", fn.Short, p, err)
			}
		}
	}
	before := b.proxy.Bytes()
	cpuBefore := make([]int64, len(nodes))
	for i, fn := range nodes {
		cpuBefore[i] = cgroupCPU(fn.ID)
	}
	mem := sampleMem(ctx, nodes)
	links := sampleLinks(ctx, veths)
	res := phaseResult{nodes: make([]nodeResult, n)}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, fn := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			err := preload(ctx, fn.API, upstreamRule+"/bench/rollout:1")
			res.nodes[i] = nodeResult{name: fn.Short, dur: time.Since(t0)}
			if err != nil {
				res.nodes[i].err = err.Error()
				benchrun.Logf("phase %s: %s: %v", name, fn.Short, err)
			}
		}()
	}
	benchrun.Logf("phase %s: preloading on %d nodes at once", name, n)
	close(start)
	wg.Wait()
	res.links = links.stop(parseRate(b.o.rate))
	if err := ctx.Err(); err != nil {
		_, _ = mem.stop()
		return res, fmt.Errorf("stopped during the preloads: %w", err)
	}
	b.proxy.WaitQuiet(ctx)
	if p2p {
		p50 := res.p50()
		for i, fn := range nodes {
			benchrun.Logf("phase %s: %s done in %v, %.1f CPU s: %s", name, fn.Short, res.nodes[i].dur.Round(time.Millisecond), float64(cgroupCPU(fn.ID)-cpuBefore[i])/1e9, trafficOf(ctx, fn.API))
			if res.nodes[i].dur > p50*3/2 {
				// A straggler: its log says what held it up.
				benchrun.Logf("phase %s: %s's log:\n%s", name, fn.Short, fn.Container.Logs(ctx, 200))
			}
		}
	}
	res.upstream = b.proxy.Bytes() - before
	res.memNode, res.memPeak = mem.stop()
	benchrun.Logf("phase %s: %s", name, res.links)
	benchrun.Logf("phase %s: p50 %v, last %v, upstream %.2fx, %d failed", name, res.p50().Round(time.Millisecond), res.last().Round(time.Millisecond), float64(res.upstream)/float64(b.img.Bytes), res.failures())
	return res, nil
}

// waitReady polls the node's /readyz until it answers 200 or ctx ends.
func waitReady(ctx context.Context, n *harness.Node) error {
	var last string
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, n.URL()+"/readyz", nil)
		resp, err := n.Client.Do(req)
		if err == nil {
			resp.Body.Close()
			last = resp.Status
		} else {
			last = err.Error()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for /readyz: %w (last: %s)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// preload POSTs ref to the node's preload API and reads the stream to its
// end; the last line's error, if any, is the result.
func preload(ctx context.Context, n *harness.Node, ref string) error {
	body, _ := json.Marshal(map[string][]string{"refs": {ref}})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL()+"/shoal/v1/preload", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("preload: %s", resp.Status)
	}
	var last map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			last = l
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("preload stream broke: %w", err)
	}
	if last == nil {
		return fmt.Errorf("preload: empty stream")
	}
	if e, _ := last["error"].(string); e != "" {
		return fmt.Errorf("preload: %s", e)
	}
	if _, ok := last["preloaded"]; !ok {
		return fmt.Errorf("preload: stream ended without a final line: %v", last)
	}
	return nil
}

// memSampler polls docker stats until stopped, keeping the highest memory
// usage seen on any node container. It counts the tmpfs holding the
// node's data, so it is an upper bound on the process RSS.
type memSampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	peak   int64
	node   string
}

func sampleMem(ctx context.Context, nodes []*harness.FleetNode) *memSampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &memSampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		// Reading each container's cgroup is cheap; docker stats in a
		// loop cost dockerd a good part of a core, on the 2 cores the
		// nodes share.
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			for _, n := range nodes {
				if v, ok := cgroupRSS(n.ID); ok && v > s.peak {
					s.peak, s.node = v, n.Short
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// cgroupRSS is the anonymous memory (the Go heap and stacks, not the
// tmpfs holding the node's data nor the page cache) of container id, from
// its cgroup: v1 under the cgroupfs driver, else v2 under systemd.
func cgroupRSS(id string) (int64, bool) {
	for _, f := range []struct{ path, key string }{
		{"/sys/fs/cgroup/memory/docker/" + id + "/memory.stat", "total_rss"},
		{"/sys/fs/cgroup/system.slice/docker-" + id + ".scope/memory.stat", "anon"},
	} {
		b, err := os.ReadFile(f.path)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, " "); ok && k == f.key {
				n, err := strconv.ParseInt(v, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

func (s *memSampler) stop() (string, int64) {
	s.cancel()
	<-s.done
	return s.node, s.peak
}

func parseSize(s string) int64 {
	units := []struct {
		suf string
		m   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"B", 1}}
	for _, u := range units {
		if strings.HasSuffix(s, u.suf) {
			v, err := strconv.ParseFloat(strings.TrimSuffix(s, u.suf), 64)
			if err != nil {
				return 0
			}
			return int64(v * u.m)
		}
	}
	return 0
}

// trafficOf is a node's own account of where its bytes came from and how
// many it served, from its metrics: where a rollout's time went.
func trafficOf(ctx context.Context, n *harness.Node) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL()+"/metrics", nil)
	if err != nil {
		return err.Error()
	}
	resp, err := n.Client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var parts []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "shoal_served_bytes_total") && !strings.HasPrefix(line, "shoal_fetched_bytes_total") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			parts = append(parts, fmt.Sprintf("%s %.1f MiB", strings.TrimPrefix(strings.TrimPrefix(f[0], "shoal_"), "_bytes_total"), v/(1<<20)))
		}
	}
	return strings.Join(parts, ", ")
}

// cgroupCPU is the CPU time container id has used, in nanoseconds (0 if
// its cgroup cannot be read): v1 cpuacct, else v2 cpu.stat.
func cgroupCPU(id string) int64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/cpuacct/docker/" + id + "/cpuacct.usage"); err == nil {
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cpu.stat"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, " "); ok && k == "usage_usec" {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n * 1000
			}
		}
	}
	return 0
}
