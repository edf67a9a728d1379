package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// procs are the child processes to stop when the run ends, however it
// ends.
type procs struct {
	mu   sync.Mutex
	list []*harness.Proc
}

func (p *procs) add(x *harness.Proc) {
	p.mu.Lock()
	p.list = append(p.list, x)
	p.mu.Unlock()
}

// stopAll sends SIGTERM to every process at once and SIGKILL to those
// still running after grace.
func (p *procs) stopAll(grace time.Duration) {
	p.mu.Lock()
	list := p.list
	p.list = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, x := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = x.Stop(grace)
		}()
	}
	wg.Wait()
}

// fleet is N shoal nodes joined into one fleet.
type fleet struct {
	nodes []*harness.Node
	// idleCPU is the nodes' CPU seconds per second, all together, while
	// the joined fleet did nothing but keep its DHT.
	idleCPU float64
}

func (f *fleet) cpuSeconds() float64 {
	var sum float64
	for _, n := range f.nodes {
		c, _ := cpuSeconds(n.PID())
		sum += c
	}
	return sum
}

// startNode starts one `shoal node` mirroring upstream as rule "up".
// Ports are picked free a moment before the node binds them, so nodes
// started side by side can collide; such a start is tried again.
func startNode(ctx context.Context, o options, work, name, upstream string, ps *procs, extra ...string) (*harness.Node, error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var n *harness.Node
		n, err = harness.StartNode(ctx, harness.NodeConfig{
			Bin:       o.bin,
			DataDir:   filepath.Join(work, "nodes", name),
			LogDir:    filepath.Join(work, "logs"),
			Upstreams: []string{"up=" + upstream},
			Args:      extra,
			LogLevel:  o.logLevel,
		})
		if err == nil {
			ps.add(n.Proc)
			return n, nil
		}
		if !strings.Contains(err.Error(), "address already in use") || ctx.Err() != nil {
			break
		}
		logf("node %s: a port was taken meanwhile; starting it again", name)
	}
	return nil, fmt.Errorf("starting node %s: %w", name, err)
}

// startFleet starts node 0, then the others bootstrapped through node 0's
// loopback p2p address, a few at a time, and waits until every node has
// at least min(N-1, 3) peers.
func startFleet(ctx context.Context, o options, work, upstream string, ps *procs) (*fleet, error) {
	first, err := startNode(ctx, o, work, "node-00", upstream, ps)
	if err != nil {
		return nil, err
	}
	boot, err := p2pAddr(ctx, first)
	if err != nil {
		return nil, err
	}
	logf("node-00 is %s; starting %d more", boot, o.nodes-1)
	f := &fleet{nodes: make([]*harness.Node, o.nodes)}
	f.nodes[0] = first
	sem := make(chan struct{}, 4)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i := 1; i < o.nodes; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n, err := startNode(ctx, o, work, fmt.Sprintf("node-%02d", i), upstream, ps, "--bootstrap", boot)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			f.nodes[i] = n
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	want := min(o.nodes-1, 3)
	wctx, cancel := context.WithTimeout(ctx, o.joinTimeout)
	defer cancel()
	for {
		ready, least := 0, 1<<30
		for _, n := range f.nodes {
			p, err := peers(wctx, n)
			if err == nil && p >= want {
				ready++
			}
			if err == nil {
				least = min(least, p)
			}
		}
		if ready == len(f.nodes) {
			logf("all %d nodes have >= %d peers (fewest: %d)", len(f.nodes), want, least)
			break
		}
		select {
		case <-wctx.Done():
			return nil, fmt.Errorf("after %v only %d of %d nodes have >= %d peers", o.joinTimeout, ready, len(f.nodes), want)
		case <-time.After(250 * time.Millisecond):
		}
	}
	// Let the DHT's first refresh settle so that routing tables are full,
	// and see what the idle fleet costs meanwhile.
	cpu0 := f.cpuSeconds()
	start := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(o.settle):
	}
	f.idleCPU = (f.cpuSeconds() - cpu0) / time.Since(start).Seconds()
	logf("idle fleet: %.2f CPU-seconds per second, all nodes together", f.idleCPU)
	return f, nil
}

// p2pAddr is a node's loopback TCP p2p address from /shoal/v1/status.
func p2pAddr(ctx context.Context, n *harness.Node) (string, error) {
	st, err := n.Status(ctx)
	if err != nil {
		return "", err
	}
	addrs, _ := st["p2p_addrs"].([]any)
	for _, a := range addrs {
		s, _ := a.(string)
		if strings.HasPrefix(s, "/ip4/127.0.0.1/tcp/") {
			return s, nil
		}
	}
	return "", fmt.Errorf("node %s has no /ip4/127.0.0.1/tcp p2p address in %v", n.Addr, addrs)
}

func peers(ctx context.Context, n *harness.Node) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := n.Status(ctx)
	if err != nil {
		return 0, err
	}
	p, ok := st["peers"].(float64)
	if !ok {
		return 0, fmt.Errorf("status of %s has no numeric peers", n.Addr)
	}
	return int(p), nil
}

// nodeCounters are the /metrics series the report shows.
type nodeCounters struct {
	FetchedPeer, FetchedUpstream, ServedPeer, ServedClient float64
}

func counters(ctx context.Context, n *harness.Node) (nodeCounters, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := n.Metrics(ctx)
	if err != nil {
		return nodeCounters{}, err
	}
	return nodeCounters{
		FetchedPeer:     harness.Series(m, "shoal_fetched_bytes_total", `source="peer"`),
		FetchedUpstream: harness.Series(m, "shoal_fetched_bytes_total", `source="upstream"`),
		ServedPeer:      harness.Series(m, "shoal_served_bytes_total", `to="peer"`),
		ServedClient:    harness.Series(m, "shoal_served_bytes_total", `to="client"`),
	}, nil
}

func (a nodeCounters) sub(b nodeCounters) nodeCounters {
	return nodeCounters{a.FetchedPeer - b.FetchedPeer, a.FetchedUpstream - b.FetchedUpstream, a.ServedPeer - b.ServedPeer, a.ServedClient - b.ServedClient}
}
