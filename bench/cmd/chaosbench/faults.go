package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchrun"
)

// The fault kinds, in report order.
const (
	faultKill       = "SIGKILL a node, restart it"
	faultDisconnect = "disconnect a node from the fleet network, reconnect it"
	faultUpstream   = "stop the upstream, start it"
	faultDisk       = "fill a node's disk, free it"
)

// faultKinds lists the kinds in report order.
func faultKinds() []string {
	return []string{faultKill, faultDisconnect, faultUpstream, faultDisk}
}

// activeFault is a fault not yet healed: at most one of each kind.
type activeFault struct {
	node   int // -1 for the upstream
	healAt time.Time
	filler string // the disk fault's file on the host
	ip     string // the disconnected node's address, to reconnect it at
}

// injector injects and heals faults; only its goroutine touches active.
type injector struct {
	o      options
	c      *chaosFleet
	rng    *rand.Rand
	active map[string]*activeFault
	// injected and healed count by kind; errs are the injector's own
	// failures (a docker command that failed), for the report.
	injected, healed map[string]int
	errs             []string
	events           []string
	// crashes are nodes found exited that no fault killed, with the
	// start of their fatal error; each is restarted, as a supervisor would.
	crashes []string
	start   time.Time
}

func newInjector(o options, c *chaosFleet) *injector {
	return &injector{
		o: o, c: c, rng: rand.New(rand.NewPCG(o.seed, 0xc4a05)),
		active: map[string]*activeFault{}, injected: map[string]int{}, healed: map[string]int{},
	}
}

func (in *injector) event(format string, args ...any) {
	s := fmt.Sprintf("%6.1fs ", time.Since(in.start).Seconds()) + fmt.Sprintf(format, args...)
	in.events = append(in.events, s)
	benchrun.Logf("fault: %s", s)
}

func (in *injector) fail(kind string, err error) {
	s := fmt.Sprintf("%6.1fs %s: %v", time.Since(in.start).Seconds(), kind, err)
	in.errs = append(in.errs, s)
	benchrun.Logf("fault injector: %s", s)
}

// run injects faults until ctx ends, then heals every active one (on a
// fresh context, so an interrupted run still leaves the fleet whole).
func (in *injector) run(ctx context.Context) {
	in.start = time.Now()
	defer func() {
		hctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, k := range faultKinds() {
			if in.active[k] != nil {
				in.heal(hctx, k)
			}
		}
		in.watch(hctx)
	}()
	for {
		// Uniform in [faultEvery/2, 3·faultEvery/2).
		wait := in.o.faultEvery/2 + time.Duration(in.rng.Int64N(int64(in.o.faultEvery)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		in.watch(ctx)
		now := time.Now()
		for _, k := range faultKinds() {
			if a := in.active[k]; a != nil && now.After(a.healAt) {
				in.heal(ctx, k)
			}
		}
		kinds := faultKinds()
		k := kinds[in.rng.IntN(len(kinds))]
		// A heal above may have outlasted the chaos.
		if in.active[k] != nil || ctx.Err() != nil {
			continue
		}
		in.inject(ctx, k)
	}
}

// victim picks a node that no kill or disconnect has down, so a killed
// node is never also disconnected (a restart needs its network).
func (in *injector) victim() int {
	busy := map[int]bool{}
	for _, k := range []string{faultKill, faultDisconnect} {
		if a := in.active[k]; a != nil {
			busy[a.node] = true
		}
	}
	var free []int
	for i := range in.c.nodes {
		if !busy[i] {
			free = append(free, i)
		}
	}
	return free[in.rng.IntN(len(free))]
}

// hold is how long a fault lasts: 3 to 15 s.
func (in *injector) hold() time.Duration {
	return 3*time.Second + time.Duration(in.rng.Int64N(int64(12*time.Second)))
}

func (in *injector) inject(ctx context.Context, kind string) {
	// Not cut short by the end of the chaos: half a fault would be left.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	a := &activeFault{node: -1, healAt: time.Now().Add(in.hold())}
	switch kind {
	case faultKill:
		a.node = in.victim()
		n := in.c.f.Nodes[a.node]
		pid, err := n.Pid(ctx)
		if err == nil && pid <= 0 {
			err = fmt.Errorf("node %s has no process (pid %d)", n.Short, pid)
		}
		if err != nil {
			in.fail(kind, err)
			return
		}
		in.c.update(a.node, func(s *nodeState) { s.killed = true })
		// SIGKILL from the host lands at once; docker kill then records it.
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			in.fail(kind, err)
		}
		_ = n.Kill(ctx)
		in.event("SIGKILL %s (pid %d), restart in %v", n.Short, pid, time.Until(a.healAt).Round(time.Second))
	case faultDisconnect:
		a.node = in.victim()
		n := in.c.f.Nodes[a.node]
		ip, err := n.IP(ctx, in.c.f.Net.Name)
		if err != nil {
			in.fail(kind, err)
			return
		}
		a.ip = ip
		in.c.update(a.node, func(s *nodeState) { s.disconnected = true; s.ip = ip })
		if err := in.c.f.Net.Disconnect(ctx, n.Container); err != nil {
			in.c.update(a.node, func(s *nodeState) { s.disconnected = false })
			in.fail(kind, err)
			return
		}
		in.event("disconnect %s (%s), reconnect in %v", n.Short, ip, time.Until(a.healAt).Round(time.Second))
	case faultUpstream:
		in.c.mu.Lock()
		in.c.upOK = false
		in.c.mu.Unlock()
		if err := in.c.f.Upstream.Stop(ctx, time.Second); err != nil {
			in.fail(kind, err)
		}
		in.event("stop the upstream, start in %v", time.Until(a.healAt).Round(time.Second))
	case faultDisk:
		a.node = in.rng.IntN(len(in.c.nodes))
		dir := in.c.dirs[a.node]
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			in.fail(kind, err)
			return
		}
		free := int64(st.Bavail) * st.Bsize
		// Leave 256 KiB: too little for any layer the clients move.
		n := max(free-256*kib, 0)
		a.filler = filepath.Join(dir, "chaos-filler")
		if err := fill(a.filler, n); err != nil {
			in.fail(kind, err)
		}
		in.event("fill n%d's disk with %d MiB (of %d MiB free), free in %v", a.node, n/mib, free/mib, time.Until(a.healAt).Round(time.Second))
	}
	in.active[kind] = a
	in.injected[kind]++
}

