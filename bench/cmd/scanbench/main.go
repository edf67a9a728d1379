// Command scanbench measures a shoal node's on-demand vulnerability scan of
// a large image against the least work any scanner must do, in one run:
//
//   - it builds an image of about --size bytes (uncompressed) in --layers
//     gzip'd layers: a Debian 12 base whose dpkg database lists --packages
//     installed packages, a layer of Go binaries built with a vulnerable
//     golang.org/x/text, and layers of random and text-like files;
//   - for each iteration it starts a fresh node on loopback, pushes the
//     image into a local repository, imports --vulndata with `shoal scan db
//     import`, and times `POST /shoal/v1/scans?ref=…`, reading the node's
//     CPU time (/proc/<pid>/stat), its peak RSS during the scan (VmHWM after
//     clear_refs, and VmRSS sampled every 50 ms), and the report's package
//     and finding counts;
//   - as the real peer it times Debian's `gzip -dc | tar -t` over the same
//     layer blobs, in order.
//
// It prints a markdown report on stdout and progress on stderr. See
// bench/README.md.
package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

const mib = 1 << 20

type options struct {
	nodeBin    string
	size       int64
	packages   int
	layers     int
	goBinaries int
	vulndata   string
	iterations int
	keep       bool
}

func main() {
	var o options
	flag.StringVar(&o.nodeBin, "node-bin", "", "shoal binary (default: build ./cmd/shoal of this module)")
	flag.Int64Var(&o.size, "size", 500_000_000, "uncompressed bytes of the image, about")
	flag.IntVar(&o.packages, "packages", 2000, "installed dpkg packages in the base layer")
	flag.IntVar(&o.layers, "layers", 8, "layers: the Debian base, the Go binaries, and layers-2 data layers")
	flag.IntVar(&o.goBinaries, "go-binaries", 8, "copies of the Go binary (at most 10)")
	flag.StringVar(&o.vulndata, "vulndata", "", "what `shoal scan db import` reads (default: ../shared/vulndata beside the module)")
	flag.IntVar(&o.iterations, "iterations", 3, "scans, each on a fresh node; the report gives the median")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (layers, node logs)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scanbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scanbench: "+format+"\n", args...)
}

// iteration is what one scan on a fresh node measured.
type iteration struct {
	push, imp     time.Duration
	wall          time.Duration // POST /shoal/v1/scans, request to last byte
	inNode        time.Duration // the report's finished - started
	cpu           time.Duration // the node's user + system time during the POST
	hwmBefore     int64         // VmHWM after push and import, before the reset
	rssBefore     int64         // VmRSS just before the scan
	hwmScan       int64         // VmHWM after the scan (reset just before it)
	rssSampled    int64         // largest VmRSS sampled every 50 ms
	samples       int
	rssAfter      int64
	packages      int
	findings      []map[string]any
	os            string
	base          baselineResult
	importSummary string
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	if o.vulndata == "" {
		root, err := harness.ModuleRoot()
		if err != nil {
			return err
		}
		o.vulndata = filepath.Join(root, "..", "shared", "vulndata")
	}
	if _, err := os.Stat(o.vulndata); err != nil {
		return fmt.Errorf("vulndata: %w", err)
	}
	work, err := os.MkdirTemp("", "scanbench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("work directory %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	if o.nodeBin == "" {
		logf("building ./cmd/shoal")
		if o.nodeBin, err = harness.BuildShoal(ctx, work); err != nil {
			return err
		}
	}
	logf("building the Go program (golang.org/x/text v0.3.5)")
	app, err := buildGoApp(ctx, filepath.Join(work, "goapp"))
	if err != nil {
		return err
	}
	goVersion := "?"
	if bi, err := buildinfo.ReadFile(app); err == nil {
		goVersion = bi.GoVersion
	}
	logf("generating a %d MB image: %d layers, %d packages, %d Go binaries", o.size/1e6, o.layers, o.packages, o.goBinaries)
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(work, "layers"), 0o755); err != nil {
		return err
	}
	img, err := buildImage(ctx, filepath.Join(work, "layers"), o, app)
	if err != nil {
		return err
	}
	img.goVersion = goVersion
	logf("image: %d files, %.1f MB tar, %.1f MB gzip'd, generated in %s", img.files, float64(img.uncompressed)/1e6, float64(img.compressed)/1e6, time.Since(start).Round(time.Second))

	rep := &report{opts: o, img: img, env: machine(), loadStart: loadavg()}
	for i := 0; i < o.iterations; i++ {
		it, err := scanOnce(ctx, o, work, i, img)
		if err != nil {
			return fmt.Errorf("iteration %d: %w", i+1, err)
		}
		logf("baseline %d: gzip -dc | tar -t over %d layers", i+1, len(img.blobs))
		if it.base, err = gzipTarList(ctx, img.blobs); err != nil {
			return err
		}
		logf("iteration %d: scan %.2f s (in node %.2f s), node CPU %.2f s, peak RSS %.0f MiB (sampled %.0f MiB); gzip|tar %.2f s, CPU %.2f s; %d packages, %d findings",
			i+1, it.wall.Seconds(), it.inNode.Seconds(), it.cpu.Seconds(), mb(it.hwmScan), mb(it.rssSampled), it.base.wall.Seconds(), it.base.cpu.Seconds(), it.packages, len(it.findings))
		rep.its = append(rep.its, it)
	}
	rep.loadEnd = loadavg()
	rep.print(os.Stdout)
	return nil
}

