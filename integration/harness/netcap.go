package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// A container's network is capped with tc token buckets (tbf: the kernels
// this runs on have tbf, htb and pfifo, not netem): its egress with a tbf
// on each of its interfaces inside its network namespace (entered with
// nsenter), its ingress with a tbf on the host end of each interface's
// veth, which is what the host sends into the container. It needs root,
// tc and nsenter on the host.

// CapNetwork caps every network interface of running container c at rate
// (tc syntax: "16mbit") both ways. A network connected later (or
// reconnected: its veth is new) needs CapNetwork again.
func (c *Container) CapNetwork(ctx context.Context, rate string) error {
	return c.eachVeth(ctx, func(pid int, inside, host string) error {
		tbf := []string{"root", "tbf", "rate", rate, "burst", "64kb", "latency", "100ms"}
		if err := tcInside(ctx, pid, append([]string{"qdisc", "replace", "dev", inside}, tbf...)...); err != nil {
			return err
		}
		return runTC(ctx, append([]string{"qdisc", "replace", "dev", host}, tbf...)...)
	})
}

// UncapNetwork removes what CapNetwork set on c's current interfaces.
func (c *Container) UncapNetwork(ctx context.Context) error {
	return c.eachVeth(ctx, func(pid int, inside, host string) error {
		return errors.Join(
			ignoreNoQdisc(tcInside(ctx, pid, "qdisc", "del", "dev", inside, "root")),
			ignoreNoQdisc(runTC(ctx, "qdisc", "del", "dev", host, "root")))
	})
}

// eachVeth calls f with c's process and each of its veth interfaces, by
// its name inside the container and the name of its peer on the host.
func (c *Container) eachVeth(ctx context.Context, f func(pid int, inside, host string) error) error {
	pid, err := c.Pid(ctx)
	if err != nil {
		return err
	}
	if pid == 0 {
		return fmt.Errorf("container %s is not running", c.Name)
	}
	// Each line is "N: NAME@ifPEER: <...> ...". /sys/class/net is no help
	// here: nsenter -n keeps the host's mount of sysfs.
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		return fmt.Errorf("listing %s's interfaces: %w: %s", c.Name, err, out)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		name, peer, ok := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@if")
		if !ok {
			continue // lo, or a tunnel device with no peer (tunl0@NONE)
		}
		idx, err := strconv.Atoi(peer)
		if err != nil {
			continue
		}
		host, err := hostVeth(ctx, idx)
		if err != nil {
			return fmt.Errorf("%s's %s: %w", c.Name, name, err)
		}
		if err := f(pid, name, host); err != nil {
			return fmt.Errorf("%s's %s (host end %s): %w", c.Name, name, host, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("container %s has no veth interface: %s", c.Name, out)
	}
	return nil
}

// hostVeth is the name of the host interface with ifindex idx, which
// must be a veth: shaping another would cap the machine itself.
func hostVeth(ctx context.Context, idx int) (string, error) {
	dirs, err := filepath.Glob("/sys/class/net/*/ifindex")
	if err != nil {
		return "", err
	}
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(idx) {
			continue
		}
		name := filepath.Base(filepath.Dir(d))
		if out, err := exec.CommandContext(ctx, "ip", "-o", "-d", "link", "show", "dev", name).Output(); err != nil || !strings.Contains(string(out), " veth ") {
			return "", fmt.Errorf("host interface %s (ifindex %d) is not a veth, not touching it: %s %v", name, idx, out, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("no host interface with ifindex %d", idx)
}

// tcInside runs tc in the network namespace of process pid.
func tcInside(ctx context.Context, pid int, args ...string) error {
	cmd := append([]string{"-t", strconv.Itoa(pid), "-n", "tc"}, args...)
	if out, err := exec.CommandContext(ctx, "nsenter", cmd...).CombinedOutput(); err != nil {
		return fmt.Errorf("nsenter %s: %w: %s", strings.Join(cmd, " "), err, out)
	}
	return nil
}

// runTC runs tc on the host.
func runTC(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, "tc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("tc %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ignoreNoQdisc drops the error of deleting a root qdisc that is the
// default already.
func ignoreNoQdisc(err error) error {
	if err != nil && (strings.Contains(err.Error(), "handle of zero") || strings.Contains(err.Error(), "No such file")) {
		return nil
	}
	return err
}

// HostVeths names the host ends of c's veth interfaces: their counters
// are what c sent (rx) and received (tx).
func (c *Container) HostVeths(ctx context.Context) ([]string, error) {
	var out []string
	err := c.eachVeth(ctx, func(_ int, _, host string) error {
		out = append(out, host)
		return nil
	})
	return out, err
}
