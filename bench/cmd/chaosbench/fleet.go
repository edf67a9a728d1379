package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchrun"
	"github.com/shoal-dev/shoal/integration/harness"
)

// chaosFleet is the harness fleet with what the fault injector changes
// about it, behind one lock: the clients read a node's address (which
// changes when its container restarts and docker publishes its port anew)
// and whether a fault has it down.
type chaosFleet struct {
	f     *harness.Fleet
	dirs  []string // each node's /data on the host, a tmpfs
	mu    sync.Mutex
	nodes []nodeState
	upOK  bool
	upIP  string
}

// nodeState is what the clients may know of a node. epoch counts its
// faults and heals, so a client can tell that one happened during its call.
type nodeState struct {
	addr         string
	ip           string
	killed       bool
	disconnected bool
	epoch        int
}

// nodeView is a client's snapshot of one node.
type nodeView struct {
	i     int
	addr  string
	down  bool // killed or disconnected: the node itself cannot answer
	epoch int
}

func (c *chaosFleet) view(i int) nodeView {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.nodes[i]
	return nodeView{i: i, addr: s.addr, down: s.killed || s.disconnected, epoch: s.epoch}
}

func (c *chaosFleet) upstreamUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upOK
}

// update changes node i's state under the lock and bumps its epoch.
func (c *chaosFleet) update(i int, f func(s *nodeState)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.nodes[i])
	c.nodes[i].epoch++
}

// setup builds the images, creates the fleet with a host directory for the
// upstream and a tmpfs mounted on the host for each node, and starts the
// nodes joined through the first.
func setup(ctx context.Context, o options, work string, cl *benchrun.Cleanups) (*chaosFleet, string, error) {
	id := randomHex(4)
	prefix := "chaosbench-" + id
	benchrun.Logf("building the static shoal binary and the FROM scratch images")
	bin, err := harness.BuildStaticShoal(ctx, work)
	if err != nil {
		return nil, "", err
	}
	nodeImage, upImage := prefix+":node", prefix+":upstream"
	cl.Add(func(ctx context.Context) error { return harness.RemoveImage(ctx, nodeImage) })
	if err := harness.BuildNodeImage(ctx, bin, nodeImage); err != nil {
		return nil, "", err
	}
	cl.Add(func(ctx context.Context) error { return harness.RemoveImage(ctx, upImage) })
	if err := harness.BuildUpstreamImage(ctx, upImage); err != nil {
		return nil, "", err
	}
	upDir := filepath.Join(work, "upstream")
	if err := os.MkdirAll(upDir, 0o755); err != nil {
		return nil, "", err
	}
	f, err := harness.NewFleet(ctx, harness.FleetConfig{
		Prefix:          prefix,
		NodeImage:       nodeImage,
		UpstreamImage:   upImage,
		Labels:          map[string]string{"dev.shoal.chaosbench": id},
		PinSubnet:       true,
		UpstreamDataDir: upDir,
	})
	cl.Add(f.Close)
	if o.logDir != "" {
		// Added after Close, so it runs before it.
		cl.Add(func(ctx context.Context) error { return saveLogs(ctx, f, o.logDir) })
	}
	if err != nil {
		return nil, "", err
	}
	c := &chaosFleet{f: f, upOK: true}
	if c.upIP, err = f.Upstream.IP(ctx, f.Net.Name); err != nil {
		return nil, "", err
	}
	for i := 0; i < o.nodes; i++ {
		dir := filepath.Join(work, fmt.Sprintf("n%d-data", i))
		if err := mountTmpfs(dir, o.diskMiB*mib); err != nil {
			return nil, "", err
		}
		cl.Add(func(context.Context) error { return umount(dir) })
		c.dirs = append(c.dirs, dir)
		spec := harness.NodeSpec{Name: fmt.Sprintf("n%d", i), DataDir: dir, Args: []string{"--log-level", o.nodeLog}}
		if i > 0 {
			spec.Bootstrap = f.Nodes[:1]
		}
		n, err := f.StartNode(ctx, spec)
		if err != nil {
			return nil, "", err
		}
		ip, err := n.IP(ctx, f.Net.Name)
		if err != nil {
			return nil, "", err
		}
		c.nodes = append(c.nodes, nodeState{addr: n.API.Addr, ip: ip})
	}
	if err := harness.WaitPeers(ctx, f.Nodes, o.nodes-1, 60*time.Second); err != nil {
		benchrun.Logf("the fleet is not fully joined after 60 s, going on: %v", err)
	}
	return c, bin, nil
}

func mountTmpfs(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mount -t tmpfs %s: %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func umount(dir string) error {
	// Lazy: a container being removed may still hold it for a moment.
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("umount %s: %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pin reconnects a stopped container to the fleet network at ip: docker
// gives a container started again whatever address is free, and a node
// at a new address is lost to the peers that bootstrap through it (and to
// every other container's restart, which may take its old one).
func (c *chaosFleet) pin(ctx context.Context, ctr *harness.Container, ip string, aliases ...string) error {
	if err := c.f.Net.Disconnect(ctx, ctr); err != nil {
		return err
	}
	return c.f.Net.Connect(ctx, ctr, ip, aliases...)
}

// refreshAddr reads node i's published address again: docker publishes
// the port anew when the container starts or is reconnected.
func (c *chaosFleet) refreshAddr(ctx context.Context, i int) (string, error) {
	n := c.f.Nodes[i]
	addr, err := n.HostAddr(ctx, harness.RegistryPort)
	if err != nil {
		return "", err
	}
	n.API.Addr = addr
	c.update(i, func(s *nodeState) { s.addr = addr })
	return addr, nil
}

// restartNode starts node i's container again at its old IP, reads its new
// published address and waits for /readyz.
func (c *chaosFleet) restartNode(ctx context.Context, i int) error {
	n := c.f.Nodes[i]
	c.mu.Lock()
	ip := c.nodes[i].ip
	c.mu.Unlock()
	if err := c.pin(ctx, n.Container, ip); err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	addr, err := c.refreshAddr(ctx, i)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := harness.WaitHTTP(wctx, nil, "http://"+addr+"/readyz", http.StatusOK); err != nil {
		return fmt.Errorf("node %s after restart (%s): %w", n.Short, n.State(ctx), err)
	}
	return nil
}

// restartUpstream starts the upstream container again at its old IP and
// waits for /v2/.
func (c *chaosFleet) restartUpstream(ctx context.Context) error {
	up := c.f.Upstream
	if err := c.pin(ctx, up, c.upIP, harness.UpstreamAlias); err != nil {
		return err
	}
	if err := up.Start(ctx); err != nil {
		return err
	}
	addr, err := up.HostAddr(ctx, harness.RegistryPort)
	if err != nil {
		return err
	}
	c.f.UpstreamAddr = addr
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return harness.WaitHTTP(wctx, nil, "http://"+addr+"/v2/", http.StatusOK)
}

// saveLogs writes each container's whole output to dir.
func saveLogs(ctx context.Context, f *harness.Fleet, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cs := []*harness.Container{f.Upstream}
	for _, n := range f.Nodes {
		cs = append(cs, n.Container)
	}
	for _, c := range cs {
		if c == nil {
			continue
		}
		out, err := exec.CommandContext(ctx, "docker", "logs", c.ID).CombinedOutput()
		if err != nil {
			benchrun.Logf("docker logs %s: %v", c.Name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name+".log"), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}
