// Command registrybench measures a shoal node against Debian's
// docker-registry (distribution 2.8) in one run, on loopback:
//
//   - warm blob GET throughput: one large blob served from the node's store
//     vs from docker-registry's filesystem storage;
//   - cold image pull: an image pulled through a node with an empty store
//     (which fetches it from the docker-registry upstream) vs pulled from the
//     upstream directly;
//   - the node's memory: VmHWM and VmRSS from /proc after each phase, with
//     docker-registry's beside it.
//
// It prints a markdown report on stdout and progress on stderr. See
// bench/README.md.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/integration/harness"
)

const mib = 1 << 20

type options struct {
	shoal      string
	size       int64
	layers     int
	warmIters  int
	coldIters  int
	concurrent int
	keep       bool
	// rate, when positive, caps each upstream response at that many
	// bytes per second (a proxy in front of docker-registry), for both
	// the direct pulls and the node's, as a remote registry would.
	rate int64
}

func main() {
	var o options
	flag.StringVar(&o.shoal, "shoal", "", "shoal binary (default: build ./cmd/shoal of this module)")
	flag.Int64Var(&o.size, "size", 256*mib, "bytes of the warm blob, and of the cold image in total")
	flag.IntVar(&o.layers, "layers", 4, "layers in the cold image")
	flag.IntVar(&o.warmIters, "warm-iterations", 9, "warm GETs from each server")
	flag.IntVar(&o.coldIters, "cold-iterations", 5, "cold pulls through a fresh node, and direct pulls")
	flag.IntVar(&o.concurrent, "concurrency", 3, "blob downloads in parallel during a pull (containerd's default is 3)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Int64Var(&o.rate, "upstream-rate", 0, "cap each upstream response at this many bytes/s for the cold pulls (0: raw loopback)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "registrybench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "registrybench: "+format+"\n", args...)
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", "registrybench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	if o.shoal == "" {
		logf("building ./cmd/shoal")
		if o.shoal, err = harness.BuildShoal(ctx, work); err != nil {
			return err
		}
	}

	up, err := harness.StartUpstream(ctx, filepath.Join(work, "upstream"), 0)
	if err != nil {
		return err
	}
	defer up.Stop(10 * time.Second)

	logf("pushing a %d MiB blob and a %d MiB image of %d layers to docker-registry on %s", o.size/mib, o.size/mib, o.layers, up.Addr)
	warmImg, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 1, o.size)
	if err != nil {
		return err
	}
	if err := harness.PushImage(ctx, up.Addr+"/bench/warm:v1", warmImg); err != nil {
		return err
	}
	sizes := make([]int64, o.layers)
	for i := range sizes {
		sizes[i] = o.size / int64(o.layers)
	}
	coldImg, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 2, sizes...)
	if err != nil {
		return err
	}
	if err := harness.PushImage(ctx, up.Addr+"/bench/cold:v1", coldImg); err != nil {
		return err
	}
	warmBlobs, err := harness.ImageBlobs(warmImg)
	if err != nil {
		return err
	}
	blob := warmBlobs[1]
	warmBlobs, warmImg = nil, nil // let the big buffers go
	runtime.GC()

	rep := &report{opts: o}
	rep.env = harness.Machine() + "."

	// Warm: one node, the blob cached by a first GET.
	node, err := harness.StartNode(ctx, harness.NodeConfig{
		Bin: o.shoal, DataDir: filepath.Join(work, "warm-node"), LogDir: work,
		Upstreams: []string{"up=" + up.URL()},
	})
	if err != nil {
		return err
	}
	nodeBlob := fmt.Sprintf("%s/v2/up/bench/warm/blobs/%s", node.URL(), blob.Digest)
	upBlob := fmt.Sprintf("%s/v2/bench/warm/blobs/%s", up.URL(), blob.Digest)
	logf("warming the node's cache with %s", blob.Digest)
	if _, err := getBlob(ctx, nodeBlob, blob.Digest.String(), true); err != nil {
		node.Stop(10 * time.Second)
		return fmt.Errorf("first GET through the node: %w", err)
	}
	// And check both serve the right bytes before timing them.
	if _, err := getBlob(ctx, nodeBlob, blob.Digest.String(), true); err != nil {
		node.Stop(10 * time.Second)
		return fmt.Errorf("warm GET from the node: %w", err)
	}
	if _, err := getBlob(ctx, upBlob, blob.Digest.String(), true); err != nil {
		node.Stop(10 * time.Second)
		return fmt.Errorf("GET from docker-registry: %w", err)
	}
	for i := 0; i < o.warmIters; i++ {
		d, err := getBlob(ctx, nodeBlob, "", false)
		if err != nil {
			node.Stop(10 * time.Second)
			return err
		}
		rep.warmNode = append(rep.warmNode, float64(blob.Size)/1e6/d.Seconds())
		d, err = getBlob(ctx, upBlob, "", false)
		if err != nil {
			node.Stop(10 * time.Second)
			return err
		}
		rep.warmUp = append(rep.warmUp, float64(blob.Size)/1e6/d.Seconds())
		logf("warm %d: node %.0f MB/s, docker-registry %.0f MB/s", i+1, rep.warmNode[i], rep.warmUp[i])
	}
	rep.memWarm, _ = harness.ReadProcMem(node.PID())
	rep.memUpWarm, _ = harness.ReadProcMem(up.PID())
	if err := node.Stop(10 * time.Second); err != nil {
		logf("node stop: %v", err)
	}

	// Cold: a fresh node (empty store) per iteration, and direct pulls,
	// both through the rate-capping proxy when there is one.
	coldUpstream := up.URL()
	if o.rate > 0 {
		proxy, err := harness.StartProxy(up.URL())
		if err != nil {
			return err
		}
		defer proxy.Close()
		proxy.SetRate(o.rate)
		coldUpstream = proxy.URL()
	}
	coldDigest, _ := coldImg.Digest()
	for i := 0; i < o.coldIters; i++ {
		n, err := harness.StartNode(ctx, harness.NodeConfig{
			Bin: o.shoal, DataDir: filepath.Join(work, fmt.Sprintf("cold-node-%d", i)), LogDir: work,
			Upstreams: []string{"up=" + coldUpstream},
		})
		if err != nil {
			return err
		}
		d, err := pull(ctx, n.URL(), "up/bench/cold", "v1", coldDigest.String(), o.concurrent)
		mem, _ := harness.ReadProcMem(n.PID())
		n.Stop(10 * time.Second)
		if err != nil {
			return fmt.Errorf("cold pull through the node: %w", err)
		}
		rep.coldNode = append(rep.coldNode, d.Seconds())
		if mem.HWM > rep.memCold.HWM {
			rep.memCold.HWM = mem.HWM
		}
		rep.memCold.RSS = max(rep.memCold.RSS, mem.RSS)
		os.RemoveAll(filepath.Join(work, fmt.Sprintf("cold-node-%d", i)))

		d, err = pull(ctx, coldUpstream, "bench/cold", "v1", coldDigest.String(), o.concurrent)
		if err != nil {
			return fmt.Errorf("pull from docker-registry: %w", err)
		}
		rep.coldUp = append(rep.coldUp, d.Seconds())
		logf("cold %d: through node %.2f s, direct %.2f s", i+1, rep.coldNode[i], rep.coldUp[i])
	}
	rep.memUpCold, _ = harness.ReadProcMem(up.PID())
	rep.print(os.Stdout)
	return nil
}

