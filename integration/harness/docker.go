package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The Docker helpers drive the docker CLI, so the tests need no Docker SDK.
// Every call has a deadline: dockerTimeout unless ctx ends sooner.
const dockerTimeout = 2 * time.Minute

// Docker runs the docker CLI with args and returns its trimmed stdout. A
// failure carries the command and its stderr.
func Docker(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// DockerAvailable returns nil when a Docker engine answers, or why not.
func DockerAvailable(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("no docker CLI: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := Docker(ctx, "info", "--format", "{{.ServerVersion}}")
	if err != nil {
		return err
	}
	if v == "" {
		return errors.New("docker info: no server version: no engine reachable")
	}
	return nil
}

// BuildImage builds the Dockerfile in contextDir as tag.
func BuildImage(ctx context.Context, contextDir, tag string) error {
	_, err := Docker(ctx, "build", "--quiet", "--tag", tag, contextDir)
	return err
}

// RemoveImage deletes image tag; a missing image is not an error.
func RemoveImage(ctx context.Context, tag string) error {
	_, err := Docker(ctx, "image", "rm", "--force", tag)
	if err != nil && strings.Contains(err.Error(), "No such image") {
		return nil
	}
	return err
}

// RunOptions say how to create a container.
type RunOptions struct {
	Name  string
	Image string
	// Network is the network the container is created on; Aliases are its
	// DNS names there.
	Network string
	Aliases []string
	// Publish are container ports (e.g. "5000/tcp") published on a free
	// port of 127.0.0.1 only.
	Publish []string
	Env     []string
	// Mounts are bind mounts, "HOST:CONTAINER[:ro]".
	Mounts []string
	// Tmpfs are paths mounted as tmpfs, "PATH[:OPTIONS]".
	Tmpfs  []string
	Labels map[string]string
	// CPUs, when set, limits the container (docker --cpus).
	CPUs string
	// Memory, when set, limits the container (docker --memory).
	Memory string
	// Args follow the image's entrypoint.
	Args []string
}

// CongestionControl is the TCP congestion control the containers use,
// and what a benchmark's upstream proxy sets on the connections it
// serves them: a loss-based one, cubic (Linux's default) where the
// kernel allows it without privileges, else reno, whatever the host
// itself runs; "" when neither is allowed. The machines these tests and
// benchmarks run on default to BBR without the fq qdisc it is built for,
// and behind CapNetwork's tbf (whose queue drops what exceeds it) BBR's
// bandwidth estimate ran to 1.6 Gbit/s on an 8 Mbit/s link: a node's
// connections to its peers retransmitted 6-93% of what they sent, and
// the end of a swarm rollout crawled at a third of the links
// (bench/RESULTS.md). A network namespace other than the host's may
// only default to an algorithm in tcp_allowed_congestion_control, which
// here holds reno and bbr; at these rates reno and cubic behave alike.
func CongestionControl() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
	if err != nil {
		return ""
	}
	allowed := strings.Fields(string(b))
	for _, cc := range []string{"cubic", "reno"} {
		if slices.Contains(allowed, cc) {
			return cc
		}
	}
	return ""
}

// Container is a docker container the caller created.
type Container struct {
	ID   string
	Name string
}

// CreateContainer creates (but does not start) a container, so that more
// networks can be connected before its process sees any.
func CreateContainer(ctx context.Context, o RunOptions) (*Container, error) {
	args := []string{"create", "--name", o.Name}
	if o.Network != "" {
		args = append(args, "--network", o.Network)
		for _, a := range o.Aliases {
			args = append(args, "--network-alias", a)
		}
	}
	for _, p := range o.Publish {
		args = append(args, "--publish", "127.0.0.1::"+p)
	}
	for _, e := range o.Env {
		args = append(args, "--env", e)
	}
	for _, m := range o.Mounts {
		args = append(args, "--volume", m)
	}
	for _, t := range o.Tmpfs {
		args = append(args, "--tmpfs", t)
	}
	keys := make([]string, 0, len(o.Labels))
	for k := range o.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--label", k+"="+o.Labels[k])
	}
	if o.CPUs != "" {
		args = append(args, "--cpus", o.CPUs)
	}
	if o.Memory != "" {
		args = append(args, "--memory", o.Memory)
	}
	if cc := CongestionControl(); cc != "" {
		args = append(args, "--sysctl", "net.ipv4.tcp_congestion_control="+cc)
	}
	args = append(args, o.Image)
	args = append(args, o.Args...)
	id, err := Docker(ctx, args...)
	if err != nil {
		return nil, err
	}
	return &Container{ID: id, Name: o.Name}, nil
}

