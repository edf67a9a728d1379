package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// A fleet is shoal nodes in docker containers on a user-defined bridge
// network, with Debian's docker-registry as their upstream in another
// container on the same network. The images are FROM scratch: the node is
// a static binary; docker-registry is copied in with the shared libraries
// it links against.

// Fleet constants: ports inside the containers and the upstream's names.
const (
	// RegistryPort is the node's --listen port and the upstream's port,
	// inside their containers.
	RegistryPort = "5000/tcp"
	// P2PPort is the node's libp2p TCP port inside its container.
	P2PPort = 5001
	// UpstreamAlias is the upstream container's DNS name on the fleet network.
	UpstreamAlias = "upstream"
	// UpstreamRule is the nodes' --upstream rule name for it: images are
	// pulled through a node as <node>/v2/up/<repo>/….
	UpstreamRule = "up"
)

// BuildStaticShoal builds ./cmd/shoal of the module with CGO_ENABLED=0 and
// the given build tags into dir, for a FROM scratch image.
func BuildStaticShoal(ctx context.Context, dir string, tags ...string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "shoal")
	args := []string{"build"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", bin, "./cmd/shoal")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CGO_ENABLED=0 go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// BuildNodeImage builds tag FROM scratch with bin as /shoal, the entrypoint.
func BuildNodeImage(ctx context.Context, bin, tag string) error {
	dir, err := os.MkdirTemp("", "shoal-node-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyFile(bin, filepath.Join(dir, "shoal"), 0o755); err != nil {
		return err
	}
	dockerfile := "FROM scratch\nCOPY shoal /shoal\nENTRYPOINT [\"/shoal\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	return BuildImage(ctx, dir, tag)
}

// upstreamImageConfig is docker-registry's config inside its container:
// storage on a tmpfs, listening on every interface of the container.
const upstreamImageConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 0.0.0.0:5000
  secret: shoal-integration-test
`

// BuildUpstreamImage builds tag FROM scratch holding the docker-registry
// found on PATH and the shared libraries ldd says it needs (Debian's build
// links glibc dynamically), serving from a tmpfs at /var/lib/registry.
func BuildUpstreamImage(ctx context.Context, tag string) error {
	reg, err := exec.LookPath("docker-registry")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "shoal-upstream-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyFile(reg, filepath.Join(dir, "docker-registry"), 0o755); err != nil {
		return err
	}
	libs, err := sharedLibs(ctx, reg)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := copyFile(l, filepath.Join(dir, l), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "registry.yml"), []byte(upstreamImageConfig), 0o644); err != nil {
		return err
	}
	dockerfile := "FROM scratch\nCOPY . /\nENTRYPOINT [\"/docker-registry\"]\nCMD [\"serve\", \"/etc/registry.yml\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	return BuildImage(ctx, dir, tag)
}

// sharedLibs lists the absolute paths of the shared objects bin loads, its
// dynamic loader included; none for a static binary.
func sharedLibs(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
				break
			}
		}
	}
	return libs, nil
}

// copyFile copies src (following symlinks) to dst, creating dst's directory.
func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// FleetConfig says how to set up a fleet's network and upstream.
type FleetConfig struct {
	// Prefix starts the name of every container and network of the fleet.
	Prefix        string
	NodeImage     string
	UpstreamImage string
	// Labels are put on every container and network.
	Labels map[string]string
	// PinSubnet makes the fleet network's subnet user-configured, so a
	// container can be reconnected at its old IP.
	PinSubnet bool
	// UpstreamDataDir, when set, is a host directory bind-mounted as the
	// upstream's storage instead of a tmpfs, so its content survives a
	// stop and start of the container (docker recreates a tmpfs empty).
	UpstreamDataDir string
}

// Fleet is a network, an upstream and the nodes started on it.
type Fleet struct {
	Config FleetConfig
	Net    *Network
	// Upstream is the docker-registry container; UpstreamAddr is its
	// published 127.0.0.1:PORT, where the test pushes images.
	Upstream     *Container
	UpstreamAddr string
	Nodes        []*FleetNode

	networks   []*Network
	containers []*Container
}

// NewFleet creates the fleet network <prefix>-fleet and starts the upstream
// on it. Close removes everything it and StartNode create, also after a
// failure here.
func NewFleet(ctx context.Context, cfg FleetConfig) (*Fleet, error) {
	f := &Fleet{Config: cfg}
	net, err := f.CreateNetwork(ctx, "fleet", cfg.PinSubnet)
	if err != nil {
		return f, err
	}
	f.Net = net
	upOpts := RunOptions{
		Name:    cfg.Prefix + "-upstream",
		Image:   cfg.UpstreamImage,
		Network: net.Name,
		Aliases: []string{UpstreamAlias},
		Publish: []string{RegistryPort},
		Tmpfs:   []string{"/var/lib/registry"},
		Labels:  cfg.Labels,
	}
	if cfg.UpstreamDataDir != "" {
		upOpts.Tmpfs = nil
		upOpts.Mounts = []string{cfg.UpstreamDataDir + ":/var/lib/registry"}
	}
	up, err := CreateContainer(ctx, upOpts)
	if err != nil {
		return f, err
	}
	f.containers = append(f.containers, up)
	f.Upstream = up
	if err := up.Start(ctx); err != nil {
		return f, err
	}
	if f.UpstreamAddr, err = up.HostAddr(ctx, RegistryPort); err != nil {
		return f, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, nil, "http://"+f.UpstreamAddr+"/v2/", 200); err != nil {
		return f, fmt.Errorf("upstream container (%s): %w\n%s", up.State(ctx), err, up.Logs(ctx, 40))
	}
	return f, nil
}

// CreateNetwork creates network <prefix>-<suffix>, removed by Close.
func (f *Fleet) CreateNetwork(ctx context.Context, suffix string, pinSubnet bool) (*Network, error) {
	n, err := CreateNetwork(ctx, f.Config.Prefix+"-"+suffix, f.Config.Labels, pinSubnet)
	if err != nil {
		return nil, err
	}
	f.networks = append(f.networks, n)
	return n, nil
}

// NodeSpec says how to start one node of a fleet.
type NodeSpec struct {
	// Name is short ("a", "n0"); the container is <prefix>-<name>.
	Name string
	// Bootstrap are nodes to join through, at their IP on the fleet network.
	Bootstrap []*FleetNode
	// BootstrapAddrs are more --bootstrap multiaddrs, e.g. a node's
	// address on another network (FleetNode.BootstrapAddr).
	BootstrapAddrs []string
	Env            []string
	Mounts         []string
	// Args are further `shoal node` flags.
	Args []string
	// Networks are more networks the container is on from the start.
	Networks []*Network
	CPUs     string
	// DataDir, when set, is a host directory bind-mounted at /data instead
	// of a tmpfs, so the node's store survives a kill and restart of the
	// container (docker recreates a tmpfs empty) and the host can read or
	// fill it.
	DataDir string
}

// FleetNode is a running node container.
type FleetNode struct {
	*Container
	// Short is the spec's name.
	Short string
	// API talks to the node's published registry port (its Proc is nil).
	API    *Node
	PeerID string
}

// URL is the node's base URL on 127.0.0.1.
func (n *FleetNode) URL() string { return n.API.URL() }

// StartNode starts a node on the fleet network (and spec.Networks), storing
// its data on a tmpfs (or spec.DataDir), and waits for /readyz.
func (f *Fleet) StartNode(ctx context.Context, spec NodeSpec) (*FleetNode, error) {
	args := []string{"node",
		"--listen", ":5000",
		"--data-dir", "/data",
		"--upstream", UpstreamRule + "=http://" + UpstreamAlias + ":5000",
		"--p2p-listen", fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", P2PPort),
		"--tag-ttl", "1s",
		"--log-level", "debug",
	}
	for _, b := range spec.Bootstrap {
		addr, err := b.BootstrapAddr(ctx, f.Net.Name)
		if err != nil {
			return nil, err
		}
		args = append(args, "--bootstrap", addr)
	}
	for _, addr := range spec.BootstrapAddrs {
		args = append(args, "--bootstrap", addr)
	}
	args = append(args, spec.Args...)
	opts := RunOptions{
		Name:    f.Config.Prefix + "-" + spec.Name,
		Image:   f.Config.NodeImage,
		Network: f.Net.Name,
		Publish: []string{RegistryPort},
		Env:     spec.Env,
		Mounts:  spec.Mounts,
		Tmpfs:   []string{"/data"},
		Labels:  f.Config.Labels,
		CPUs:    spec.CPUs,
		Args:    args,
	}
	if spec.DataDir != "" {
		opts.Tmpfs = nil
		opts.Mounts = append(append([]string(nil), spec.Mounts...), spec.DataDir+":/data")
	}
	c, err := CreateContainer(ctx, opts)
	if err != nil {
		return nil, err
	}
	f.containers = append(f.containers, c)
	for _, net := range spec.Networks {
		if err := net.Connect(ctx, c, ""); err != nil {
			return nil, err
		}
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	addr, err := c.HostAddr(ctx, RegistryPort)
	if err != nil {
		return nil, err
	}
	n := &FleetNode{Container: c, Short: spec.Name, API: &Node{Addr: addr}}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, nil, n.URL()+"/readyz", 200); err != nil {
		return nil, fmt.Errorf("node %s (%s): %w\n%s", c.Name, c.State(ctx), err, c.Logs(ctx, 40))
	}
	st, err := n.API.Status(ctx)
	if err != nil {
		return nil, err
	}
	id, _ := st["peer_id"].(string)
	if id == "" {
		return nil, fmt.Errorf("node %s: /shoal/v1/status has no peer_id: %v", c.Name, st)
	}
	n.PeerID = id
	f.Nodes = append(f.Nodes, n)
	return n, nil
}

// BootstrapAddr is the node's p2p address on network, taken from the
// p2p_addrs of its /shoal/v1/status: the one at its container IP there.
func (n *FleetNode) BootstrapAddr(ctx context.Context, network string) (string, error) {
	ip, err := n.IP(ctx, network)
	if err != nil {
		return "", err
	}
	st, err := n.API.Status(ctx)
	if err != nil {
		return "", err
	}
	addrs, _ := st["p2p_addrs"].([]any)
	prefix := fmt.Sprintf("/ip4/%s/tcp/%d/p2p/", ip, P2PPort)
	for _, a := range addrs {
		if s, _ := a.(string); strings.HasPrefix(s, prefix) {
			return s, nil
		}
	}
	return "", fmt.Errorf("node %s: no p2p address at %s (its IP on %s) in p2p_addrs %v", n.Name, ip, network, addrs)
}

// Peers is `peers` from the node's /shoal/v1/status.
func (n *FleetNode) Peers(ctx context.Context) (int, error) {
	st, err := n.API.Status(ctx)
	if err != nil {
		return 0, err
	}
	p, ok := st["peers"].(float64)
	if !ok {
		return 0, fmt.Errorf("node %s: /shoal/v1/status has no numeric peers: %v", n.Name, st)
	}
	return int(p), nil
}

// WaitPeers polls until every node reports at least min peers, or timeout
// passes; the error says who fell short.
func WaitPeers(ctx context.Context, nodes []*FleetNode, min int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var short []string
		for _, n := range nodes {
			p, err := n.Peers(ctx)
			if err != nil || p < min {
				short = append(short, fmt.Sprintf("%s: %d peers (err %v)", n.Short, p, err))
			}
		}
		if len(short) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("want ≥%d peers on every node after %v: %s", min, timeout, strings.Join(short, "; "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Logs is the tail of every container's output, headed by its name: the
// last tail lines that contain none of drop.
func (f *Fleet) Logs(ctx context.Context, tail int, drop ...string) string {
	var b strings.Builder
	for _, c := range f.containers {
		var kept []string
	lines:
		for _, l := range strings.Split(c.Logs(ctx, 20*tail), "\n") {
			for _, d := range drop {
				if strings.Contains(l, d) {
					continue lines
				}
			}
			kept = append(kept, l)
		}
		kept = kept[max(0, len(kept)-tail):]
		fmt.Fprintf(&b, "----- %s (%s), last %d lines:\n%s\n", c.Name, c.State(ctx), tail, strings.Join(kept, "\n"))
	}
	return b.String()
}

// Close removes the fleet's containers, then its networks.
func (f *Fleet) Close(ctx context.Context) error {
	var errs []error
	for _, c := range f.containers {
		errs = append(errs, c.Remove(ctx))
	}
	for i := len(f.networks) - 1; i >= 0; i-- {
		errs = append(errs, f.networks[i].Remove(ctx))
	}
	return errors.Join(errs...)
}
