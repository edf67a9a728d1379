// Command chaosbench is the chaos run of issue 11: a fleet of node
// containers under continuous pulls and pushes from several client
// goroutines while a seeded fault injector kills nodes with SIGKILL,
// disconnects and reconnects them from the fleet network, stops and
// restarts the upstream, and fills and frees a node's disk. Every client
// checks every digest it receives. At the end every fault is healed, every
// blob file each node stores is re-hashed from the host, and every pushed
// image is pulled through the node it was pushed to and through another.
//
// Each node's /data is a size-limited tmpfs mounted on the host and
// bind-mounted into its container, so a killed node restarts with its
// store (docker would recreate a container tmpfs empty), and the disk is
// filled and re-hashed from the host. The upstream's storage is a host
// directory for the same reason. Everything created (image, network,
// containers, mounts) is removed at the end, also on failure or Ctrl-C.
// The markdown report goes to stdout (and -out), progress to stderr.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

type options struct {
	duration   time.Duration
	seed       uint64
	nodes      int
	pullers    int
	pushers    int
	faultEvery time.Duration
	diskMiB    int64
	images     int
	nodeLog    string
	logDir     string
	out        string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long clients and faults run, before the final checks")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the fault injector's and the clients' choices")
	flag.IntVar(&o.nodes, "nodes", 5, "node containers")
	flag.IntVar(&o.pullers, "pullers", 4, "client goroutines pulling")
	flag.IntVar(&o.pushers, "pushers", 2, "client goroutines pushing")
	flag.DurationVar(&o.faultEvery, "fault-every", 4*time.Second, "mean time between fault injector steps")
	flag.Int64Var(&o.diskMiB, "disk", 160, "size in MiB of each node's /data filesystem")
	flag.IntVar(&o.images, "images", 8, "images on the upstream that clients pull through the nodes")
	flag.StringVar(&o.nodeLog, "node-log-level", "info", "the nodes' --log-level")
	flag.StringVar(&o.logDir, "logs", "", "write every container's log to this directory at the end")
	flag.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	flag.Parse()
	if o.nodes < 2 || o.pullers < 1 || o.pushers < 0 || o.duration <= 0 || o.faultEvery <= 0 || o.images < 1 || o.diskMiB < 32 {
		fmt.Fprintln(os.Stderr, "chaosbench: need -nodes ≥ 2, -pullers ≥ 1, -pushers ≥ 0, -images ≥ 1, -disk ≥ 32 and positive durations")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The bound on the whole run: setup, the chaos, healing and checks.
	ctx, cancel := context.WithTimeout(ctx, o.duration+15*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "chaosbench:", err)
		os.Exit(1)
	}
}

func preflight(ctx context.Context) error {
	for _, tool := range []string{"docker", "docker-registry", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: %w", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("mounting the nodes' tmpfs data dirs and killing container processes need root")
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func commandLine() string {
	return strings.Join(append([]string{"go run ./bench/cmd/chaosbench"}, os.Args[1:]...), " ")
}
