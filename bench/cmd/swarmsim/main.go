// Command swarmsim simulates a cold rollout of one image to a fleet of
// shoal nodes: each node's upload and download capped, a latency per
// message, an upstream with no aggregate cap, and in every node the
// real decision code of package swarm (Planner, Slots, Spread, Tracker)
// driven by a model of p2p's swarm fetch on a simulated clock. A node
// serves a piece on while it still arrives from a peer (cut-through),
// its last bytes once its own check of the piece has passed, unless its
// link is too slow for it (swarm.CutThrough);
// -no-cut-through passes a piece on only once it is held whole, so that
// one build compares the two. It measures what bench/cmd/rolloutbench
// measures with docker, at sizes docker on one machine cannot reach
// (docs/fleet.md, bench/RESULTS.md).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "swarmsim:", err)
		os.Exit(2)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("swarmsim", flag.ContinueOnError)
	var (
		cfg     config
		rate    string
		sizeMiB float64
		runs    int
		asJSON  bool
		limit   time.Duration
	)
	fs.IntVar(&cfg.nodes, "nodes", 10, "nodes in the fleet")
	fs.StringVar(&rate, "rate", "8mbit", "each node's link, both ways (kbit, mbit, gbit: bits per second, as tc)")
	fs.Float64Var(&sizeMiB, "size", 16, "image size in MiB")
	fs.IntVar(&cfg.layers, "layers", 2, "layers in the image")
	fs.DurationVar(&cfg.latency, "latency", time.Millisecond, "one-way latency of every message")
	fs.Float64Var(&cfg.leave, "leave", 0, "fraction of nodes that die at a random time within one pull's time")
	sendBuf := fs.Int64("sendbuf", defaultSendBuffer>>10, "KiB of a piece below the holder's write when it returns (stream window, socket buffer, link queue): its upload slot frees that much early")
	seed := fs.Uint64("seed", 1, "seed of the first run (run k uses seed+k)")
	fs.IntVar(&runs, "runs", 1, "runs, each with its own seed")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per run instead of text")
	fs.DurationVar(&limit, "limit", 2*time.Hour, "simulated time after which a run is cut short")
	verbose := fs.Bool("v", false, "print the planner's state of every swarm fetch that stalls (to stderr)")
	fs.DurationVar(&cfg.progressEvery, "progress", 0, "print the simulated time, the nodes done and the CPU time used to stderr every this much simulated time (0: never), for runs that take long")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the simulation to this file")
	fs.BoolVar(&cfg.freeHeaders, "free-headers", false, "requests and answer headers cost only the latency, not bytes on the links (how the simulation ran before it counted them)")
	fs.BoolVar(&cfg.membersByName, "members-by-name", false, "answers name every member by peer ID, as to a node of an earlier release, instead of by ref (swarm.Refs)")
	fs.BoolVar(&cfg.noCutThrough, "no-cut-through", false, "a node passes a piece on only once it holds it whole and checked (store and forward, as before cut-through relay), instead of serving it on while it arrives and naming it as held from its first byte")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at the end of each run's simulation (live objects, before the fleet is dropped)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	r, err := parseRate(rate)
	if err != nil {
		return err
	}
	cfg.rate = r
	cfg.sendBuffer = *sendBuf << 10
	cfg.heapProfile = *memProfile
	if *verbose {
		cfg.verbose = os.Stderr
	}
	cfg.size = int64(sizeMiB * (1 << 20))
	switch {
	case cfg.nodes < 1:
		return errors.New("-nodes must be at least 1")
	case cfg.layers < 1 || cfg.size < int64(cfg.layers):
		return errors.New("-layers must be at least 1 and -size at least one byte per layer")
	case cfg.latency < 0:
		return errors.New("-latency must not be negative")
	case cfg.leave < 0 || cfg.leave >= 1:
		return errors.New("-leave must be in [0, 1)")
	case *sendBuf < 0:
		return errors.New("-sendbuf must not be negative")
	case runs < 1:
		return errors.New("-runs must be at least 1")
	case cfg.progressEvery < 0:
		return errors.New("-progress must not be negative")
	}
	cfg.progress = os.Stderr
	for k := range runs {
		c := cfg
		c.seed = *seed + uint64(k)
		res := measure(c, limit)
		if asJSON {
			if err := json.NewEncoder(out).Encode(res); err != nil {
				return err
			}
			continue
		}
		res.print(out)
	}
	return nil
}

// writeHeapProfile writes the live heap to path, after a collection so
// that it shows what the fleet holds rather than garbage. A failure is
// reported and does not stop the run.
func writeHeapProfile(path string) {
	runtime.GC()
	pf, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(pf, 0)
		if cerr := pf.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "swarmsim: heap profile:", err)
	}
}

// parseRate reads a tc-style rate: a number of bits per second with an
// optional kbit, mbit or gbit suffix (decimal, as tc), into bytes per
// second.
func parseRate(s string) (float64, error) {
	mult := 1.0
	num := strings.ToLower(strings.TrimSpace(s))
	for _, u := range []struct {
		suffix string
		m      float64
	}{{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"bit", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.m
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("-rate %q: want a positive number of bits per second, like 8mbit", s)
	}
	return v * mult / 8, nil
}