// RunContainer creates and starts a container.
func RunContainer(ctx context.Context, o RunOptions) (*Container, error) {
	c, err := CreateContainer(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// Start starts a created or stopped container.
func (c *Container) Start(ctx context.Context) error {
	_, err := Docker(ctx, "start", c.ID)
	return err
}

// Stop stops the container, killing it after grace.
func (c *Container) Stop(ctx context.Context, grace time.Duration) error {
	_, err := Docker(ctx, "stop", "--time", fmt.Sprint(int(grace.Seconds())), c.ID)
	return err
}

// Kill sends SIGKILL to the container's process.
func (c *Container) Kill(ctx context.Context) error {
	_, err := Docker(ctx, "kill", c.ID)
	return err
}

// Pid is the container's main process as the host sees it: killing it
// directly lands at once, where docker kill can take seconds on a busy
// machine.
func (c *Container) Pid(ctx context.Context) (int, error) {
	out, err := Docker(ctx, "inspect", "--format", "{{.State.Pid}}", c.ID)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// Remove removes the container, running or not, with its anonymous volumes.
func (c *Container) Remove(ctx context.Context) error {
	_, err := Docker(ctx, "rm", "--force", "--volumes", c.ID)
	if err != nil && strings.Contains(err.Error(), "No such container") {
		return nil
	}
	return err
}

// Update changes resource limits of a running container, e.g.
// Update(ctx, "--cpus", "0.5").
func (c *Container) Update(ctx context.Context, args ...string) error {
	_, err := Docker(ctx, append(append([]string{"update"}, args...), c.ID)...)
	return err
}

// Running reports whether the container's process is running.
func (c *Container) Running(ctx context.Context) (bool, error) {
	out, err := Docker(ctx, "inspect", "--format", "{{.State.Running}}", c.ID)
	if err != nil {
		return false, err
	}
	return out == "true", nil
}

// State is the container's state, e.g. "running" or "exited (code 2)".
func (c *Container) State(ctx context.Context) string {
	out, err := Docker(ctx, "inspect", "--format", "{{.State.Status}} (exit {{.State.ExitCode}}, oom {{.State.OOMKilled}})", c.ID)
	if err != nil {
		return err.Error()
	}
	return out
}

// HostAddr is the 127.0.0.1:PORT a published container port (e.g.
// "5000/tcp") is reachable at.
func (c *Container) HostAddr(ctx context.Context, port string) (string, error) {
	out, err := Docker(ctx, "port", c.ID, port)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if host, _, err := net.SplitHostPort(line); err == nil && host == "127.0.0.1" {
			return line, nil
		}
	}
	return "", fmt.Errorf("container %s publishes %s on no 127.0.0.1 port: %q", c.Name, port, out)
}

// IPs maps each network the container is on to its IPv4 address there.
func (c *Container) IPs(ctx context.Context) (map[string]string, error) {
	out, err := Docker(ctx, "inspect", "--format", "{{json .NetworkSettings.Networks}}", c.ID)
	if err != nil {
		return nil, err
	}
	var nets map[string]struct {
		IPAddress string
	}
	if err := json.Unmarshal([]byte(out), &nets); err != nil {
		return nil, fmt.Errorf("inspecting %s's networks: %w: %s", c.Name, err, out)
	}
	ips := map[string]string{}
	for n, v := range nets {
		ips[n] = v.IPAddress
	}
	return ips, nil
}

// IP is the container's IPv4 address on network.
func (c *Container) IP(ctx context.Context, network string) (string, error) {
	ips, err := c.IPs(ctx)
	if err != nil {
		return "", err
	}
	ip := ips[network]
	if ip == "" {
		return "", fmt.Errorf("container %s has no address on network %s (it is on %v)", c.Name, network, ips)
	}
	return ip, nil
}

// Logs is the last tail lines of the container's output (stdout and
// stderr interleaved).
func (c *Container) Logs(ctx context.Context, tail int) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "logs", "--tail", fmt.Sprint(tail), c.ID).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s\n(docker logs: %v)", out, err)
	}
	return string(out)
}

// Network is a user-defined bridge network the caller created.
type Network struct {
	Name string
	// Subnet and Gateway are set when the network was created with a
	// pinned subnet, so containers can be (re)connected at fixed IPs.
	Subnet, Gateway string
}

// CreateNetwork creates a bridge network. With pinSubnet, the network's
// subnet is user-configured, which docker requires before a container can
// be connected at a chosen IP (needed to reconnect a container at the
// address its peers know). Docker picks the subnet: the network is created
// once to let it choose a free one, then again with that subnet pinned.
//
// Docker routes a container's published ports through the network whose
// name sorts first among those it is on; a network that a test disconnects
// while it still talks to the container must sort after one it keeps.
func CreateNetwork(ctx context.Context, name string, labels map[string]string, pinSubnet bool) (*Network, error) {
	args := []string{"network", "create", "--driver", "bridge"}
	for k, v := range labels {
		args = append(args, "--label", k+"="+v)
	}
	if _, err := Docker(ctx, append(args, name)...); err != nil {
		return nil, err
	}
	n := &Network{Name: name}
	if !pinSubnet {
		return n, nil
	}
	out, err := Docker(ctx, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}", name)
	if err == nil {
		f := strings.Fields(out)
		if len(f) != 2 {
			err = fmt.Errorf("network %s: want one IPv4 subnet and gateway, got %q", name, out)
		} else {
			n.Subnet, n.Gateway = f[0], f[1]
		}
	}
	if rmErr := n.Remove(ctx); err != nil || rmErr != nil {
		return nil, errors.Join(err, rmErr)
	}
	if _, err := Docker(ctx, append(args, "--subnet", n.Subnet, "--gateway", n.Gateway, name)...); err != nil {
		return nil, err
	}
	return n, nil
}

// Remove deletes the network; a missing network is not an error.
func (n *Network) Remove(ctx context.Context) error {
	_, err := Docker(ctx, "network", "rm", n.Name)
	if err != nil && strings.Contains(err.Error(), "not found") {
		return nil
	}
	return err
}

// Connect attaches c to the network, at ip when it is set (only on a
// network with a pinned subnet).
func (n *Network) Connect(ctx context.Context, c *Container, ip string, aliases ...string) error {
	args := []string{"network", "connect"}
	if ip != "" {
		args = append(args, "--ip", ip)
	}
	for _, a := range aliases {
		args = append(args, "--alias", a)
	}
	_, err := Docker(ctx, append(args, n.Name, c.ID)...)
	return err
}

// Disconnect detaches c from the network.
func (n *Network) Disconnect(ctx context.Context, c *Container) error {
	_, err := Docker(ctx, "network", "disconnect", "--force", n.Name, c.ID)
	return err
}
