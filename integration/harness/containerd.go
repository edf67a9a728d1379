package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/containerd/hosts"
)

// Containerd is a private containerd with its own root, state and socket,
// so it never touches the machine's containerd (docker's included).
type Containerd struct {
	*Proc
	Dir    string
	Socket string
}

const containerdConfig = `version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.overlayfs", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""
`

// StartContainerd starts containerd under dir, which must be short: the
// socket path is limited to 108 bytes. It needs root.
func StartContainerd(ctx context.Context, dir string) (*Containerd, error) {
	sock := filepath.Join(dir, "c.sock")
	if len(sock) > 100 {
		return nil, fmt.Errorf("containerd socket path too long: %s", sock)
	}
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf(containerdConfig, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		return nil, err
	}
	p, err := StartProc("containerd", filepath.Join(dir, "containerd.log"), "--config", cfg, "--log-level", "info")
	if err != nil {
		return nil, err
	}
	c := &Containerd{Proc: p, Dir: dir, Socket: sock}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := c.Ctr(ctx, "version")
		if err == nil {
			return c, nil
		}
		if p.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			p.Kill()
			return nil, fmt.Errorf("containerd did not come up: %v\n%s\nlog:\n%s", err, out, p.LogTail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Ctr runs ctr against this containerd in the "shoaltest" namespace.
func (c *Containerd) Ctr(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	full := append([]string{"--address", c.Socket, "--namespace", "shoaltest"}, args...)
	out, err := exec.CommandContext(ctx, "ctr", full...).CombinedOutput()
	return string(out), err
}

// WriteHostsTOML writes dir/<host>/hosts.toml sending pulls and resolves for
// host to the mirror URL first, falling back to server. It uses the
// generator `shoal containerd-config` ships, so the tests pull with the
// files users get.
func WriteHostsTOML(dir, host, server, mirror string) error {
	files, err := hosts.Config{
		Registries:   []string{host},
		Mirror:       mirror,
		Capabilities: []string{"pull", "resolve"},
		Servers:      map[string]string{host: server},
	}.Files()
	if err != nil {
		return err
	}
	_, err = hosts.WriteFiles(dir, files)
	return err
}
