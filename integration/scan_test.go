package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/integration/harness"
)

// scanConverge bounds how long a report or database made on one node may
// take to reach the others. A node waits up to 20s for the report of a
// closer peer it believes holds the image before scanning itself, so the
// first report may take that long.
const scanConverge = 90 * time.Second

// alpineBusyboxImage is an Alpine 3.10 image whose apk database lists
// busybox at version, which secdb says CVE-2019-5747 affects below
// 1.30.1-r2.
func alpineBusyboxImage(t *testing.T, version string) v1.Image {
	t.Helper()
	files := []struct{ name, body string }{
		{"etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.10.9\nPRETTY_NAME=\"Alpine Linux v3.10\"\n"},
		{"lib/apk/db/installed", "C:Q1sCq0uM3w8hQ2Mxkz0CYb5Q9MTHM=\nP:busybox\nV:" + version + "\nA:x86_64\nS:500000\nI:900000\nT:Size optimized toolbox of many common UNIX utilities\nU:https://busybox.net/\nL:GPL-2.0-only\no:busybox\n\n"},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// getScan is the report the node at base holds on digest d.
func getScan(ctx context.Context, base, d string) (*adminapi.ReportView, error) {
	c, err := adminapi.New(base, nil)
	if err != nil {
		return nil, err
	}
	defer c.CloseIdleConnections()
	rep, err := c.Report(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("GET /shoal/v1/scans/%s: %w", d, err)
	}
	if rep.Report == nil {
		return nil, fmt.Errorf("GET /shoal/v1/scans/%s: no report in the answer", d)
	}
	return rep, nil
}

func scansTotal(t *testing.T, ctx context.Context, n *harness.Node) float64 {
	t.Helper()
	m, err := n.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for k, v := range m {
		if strings.HasPrefix(k, "shoal_scans_total") {
			sum += v
		}
	}
	return sum
}

// waitScan polls check until it succeeds or scanConverge has passed since
// start.
func waitScan(t *testing.T, ctx context.Context, start time.Time, what string, check func() error) {
	t.Helper()
	deadline := start.Add(scanConverge)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not within %v: %v", what, scanConverge, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFleetScan runs five nodes on loopback. A database imported on node
// 0 with `shoal scan db import` reaches the others; an image pulled
// through node 0 is scanned once, and every other node serves the signed
// report without scanning it.
func TestFleetScan(t *testing.T) {
	skipIfShort(t)
	ctx := testContext(t, 5*time.Minute)
	secdb, err := filepath.Abs(filepath.Join("..", "..", "shared", "vulndata", "alpine-secdb"))
	if err != nil {
		t.Fatal(err)
	}
	up := startUpstream(t, ctx)
	img := alpineBusyboxImage(t, "1.30.1-r1")
	if err := harness.PushImage(ctx, up.Addr+"/fleet/alpine:3.10", img); err != nil {
		t.Fatal(err)
	}
	md, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := harness.ImageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}

	var nodes []*harness.Node
	var bootstrap string
	for i := range 5 {
		var args []string
		if i > 0 {
			args = append(args, "--bootstrap", bootstrap)
		}
		n := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}, Args: args})
		if i == 0 {
			st := nodeStatus(t, ctx, n)
			if len(st.P2PAddrs) == 0 {
				t.Fatalf("node 0 reports no p2p_addrs: %+v", st)
			}
			bootstrap = st.P2PAddrs[0]
		}
		nodes = append(nodes, n)
	}
	for i, n := range nodes {
		waitNode(t, ctx, n, fmt.Sprintf("node %d sees all 4 peers", i), func(st adminapi.Status) bool { return st.Peers >= 4 })
	}

	out, err := exec.CommandContext(ctx, shoalBin, "scan", "db", "import", "--node", nodes[0].URL(), secdb).CombinedOutput()
	if err != nil {
		t.Fatalf("shoal scan db import: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "database sha256:") {
		t.Fatalf("shoal scan db import printed:\n%s", out)
	}
	t.Logf("shoal scan db import:\n%s", out)

	// The database reaches every node.
	start := time.Now()
	for i, n := range nodes[1:] {
		waitScan(t, ctx, start, fmt.Sprintf("node %d loads the database", i+1), func() error {
			c, err := adminapi.New(n.URL(), nil)
			if err != nil {
				return err
			}
			defer c.CloseIdleConnections()
			_, err = c.DB(ctx)
			return err
		})
	}

	// Pull the image through node 0; it scans it in the background.
	if r := getManifest(t, ctx, nodes[0].URL(), "up/fleet/alpine", "3.10"); r.Status != http.StatusOK {
		t.Fatalf("pull through node 0: %s", r)
	}
	for _, b := range blobs {
		mustGetBlob(t, ctx, nodes[0].URL(), "up/fleet/alpine", b)
	}
	start = time.Now()
	var first *adminapi.ReportView
	waitScan(t, ctx, start, "node 0 reports on the image", func() error {
		rep, err := getScan(ctx, nodes[0].URL(), md.String())
		first = rep
		return err
	})
	found := false
	for _, f := range first.Findings {
		found = found || (f.ID == "CVE-2019-5747" && f.Package == "busybox")
	}
	if !found || !first.Trusted {
		t.Fatalf("node 0's report lacks CVE-2019-5747 on busybox: %+v (trusted %v)", first.Report, first.Trusted)
	}

	t.Logf("node 0 reported after %v", time.Since(start).Round(time.Millisecond))

	// Every other node serves that same report, signed by node 0.
	start = time.Now()
	for i, n := range nodes[1:] {
		waitScan(t, ctx, start, fmt.Sprintf("node %d serves the report", i+1), func() error {
			rep, err := getScan(ctx, n.URL(), md.String())
			if err != nil {
				return err
			}
			if rep.Scanner != first.Scanner || rep.DB != first.DB || len(rep.Findings) != len(first.Findings) || !rep.Trusted {
				return fmt.Errorf("node %d serves another report: %+v (trusted %v), want %+v", i+1, rep.Report, rep.Trusted, first.Report)
			}
			return nil
		})
	}
	t.Logf("report on every node %v after node 0 had it", time.Since(start).Round(time.Millisecond))

	// A pull through another node does not scan again: the report is held.
	if r := getManifest(t, ctx, nodes[1].URL(), "up/fleet/alpine", "3.10"); r.Status != http.StatusOK {
		t.Fatalf("pull through node 1: %s", r)
	}
	out, err = exec.CommandContext(ctx, shoalBin, "scan", "--node", nodes[2].URL(), "--format", "json", "up/fleet/alpine:3.10").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CVE-2019-5747") {
		t.Fatalf("shoal scan on node 2: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second) // room for a wrongly queued scan to run
	total := 0.0
	for i, n := range nodes {
		got := scansTotal(t, ctx, n)
		total += got
		if i > 0 && got != 0 {
			t.Errorf("node %d ran %v scans; the fleet's report should have spared it", i, got)
		}
	}
	if total != 1 {
		t.Errorf("the fleet ran %v scans of one image, want 1", total)
	}
}