func (in *injector) heal(ctx context.Context, kind string) {
	// Not cut short by the end of the chaos: the fleet must be whole again.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	a := in.active[kind]
	delete(in.active, kind)
	switch kind {
	case faultKill:
		n := in.c.f.Nodes[a.node]
		if err := in.c.restartNode(ctx, a.node); err != nil {
			in.fail("restart", err)
		}
		in.c.update(a.node, func(s *nodeState) { s.killed = false })
		in.event("restarted %s", n.Short)
	case faultDisconnect:
		n := in.c.f.Nodes[a.node]
		if err := in.c.f.Net.Connect(ctx, n.Container, a.ip); err != nil {
			in.fail("reconnect", err)
		}
		if _, err := in.c.refreshAddr(ctx, a.node); err != nil {
			in.fail("reconnect", err)
		}
		in.c.update(a.node, func(s *nodeState) { s.disconnected = false })
		in.event("reconnected %s at %s", n.Short, a.ip)
	case faultUpstream:
		if err := in.c.restartUpstream(ctx); err != nil {
			in.fail("upstream start", err)
		}
		in.c.mu.Lock()
		in.c.upOK = true
		in.c.mu.Unlock()
		in.event("started the upstream")
	case faultDisk:
		if err := os.Remove(a.filler); err != nil && !os.IsNotExist(err) {
			in.fail("free disk", err)
		}
		in.event("freed n%d's disk", a.node)
	}
	in.healed[kind]++
}

// fill writes n zero bytes to path; a full filesystem ends it early,
// which is what was wanted.
func fill(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 256*kib)
	for n > 0 {
		m := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:m]); err != nil {
			break
		}
		n -= m
	}
	return f.Close()
}

// watch restarts any node that exited on its own (not one a kill fault
// has down), recording how it ended.
func (in *injector) watch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	killed := -1
	if a := in.active[faultKill]; a != nil {
		killed = a.node
	}
	for i, n := range in.c.f.Nodes {
		if i == killed {
			continue
		}
		if running, err := n.Running(ctx); err != nil || running {
			continue
		}
		state := n.State(ctx)
		in.crashes = append(in.crashes, fmt.Sprintf("%6.1fs %s %s: %s", time.Since(in.start).Seconds(), n.Short, state, fatalLines(n.Logs(ctx, 4000))))
		in.event("%s crashed (%s), restarting it", n.Short, state)
		in.c.update(i, func(s *nodeState) { s.killed = true })
		if err := in.c.restartNode(ctx, i); err != nil {
			in.fail("restart after a crash", err)
		}
		in.c.update(i, func(s *nodeState) { s.killed = false })
	}
}

// fatalLines is the last panic or fatal error in a Go program's output
// (docker keeps the output of earlier runs of the container) and the first
// frames after it.
func fatalLines(out string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			var keep []string
			for _, f := range lines[i:min(len(lines), i+30)] {
				f = strings.TrimSpace(f)
				if f != "" && !strings.HasPrefix(f, "/") && !strings.HasPrefix(f, "goroutine ") && !strings.HasPrefix(f, "runtime.") {
					keep = append(keep, f)
				}
			}
			return strings.Join(keep[:min(len(keep), 8)], " | ")
		}
	}
	return "no panic or fatal error in its last lines"
}