// getBlob GETs url and times the whole body. With verify, it hashes the body
// and checks it against digest.
func getBlob(ctx context.Context, url, digest string, verify bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	var h hash.Hash
	w := io.Discard
	if verify {
		h = sha256.New()
		w = h
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	d := time.Since(start)
	if verify {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
			return 0, fmt.Errorf("GET %s: body hashes to %s", url, got)
		}
	}
	return d, nil
}

// pull fetches repo:tag from base the way a client does: the manifest by
// tag, then its config and layers, concurrency at a time, each checked
// against its digest. It returns the wall time of the whole pull.
func pull(ctx context.Context, base, repo, tag, want string, concurrency int) (time.Duration, error) {
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, tag), nil)
	req.Header.Set("Accept", harness.ManifestAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("manifest %s:%s: %s: %s", repo, tag, resp.Status, raw)
	}
	if got := harness.SHA256(raw); got != want {
		return 0, fmt.Errorf("manifest %s:%s hashes to %s, want %s", repo, tag, got, want)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, err
	}
	descs := append([]v1.Descriptor{m.Config}, m.Layers...)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, d := range descs {
		wg.Add(1)
		sem <- struct{}{}
		go func(d v1.Descriptor) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := getBlob(ctx, fmt.Sprintf("%s/v2/%s/blobs/%s", base, repo, d.Digest), d.Digest.String(), true); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(d)
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}

