package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/bench/internal/benchrun"
	"github.com/shoal-dev/shoal/integration/harness"
)

func run(ctx context.Context, o options) (err error) {
	if err := preflight(ctx); err != nil {
		return err
	}
	if err := harness.DockerAvailable(ctx); err != nil {
		return err
	}
	var cl benchrun.Cleanups
	// A closure: cl.run's receiver would be evaluated (empty) right here.
	defer func() { cl.Run(3 * time.Minute) }()
	work, err := os.MkdirTemp("", "chaosbench-")
	if err != nil {
		return err
	}
	cl.Add(func(context.Context) error { return os.RemoveAll(work) })
	c, bin, err := setup(ctx, o, work, &cl)
	if err != nil {
		return err
	}
	rep := &report{o: o, cmd: commandLine(), env: benchrun.Machine(bin), loadBefore: loadAvg()}
	defer func() {
		md := rep.markdown(err)
		fmt.Print(md)
		if o.out != "" {
			if werr := os.WriteFile(o.out, []byte(md), 0o644); werr != nil {
				benchrun.Logf("writing %s: %v", o.out, werr)
			}
		}
	}()

	ups, err := pushUpstreamImages(ctx, o, c.f.UpstreamAddr)
	if err != nil {
		return err
	}
	rep.upstream = ups
	t := newTally()
	rep.t = t
	in := newInjector(o, c)
	rep.in = in
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8, ResponseHeaderTimeout: 30 * time.Second}}
	cls := &clients{o: o, c: c, upstream: ups, t: t, hc: hc}

	benchrun.Logf("chaos for %v: %d pullers, %d pushers, a fault step every ~%v, seed %d", o.duration, o.pullers, o.pushers, o.faultEvery, o.seed)
	chaosCtx, stopChaos := context.WithTimeout(ctx, o.duration)
	defer stopChaos()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); in.run(chaosCtx) }()
	for i := range o.pullers {
		wg.Add(1)
		go func() { defer wg.Done(); cls.puller(chaosCtx, i) }()
	}
	for i := range o.pushers {
		wg.Add(1)
		go func() { defer wg.Done(); cls.pusher(chaosCtx, i) }()
	}
	wg.Wait()
	rep.chaos = time.Since(start)
	rep.loadAfter = loadAvg()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	benchrun.Logf("chaos over, every fault healed; waiting for the fleet, then the final checks")
	rep.final = finalChecks(ctx, c, ups, t.pushed, hc)
	return nil
}

// pushUpstreamImages pushes o.images random images of 1–3 layers (256 KiB
// to 2 MiB each) to the upstream; the nodes serve them as up/chaos/m<i>.
func pushUpstreamImages(ctx context.Context, o options, addr string) ([]image, error) {
	rng := rand.New(rand.NewPCG(o.seed, 0x0b1))
	var out []image
	for i := range o.images {
		var sizes []int64
		for range 1 + rng.IntN(3) {
			sizes = append(sizes, int64(256+rng.IntN(1792))*kib)
		}
		img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, o.seed*1000+uint64(i), sizes...)
		if err != nil {
			return nil, err
		}
		repo := fmt.Sprintf("chaos/m%d", i)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = harness.PushImage(pctx, addr+"/"+repo+":1", img)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("pushing %s to the upstream: %w", repo, err)
		}
		im, err := describe(img, harness.UpstreamRule+"/"+repo, "1")
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	benchrun.Logf("pushed %d images to the upstream", len(out))
	return out, nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return string(b[:min(len(b), 14)])
}
