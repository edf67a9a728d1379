// Command fleetbench measures a fleet of shoal nodes pulling through one
// rate-capped upstream, on loopback, with real processes:
//
//   - baseline: one node alone pulls a big image through the capped
//     upstream (T1, upstream bytes);
//   - fleet: N nodes joined through the DHT all pull the same image at the
//     same moment (per-node time, the last one TN, upstream bytes, peak
//     RSS, CPU time, where each node's bytes came from);
//   - direct: the same N pulls, each straight from the capped upstream, as
//     a fleet without peer sharing does it (Spegel or a pull-through
//     registry per node on a cold rollout), measured in the same run;
//   - peer throughput: a blob held by one node only, GET through another
//     vs GET from the holder itself;
//   - small-image latency: a 10 MB image held by one node, pulled through
//     another, p50 and p90.
//
// The upstream is Debian's docker-registry behind a proxy inside this
// process that counts every response-body byte it relays and caps their
// combined rate. The markdown report goes to stdout (and -out), progress
// to stderr. See bench/FLEET.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/benchimage"
	"github.com/shoal-dev/shoal/bench/internal/meter"
	"github.com/shoal-dev/shoal/integration/harness"
)

const mib = 1 << 20

type options struct {
	nodes       int
	size        int64
	layers      int
	rate        float64
	bin         string
	keep        bool
	skipSmall   bool
	skipPeer    bool
	skipDirect  bool
	smallSize   int64
	smallIters  int
	peerSize    int64
	peerIters   int
	settle      time.Duration
	provideWait time.Duration
	joinTimeout time.Duration
	pullTimeout time.Duration
	timeout     time.Duration
	logLevel    string
	out         string
	workDir     string
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 10, "nodes in the fleet")
	flag.Int64Var(&o.size, "size", 256*mib, "bytes of the big image (split over -layers layers)")
	flag.IntVar(&o.layers, "layers", 4, "layers of the big image")
	flag.Float64Var(&o.rate, "rate", 100e6, "upstream cap in bytes/s, shared by all connections (0: no cap)")
	flag.StringVar(&o.bin, "bin", "", "shoal binary (default: build ./cmd/shoal of this module)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (data dirs and logs)")
	flag.BoolVar(&o.skipSmall, "skip-small", false, "skip the small-image latency phase")
	flag.BoolVar(&o.skipPeer, "skip-peer", false, "skip the peer throughput phase")
	flag.BoolVar(&o.skipDirect, "skip-direct", false, "skip the N direct pulls from upstream")
	flag.Int64Var(&o.smallSize, "small-size", 10e6, "bytes of each small image")
	flag.IntVar(&o.smallIters, "small-iterations", 20, "small images pulled through a second node")
	flag.Int64Var(&o.peerSize, "peer-size", 256*mib, "bytes of the blob for the peer throughput phase")
	flag.IntVar(&o.peerIters, "peer-iterations", 3, "fresh blobs pulled node to node")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "wait after the fleet has joined, for DHT routing tables to fill")
	flag.DurationVar(&o.provideWait, "provide-wait", time.Second, "wait after a node takes in content before another asks for it, for its DHT advertisement")
	flag.DurationVar(&o.joinTimeout, "join-timeout", 2*time.Minute, "bound on waiting for the fleet to connect")
	flag.DurationVar(&o.pullTimeout, "pull-timeout", 10*time.Minute, "bound on one phase's pulls")
	flag.DurationVar(&o.timeout, "timeout", 45*time.Minute, "bound on the whole run")
	flag.StringVar(&o.logLevel, "log-level", "info", "the nodes' --log-level")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.StringVar(&o.workDir, "work", "", "parent of the work directory (default $TMPDIR)")
	flag.Parse()
	if o.nodes < 2 || o.layers < 1 || o.size < int64(o.layers) || (!o.skipSmall && o.smallIters < 1) {
		fmt.Fprintln(os.Stderr, "fleetbench: need -nodes >= 2, -layers >= 1, -size >= -layers and -small-iterations >= 1")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// If cleanup itself hangs after a signal, leave anyway: the nodes get
	// SIGKILL when this process dies (harness sets Pdeathsig).
	go func() {
		<-ctx.Done()
		time.Sleep(45 * time.Second)
		fmt.Fprintln(os.Stderr, "fleetbench: cleanup took too long; exiting")
		os.Exit(130)
	}()
	err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		if errors.Is(ctx.Err(), context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s fleetbench: "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func run(ctx context.Context, o options) (err error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	work, err := os.MkdirTemp(o.workDir, "fleetbench-")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(work, "logs"), 0o755); err != nil {
		return err
	}
	ps := &procs{}
	defer func() {
		logf("stopping all processes")
		ps.stopAll(10 * time.Second)
		if o.keep || err != nil {
			logf("work directory kept: %s", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	if o.bin == "" {
		logf("building ./cmd/shoal")
		if o.bin, err = harness.BuildShoal(ctx, work); err != nil {
			return err
		}
	}
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}

	up, err := harness.StartUpstream(ctx, filepath.Join(work, "upstream"), 0)
	if err != nil {
		return err
	}
	ps.add(up.Proc)
	proxy, err := meter.Start(up.URL(), "127.0.0.1", o.rate)
	if err != nil {
		return err
	}
	defer proxy.Close()
	logf("docker-registry on %s, capped proxy (%.0f MB/s) on %s", up.Addr, o.rate/1e6, proxy.Addr)

	rep := &report{opts: o, env: machine(o.bin), started: time.Now(), registryPID: up.PID()}
	seed := uint64(time.Now().UnixNano()) & 0xffffff
	big, err := benchimage.Push(ctx, up.Addr+"/bench/big:v1", seed, benchimage.SplitSize(o.size, o.layers)...)
	if err != nil {
		return err
	}
	rep.imageBytes = big.Bytes
	rep.imageLayers = o.layers
	logf("big image %s: %d bytes in %d layers + config", big.Digest, big.Bytes, o.layers)

	if err := baseline(ctx, o, work, proxy, ps, big, rep); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	f, err := startFleet(ctx, o, work, proxy.URL(), ps)
	if err != nil {
		return err
	}
	if err := fleetPull(ctx, o, f, proxy, big, rep); err != nil {
		return fmt.Errorf("fleet pull: %w", err)
	}
	if !o.skipDirect {
		if err := directPull(ctx, o, proxy, big, rep); err != nil {
			return fmt.Errorf("direct pulls: %w", err)
		}
	}
	if !o.skipPeer {
		if err := peerThroughput(ctx, o, f, proxy, seed, rep); err != nil {
			return fmt.Errorf("peer throughput: %w", err)
		}
	}
	if !o.skipSmall {
		if err := smallLatency(ctx, o, f, up, proxy, seed, rep); err != nil {
			return fmt.Errorf("small-image latency: %w", err)
		}
	}
	rep.finished = time.Now()
	text := rep.markdown()
	fmt.Print(text)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// commandLine is how this run was started, for the report.
func commandLine() string {
	return "go run ./bench/cmd/fleetbench " + strings.Join(os.Args[1:], " ")
}