type report struct {
	opts                 options
	env                  string
	warmNode, warmUp     []float64 // MB/s
	coldNode, coldUp     []float64 // seconds
	memWarm, memCold     harness.ProcMem
	memUpWarm, memUpCold harness.ProcMem
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func list(xs []float64, format string) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf(format, x))
	}
	return strings.Join(s, ", ")
}

func (r *report) print(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "## registrybench %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "%s\n\n", r.env)
	fmt.Fprintf(w, "Blob %d MiB; cold image %d MiB in %d layers, %d downloads in parallel; all on loopback.\n", o.size/mib, o.size/mib, o.layers, o.concurrent)
	if o.rate > 0 {
		fmt.Fprintf(w, "Cold pulls: each upstream response capped at %.0f MB/s by a proxy, for the direct pulls and the node's alike.\n", float64(o.rate)/1e6)
	} else {
		fmt.Fprintln(w, "Cold pulls: raw loopback upstream (no cap).")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| measure | shoal node | docker-registry 2.8 | node / registry |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	wn, wu := median(r.warmNode), median(r.warmUp)
	fmt.Fprintf(w, "| warm blob GET, median of %d (MB/s) | %.0f | %.0f | %.2f |\n", len(r.warmNode), wn, wu, wn/wu)
	fmt.Fprintf(w, "| warm blob GET, best (MB/s) | %.0f | %.0f | %.2f |\n", slices.Max(r.warmNode), slices.Max(r.warmUp), slices.Max(r.warmNode)/slices.Max(r.warmUp))
	cn, cu := median(r.coldNode), median(r.coldUp)
	fmt.Fprintf(w, "| image pull, median of %d (s): node cold vs registry direct | %.2f | %.2f | %.2f |\n", len(r.coldNode), cn, cu, cn/cu)
	fmt.Fprintf(w, "| image pull throughput (MB/s) | %.0f | %.0f | %.2f |\n", float64(o.size)/1e6/cn, float64(o.size)/1e6/cu, cu/cn)
	fmt.Fprintf(w, "| peak RSS (VmHWM) after warm GETs (MiB) | %.1f | %.1f | %.2f |\n", mb(r.memWarm.HWM), mb(r.memUpWarm.HWM), float64(r.memWarm.HWM)/float64(r.memUpWarm.HWM))
	fmt.Fprintf(w, "| RSS (VmRSS) after warm GETs (MiB) | %.1f | %.1f | %.2f |\n", mb(r.memWarm.RSS), mb(r.memUpWarm.RSS), float64(r.memWarm.RSS)/float64(r.memUpWarm.RSS))
	fmt.Fprintf(w, "| peak RSS (VmHWM) after a cold pull, worst node (MiB) | %.1f | %.1f | %.2f |\n", mb(r.memCold.HWM), mb(r.memUpCold.HWM), float64(r.memCold.HWM)/float64(r.memUpCold.HWM))
	fmt.Fprintf(w, "| RSS (VmRSS) after a cold pull, worst node (MiB) | %.1f | %.1f | %.2f |\n", mb(r.memCold.RSS), mb(r.memUpCold.RSS), float64(r.memCold.RSS)/float64(r.memUpCold.RSS))
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Raw: warm node MB/s [%s]; warm registry MB/s [%s]; cold through node s [%s]; direct s [%s].\n",
		list(r.warmNode, "%.0f"), list(r.warmUp, "%.0f"), list(r.coldNode, "%.2f"), list(r.coldUp, "%.2f"))
	fmt.Fprintln(w, "\nThe registry's memory column is docker-registry's own VmHWM/VmRSS at the same moment (it served every direct GET and was the node's upstream).")
}

func mb(b int64) float64 { return float64(b) / mib }
