// Command rolloutbench measures a cold rollout across N shoal node
// containers, each with its network capped both ways with tc (issue 9):
//
//   - alone: one node preloads the image from upstream;
//   - no sharing: N nodes started with no bootstrap peer (so each has none) preload at the
//     same moment, each straight from upstream;
//   - fleet: N fresh nodes joined into one fleet preload at the same moment.
//
// Every node "pulls" by POST /shoal/v1/preload from the host, which fetches
// the image through the node's own registry path as a client would (a
// FROM scratch image has no client to run inside it). The upstream is
// Debian's docker-registry on the host behind a byte-counting proxy with
// no aggregate cap, listening on the bench network's gateway. Egress is
// capped with tbf on the container's eth0 (nsenter), ingress with tbf on
// the host end of its veth (harness.Container.CapNetwork, which the
// docker fleet tests use too). Everything created (image, network,
// containers) is removed at the end, also on failure or Ctrl-C, unless
// -keep. The markdown report goes to stdout (and -out), progress to stderr.
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

	"github.com/shoal-dev/shoal/bench/internal/benchimage"
	"github.com/shoal-dev/shoal/bench/internal/benchrun"
	"github.com/shoal-dev/shoal/bench/internal/meter"
	"github.com/shoal-dev/shoal/integration/harness"
)

const mib = 1 << 20

type options struct {
	nodes   int
	rate    string
	size    int64
	layers  int
	timeout time.Duration
	keep    bool
	nodeLog string
	procs   int
	out     string
	phases  map[string]bool
}

func main() {
	var o options
	var sizeMiB int64
	flag.IntVar(&o.nodes, "nodes", 10, "node containers in the no-sharing and fleet phases")
	flag.StringVar(&o.rate, "rate", "40mbit", "per-node network cap, each way (tc rate syntax)")
	flag.Int64Var(&sizeMiB, "size", 64, "image size in MiB")
	flag.IntVar(&o.layers, "layers", 4, "layers in the image")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "bound on the whole run")
	flag.BoolVar(&o.keep, "keep", false, "keep the image, network and containers")
	flag.StringVar(&o.nodeLog, "node-log-level", "warn", "the nodes' --log-level; a fleet node slower than 1.5x the median has its log printed")
	flag.IntVar(&o.procs, "gomaxprocs", 0, "GOMAXPROCS of every node (0: Go's default, the machine's cores): many nodes on few cores spend less on their runtimes' scheduling with 1, as a node on its own machine would not pay it")
	flag.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	phases := flag.String("phases", "alone,direct,fleet", "the phases to run, comma-separated (a fleet phase alone, with -keep and -node-log-level debug, is how a slow rollout is looked into)")
	flag.Parse()
	o.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "alone", "direct", "fleet":
			o.phases[p] = true
		default:
			fmt.Fprintf(os.Stderr, "rolloutbench: unknown phase %q in -phases (alone, direct, fleet)\n", p)
			os.Exit(2)
		}
	}
	o.size = sizeMiB * mib
	if o.nodes < 1 || o.layers < 1 || o.size < int64(o.layers) {
		fmt.Fprintln(os.Stderr, "rolloutbench: need -nodes ≥ 1, -layers ≥ 1, -size ≥ 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "rolloutbench:", err)
		os.Exit(1)
	}
}

func preflight(ctx context.Context) error {
	for _, tool := range []string{"tc", "nsenter", "docker-registry"} {
		if _, err := exec.LookPath(tool); err != nil {
			hint := ""
			if tool == "tc" {
				hint = " (install Debian's iproute2)"
			}
			return fmt.Errorf("%s not found%s: %w", tool, hint, err)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("tc and nsenter on container namespaces need root")
	}
	return harness.DockerAvailable(ctx)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func run(ctx context.Context, o options) (err error) {
	if err := preflight(ctx); err != nil {
		return err
	}
	var cl benchrun.Cleanups
	defer func() {
		if o.keep {
			benchrun.Logf("-keep: leaving everything in place")
			return
		}
		cl.Run(2 * time.Minute)
	}()
	id := randomHex(4)
	prefix := "rolloutbench-" + id
	work, err := os.MkdirTemp("", prefix+"-")
	if err != nil {
		return err
	}
	cl.Add(func(context.Context) error { return os.RemoveAll(work) })
	// With -keep the limits stay raised: the kept containers need them.
	restore, err := harness.RoomForNeighbours(o.nodes)
	if err != nil {
		return err
	}
	cl.Add(func(context.Context) error { return restore() })

	benchrun.Logf("building the static shoal binary and the FROM scratch node image")
	bin, err := harness.BuildStaticShoal(ctx, work)
	if err != nil {
		return err
	}
	image := prefix + ":node"
	cl.Add(func(ctx context.Context) error { return harness.RemoveImage(ctx, image) })
	if err := harness.BuildNodeImage(ctx, bin, image); err != nil {
		return err
	}

	labels := map[string]string{"dev.shoal.rolloutbench": id}
	nw, err := harness.CreateNetwork(ctx, prefix, labels, true)
	if nw != nil {
		cl.Add(nw.Remove)
	}
	if err != nil {
		return err
	}
	benchrun.Logf("network %s: subnet %s, gateway %s", nw.Name, nw.Subnet, nw.Gateway)

	up, err := harness.StartUpstream(ctx, work+"/upstream", 0)
	if err != nil {
		return err
	}
	cl.Add(func(context.Context) error { _ = up.Stop(5 * time.Second); return nil })
	proxy, err := meter.Start(up.URL(), nw.Gateway, 0)
	if err != nil {
		return fmt.Errorf("proxy on the gateway %s: %w", nw.Gateway, err)
	}
	cl.Add(func(context.Context) error { proxy.Close(); return nil })

	sizes := benchimage.SplitSize(o.size, o.layers)
	ref := up.Addr + "/bench/rollout:1"
	benchrun.Logf("pushing a %d MiB image in %d layers to %s", o.size/mib, o.layers, ref)
	img, err := benchimage.Push(ctx, ref, uint64(time.Now().UnixNano()), sizes...)
	if err != nil {
		return err
	}

	b := &bench{o: o, prefix: prefix, image: image, net: nw, proxy: proxy, img: img, labels: labels, cl: &cl}
	rep := &report{o: o, env: benchrun.Machine(bin), cmd: commandLine(), img: img, gateway: nw.Gateway}
	defer func() {
		md := rep.markdown(err)
		fmt.Print(md)
		if o.out != "" {
			if werr := os.WriteFile(o.out, []byte(md), 0o644); werr != nil {
				benchrun.Logf("writing %s: %v", o.out, werr)
			}
		}
	}()
	if o.phases["alone"] {
		if rep.alone, err = b.phase(ctx, "alone", 1, false); err != nil {
			return fmt.Errorf("phase alone: %w", err)
		}
	}
	if o.phases["direct"] {
		if rep.direct, err = b.phase(ctx, "direct", o.nodes, false); err != nil {
			return fmt.Errorf("phase no sharing: %w", err)
		}
	}
	if o.phases["fleet"] {
		if rep.fleet, err = b.phase(ctx, "fleet", o.nodes, true); err != nil {
			return fmt.Errorf("phase fleet: %w", err)
		}
	}
	return nil
}

func commandLine() string {
	args := append([]string{"go run ./bench/cmd/rolloutbench"}, os.Args[1:]...)
	return strings.Join(args, " ")
}