// scanOnce starts a fresh node, pushes the image, imports the database and
// measures one on-demand scan. The node is stopped before it returns.
func scanOnce(ctx context.Context, o options, work string, i int, img *builtImage) (*iteration, error) {
	dataDir := filepath.Join(work, fmt.Sprintf("node-%d", i))
	node, err := harness.StartNode(ctx, harness.NodeConfig{
		Bin: o.nodeBin, DataDir: dataDir, LogDir: work,
		// Only the scan we ask for runs: no background scan on push.
		Args: []string{"--scan-on-pull=false"},
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := node.Stop(10 * time.Second); err != nil {
			logf("node stop: %v", err)
		}
		if !o.keep {
			os.RemoveAll(dataDir)
		}
	}()
	it := &iteration{}
	ref := node.Addr + "/bench/scan:v1"
	logf("iteration %d: pushing to %s", i+1, ref)
	t0 := time.Now()
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Minute)
	err = harness.PushImage(pctx, ref, img.img)
	pcancel()
	if err != nil {
		return nil, fmt.Errorf("push: %w\nnode log:\n%s", err, node.LogTail(4096))
	}
	it.push = time.Since(t0)

	logf("iteration %d: shoal scan db import --node %s %s", i+1, node.URL(), o.vulndata)
	t0 = time.Now()
	ictx, icancel := context.WithTimeout(ctx, 5*time.Minute)
	out, err := exec.CommandContext(ictx, o.nodeBin, "scan", "db", "import", "--node", node.URL(), o.vulndata).CombinedOutput()
	icancel()
	if err != nil {
		return nil, fmt.Errorf("shoal scan db import: %v: %s\nnode log:\n%s", err, out, node.LogTail(4096))
	}
	it.imp = time.Since(t0)
	it.importSummary = strings.TrimSpace(string(out))

	pid := node.PID()
	before, err := harness.ReadProcMem(pid)
	if err != nil {
		return nil, err
	}
	it.hwmBefore, it.rssBefore = before.HWM, before.RSS
	if err := resetPeakRSS(pid); err != nil {
		return nil, fmt.Errorf("reset VmHWM: %w", err)
	}
	cpu0, err := harness.ProcCPU(pid)
	if err != nil {
		return nil, err
	}
	sampler := sampleRSS(pid, 50*time.Millisecond)
	logf("iteration %d: POST /shoal/v1/scans?ref=bench/scan:v1", i+1)
	t0 = time.Now()
	res, err := postScan(ctx, node.URL(), "bench/scan:v1")
	it.wall = time.Since(t0)
	cpu1, cerr := harness.ProcCPU(pid)
	it.rssSampled, it.samples = sampler.Stop()
	after, merr := harness.ReadProcMem(pid)
	if node.Exited() {
		return nil, fmt.Errorf("the node exited during the scan (scan error: %v)\nnode log:\n%s", err, node.LogTail(8192))
	}
	if err != nil {
		return nil, fmt.Errorf("%w\nnode log:\n%s", err, node.LogTail(4096))
	}
	if cerr != nil || merr != nil {
		return nil, fmt.Errorf("reading /proc: %v %v", cerr, merr)
	}
	it.cpu = cpu1 - cpu0
	it.hwmScan, it.rssAfter = after.HWM, after.RSS
	if len(res.Reports) != 1 {
		return nil, fmt.Errorf("scan answered %d reports, want 1", len(res.Reports))
	}
	r := res.Reports[0]
	it.packages, it.findings = r.Packages, r.Findings
	it.inNode = r.Finished.Sub(r.Started)
	it.os = fmt.Sprintf("%s %s", field(r.OS, "id"), field(r.OS, "versionid"))
	return it, nil
}

// scanAnswer is the part of POST /shoal/v1/scans this reads.
type scanAnswer struct {
	Digest  string `json:"digest"`
	Reports []struct {
		Started  time.Time        `json:"started"`
		Finished time.Time        `json:"finished"`
		Packages int              `json:"packages"`
		OS       map[string]any   `json:"os"`
		Findings []map[string]any `json:"findings"`
	} `json:"reports"`
}

func postScan(ctx context.Context, base, ref string) (*scanAnswer, error) {
	// The node bounds an on-demand scan at 5 minutes; allow a little more.
	ctx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/shoal/v1/scans?ref="+url.QueryEscape(ref)+"&force=1", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST scan: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("POST scan: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST scan: %s: %s", resp.Status, body)
	}
	var a scanAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("POST scan: %w", err)
	}
	return &a, nil
}

type report struct {
	opts options
	img  *builtImage
	env  string
	its  []*iteration
	// loadStart and loadEnd are /proc/loadavg before the first iteration
	// and after the last: other work on the host skews both columns.
	loadStart, loadEnd string
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
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

func (r *report) col(f func(*iteration) float64) []float64 {
	var xs []float64
	for _, it := range r.its {
		xs = append(xs, f(it))
	}
	return xs
}

func list(xs []float64, format string) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf(format, x))
	}
	return strings.Join(s, ", ")
}

// field reads a finding's field whatever the case of its JSON name.
func field(f map[string]any, name string) string {
	for k, v := range f {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func (r *report) print(w io.Writer) {
	o, img := r.opts, r.img
	fmt.Fprintf(w, "## scanbench %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "%s Load average before the first iteration %s, after the last %s.\n\n", r.env, r.loadStart, r.loadEnd)
	fmt.Fprintf(w, "Image: %d layers, %d files, %.1f MB uncompressed (tar), %.1f MB gzip'd (default level): a Debian 12 base with %d installed dpkg packages (+5 removed, config-files only), %d copies of a Go binary (%s, golang.org/x/text v0.3.5), the rest random and text-like files. Database: `shoal scan db import %s`. One on-demand scan (`POST /shoal/v1/scans?ref=bench/scan:v1&force=1`) per fresh node, node started with `--scan-on-pull=false`; %d iterations; all on loopback.\n\n",
		len(img.blobs), img.files, float64(img.uncompressed)/1e6, float64(img.compressed)/1e6, img.installed, len(img.goBinaries), img.goVersion, o.vulndata, len(r.its))
	wall := r.col(func(it *iteration) float64 { return it.wall.Seconds() })
	inNode := r.col(func(it *iteration) float64 { return it.inNode.Seconds() })
	cpu := r.col(func(it *iteration) float64 { return it.cpu.Seconds() })
	bwall := r.col(func(it *iteration) float64 { return it.base.wall.Seconds() })
	bcpu := r.col(func(it *iteration) float64 { return it.base.cpu.Seconds() })
	ratio := r.col(func(it *iteration) float64 { return it.wall.Seconds() / it.base.wall.Seconds() })
	cratio := r.col(func(it *iteration) float64 { return it.cpu.Seconds() / it.base.cpu.Seconds() })
	hwm := r.col(func(it *iteration) float64 { return mb(it.hwmScan) })
	sampled := r.col(func(it *iteration) float64 { return mb(it.rssSampled) })
	before := r.col(func(it *iteration) float64 { return mb(it.rssBefore) })
	hwmBefore := r.col(func(it *iteration) float64 { return mb(it.hwmBefore) })
	fmt.Fprintln(w, "| measure (median) | shoal scan | gzip -dc \\| tar -t | scan / gzip\\|tar |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	fmt.Fprintf(w, "| wall time (s) | %.2f | %.2f | %.2f |\n", median(wall), median(bwall), median(ratio))
	fmt.Fprintf(w, "| CPU time, user+system (s) | %.2f | %.2f | %.2f |\n", median(cpu), median(bcpu), median(cratio))
	fmt.Fprintf(w, "| throughput over the uncompressed image (MB/s) | %.0f | %.0f | |\n", float64(img.uncompressed)/1e6/median(wall), float64(img.uncompressed)/1e6/median(bwall))
	fmt.Fprintf(w, "| node peak RSS during the scan, VmHWM after reset (MiB) | %.1f | | |\n", median(hwm))
	fmt.Fprintf(w, "| node peak VmRSS sampled every 50 ms (MiB) | %.1f | | |\n", median(sampled))
	fmt.Fprintf(w, "| node VmRSS just before the scan (MiB) | %.1f | | |\n", median(before))
	fmt.Fprintln(w)
	last := r.its[len(r.its)-1]
	fmt.Fprintf(w, "Report (last iteration): %d packages, %d findings, OS %s; gzip|tar listed %d tar entries.\n", last.packages, len(last.findings), last.os, last.base.entries)
	byEco := map[string]int{}
	ids := map[string]bool{}
	for _, f := range last.findings {
		byEco[field(f, "ecosystem")+" "+field(f, "package")]++
		ids[field(f, "id")] = true
	}
	var keys []string
	for k := range byEco {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, byEco[k]))
	}
	var idl []string
	for id := range ids {
		idl = append(idl, id)
	}
	sort.Strings(idl)
	fmt.Fprintf(w, "Findings by ecosystem and package: %s. Distinct IDs (%d): %s.\n\n", strings.Join(parts, "; "), len(idl), strings.Join(idl, ", "))
	fmt.Fprintf(w, "Raw: scan wall s [%s]; in-node (report finished-started) s [%s]; node CPU s [%s]; gzip|tar wall s [%s]; gzip|tar CPU s [%s]; VmHWM during scan MiB [%s]; sampled VmRSS peak MiB [%s] (%d samples in the last); VmHWM after push+import MiB [%s]; push s [%s]; import s [%s].\n",
		list(wall, "%.2f"), list(inNode, "%.2f"), list(cpu, "%.2f"), list(bwall, "%.2f"), list(bcpu, "%.2f"), list(hwm, "%.1f"), list(sampled, "%.1f"), last.samples, list(hwmBefore, "%.1f"),
		list(r.col(func(it *iteration) float64 { return it.push.Seconds() }), "%.2f"), list(r.col(func(it *iteration) float64 { return it.imp.Seconds() }), "%.2f"))
	fmt.Fprintf(w, "\nImport: %s\n", strings.ReplaceAll(last.importSummary, "\n", "; "))
	fmt.Fprintln(w, "\nThe baseline is Debian's gzip and tar decompressing and listing the same layer blobs, one after the other: the least work any scanner must do. Both run with the blobs in the page cache.")
}

func mb(b int64) float64 { return float64(b) / mib }

// machine describes the host, and the gzip and tar the baseline runs.
func machine() string {
	gz, _ := exec.Command("gzip", "--version").Output()
	tr, _ := exec.Command("tar", "--version").Output()
	first := func(b []byte) string { l, _, _ := strings.Cut(string(b), "\n"); return l }
	return fmt.Sprintf("%s; %s, %s.", harness.Machine(), first(gz), first(tr))
}
