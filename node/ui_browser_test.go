package node

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

// The web page at /ui/ is driven here in a real browser (Debian's
// chromium, headless) against a node in this process: what it shows must
// be what /shoal/v1/status and /metrics say, and it must follow a pull
// without being reloaded.

// uiArtifactsEnv names a directory that keeps the test's screenshots
// (CI uploads it); without it they go to the test's temporary directory.
const uiArtifactsEnv = "SHOAL_UI_ARTIFACTS"

// chromiumPath is the browser to drive. Without one the test is skipped,
// except in CI (CI set), where .ci/run installs it and its absence is a
// failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (CI is set: .ci/run installs it)")
	}
	t.Skip("chromium is not installed")
	return ""
}

func uiArtifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(uiArtifactsEnv)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// hitRatios is the page's "store / peers / upstream" figure, worked out
// from /metrics the way the page's script does.
func hitRatios(t *testing.T, n *Node) string {
	served := metricValue(t, n, `shoal_served_bytes_total{to="client"}`)
	peer := metricValue(t, n, `shoal_fetched_bytes_total{source="peer"}`)
	upstream := metricValue(t, n, `shoal_fetched_bytes_total{source="upstream"}`)
	store := max(0, served-peer-upstream)
	total := store + peer + upstream
	var parts []string
	for _, v := range []float64{store, peer, upstream} {
		parts = append(parts, fmt.Sprintf("%.1f%%", 100*v/total))
	}
	return strings.Join(parts, " / ")
}

// waitText waits until the element id shows want.
func waitText(id, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).textContent === %q`, id, want),
		chromedp.WithPollingTimeout(30*time.Second))
}

// agrees waits (at most 30 s) until the element id shows what the node
// says: the figures move for a moment after a pull, as it settles.
func agrees(t *testing.T, ctx context.Context, id string, node func() string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		want := node()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById(%q).textContent`, id)))
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page shows %s %q, the node says %q", id, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pageText is what the page shows, for a failure's message.
func pageText(ctx context.Context) string {
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		return err.Error()
	}
	return text
}

func screenshot(t *testing.T, ctx context.Context, dir, file string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", filepath.Join(dir, file))
}

// newBrowser starts headless chromium for the test. No timeout on its
// context (that would stop the browser); each wait has its own.
func newBrowser(t *testing.T, browser string) context.Context {
	t.Helper()
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1200, 1000))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

func TestUIInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	dir := uiArtifactDir(t)

	up := newCountingUpstream(t)
	// An Alpine image with a busybox the test database has an advisory
	// for, so that the images table has a scan result to show.
	img := alpineImage(t, "1.30.1-r1")
	upRef, _ := name.ParseReference(strings.TrimPrefix(up.URL, "http://") + "/app/web:v1")
	if err := remote.Write(upRef, img); err != nil {
		t.Fatal(err)
	}
	// A fleet of three: the page on A lists the other two.
	// A's traffic history takes a point every 200 ms, not every minute,
	// so that its chart has points within the test.
	a, srvA := startFleetNode(t, up.URL, nil, func(c *Config) { c.trafficEvery = 200 * time.Millisecond })
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	c, _ := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	waitConnected(t, a, c)

	ctx := newBrowser(t, browser)

	// The first refresh shows an empty node.
	st := nodeStatus(t, a)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srvA.URL+"/ui/"),
		chromedp.Poll[chromedp.Void](`Number(document.body.dataset.refreshed || 0) >= 1`, chromedp.WithPollingTimeout(30*time.Second)),
		waitText("node-blobs", strconv.Itoa(st.Cache.Blobs)),
		waitText("node-version", "test"),
		waitText("node-peer-id", st.PeerID),
		waitText("policy-version", "none (open node)"),
		// Marks this document: it must still be there after the pull.
		chromedp.Evaluate[chromedp.Void](`window.shoalUITestMark = "kept"`),
	); err != nil {
		t.Fatalf("the page's first view: %v\nit shows:\n%s", err, pageText(ctx))
	}
	agrees(t, ctx, "fleet-peers", func() string { return strconv.Itoa(nodeStatus(t, a).Peers) })
	for _, other := range []*Node{b, c} {
		if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
			fmt.Sprintf(`document.getElementById("fleet-table").tBodies[0].textContent.includes(%q)`, other.p2p.ID().String()),
			chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("the fleet table lacks node %s: %v\nit shows:\n%s", other.p2p.ID(), err, pageText(ctx))
		}
	}
	screenshot(t, ctx, dir, "ui-empty.png")

	pullImage(t, srvA, "up/app/web:v1")
	worst := scanThrough(t, srvA.URL, "up/app/web:v1")
	t.Logf("the scan's worst severity: %s", worst)
	st = nodeStatus(t, a)
	if st.Cache.Blobs == 0 {
		t.Fatal("the pull stored nothing")
	}
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`document.getElementById("images-table").tBodies[0].textContent.includes("up/app/web")`,
			chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("the page after a pull: %v\nit shows:\n%s", err, pageText(ctx))
	}
	agrees(t, ctx, "node-blobs", func() string { return strconv.Itoa(nodeStatus(t, a).Cache.Blobs) })
	agrees(t, ctx, "node-hits", func() string { return hitRatios(t, a) })
	// The traffic chart: three lines, and the pull from upstream is a
	// peak on the upstream one (a point above the baseline).
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		`(() => { const l = document.querySelector("#traffic-chart polyline.line-upstream");
			return document.querySelectorAll("#traffic-chart polyline").length === 3 && l !== null &&
				l.getAttribute("points").split(" ").some(p => Number(p.split(",")[1]) < 150); })()`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the traffic chart does not show the pull: %v\nit shows:\n%s", err, pageText(ctx))
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("images-table").tBodies[0].textContent`))
	if err != nil {
		t.Fatal(err)
	}
	mark, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.shoalUITestMark)`))
	if err != nil {
		t.Fatal(err)
	}
	if mark != "kept" {
		t.Fatalf("the page was reloaded (mark %q); it must update in place", mark)
	}
	d, _ := img.Digest()
	if !strings.Contains(rows, "v1") || !strings.Contains(rows, d.String()) || !strings.Contains(rows, "upstream up") {
		t.Fatalf("the images table %q lacks tag v1 with digest %s from upstream up", rows, d)
	}
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`document.getElementById("images-table").tBodies[0].textContent.includes(%q)`, worst),
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the images table lacks the scan's worst severity %s: %v\nit shows:\n%s", worst, err, pageText(ctx))
	}
	// The pull shows among the recent pulls.
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		fmt.Sprintf(`document.getElementById("pulls-table").tBodies[0].textContent.includes(%q)`, "up/app/web"),
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the recent pulls lack up/app/web: %v\nit shows:\n%s", err, pageText(ctx))
	}
	// And the findings behind it: the test database's busybox advisory.
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		`document.getElementById("images-table").tBodies[0].textContent.includes("CVE-2019-5747 busybox 1.30.1-r1 → 1.30.1-r2")`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the images table lacks the finding behind the severity: %v\nit shows:\n%s", err, pageText(ctx))
	}
	// The signature column: A has no policy, so no rule checked it.
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](
		`document.getElementById("images-table").tBodies[0].textContent.includes("not checked")`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the images table lacks the signature state: %v\nit shows:\n%s", err, pageText(ctx))
	}

	// The fleet table: the other two nodes, each with the store size it
	// told and when it was last seen. B pulls too, so that one of them
	// tells a store that is not empty.
	pullImage(t, srvB, "up/app/web:v1")
	for _, other := range []*Node{b, c} {
		id := other.p2p.ID().String()
		agreesJS(t, ctx, "the store "+id+" told", fleetCell(id, 2), func() string {
			n, blobs := other.store.Usage()
			return pageBytes(n) + ", " + strconv.Itoa(blobs) + " blobs"
		})
		agreesJS(t, ctx, "when "+id+" was last seen", fleetCell(id, 4), func() string { return "now (connected)" })
	}
	// A peer that leaves stays listed, with when it was last seen.
	cID := c.p2p.ID().String()
	c.Close()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](fleetCell(cID, 4)+`.endsWith(" ago (not connected)")`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the fleet table does not show the peer that left as last seen a while ago: %v\nit shows:\n%s", err, pageText(ctx))
	}
	screenshot(t, ctx, dir, "ui.png")
}

// fleetCell is the script that reads cell col of the fleet table's row
// for peer id ("" when there is none).
func fleetCell(id string, col int) string {
	return fmt.Sprintf(`(() => { for (const tr of document.getElementById("fleet-table").tBodies[0].rows)
		if (tr.cells[0].textContent === %q) return tr.cells[%d].textContent; return ""; })()`, id, col)
}

// agreesJS waits (at most 30 s) until the script expr evaluates to what
// the node says.
func agreesJS(t *testing.T, ctx context.Context, what, expr string, node func() string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		want := node()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page shows %s as %q, the node says %q\nit shows:\n%s", what, got, want, pageText(ctx))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pageBytes is a byte count as the page's script writes it.
func pageBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", f, units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// dismissLogins answers every login the page's requests ask for with
// "cancel", as an anonymous person at the browser's prompt would: a
// headless browser has no prompt, and the request would wait for one.
func dismissLogins(t *testing.T, ctx context.Context) {
	t.Helper()
	// Roomy: the listener must never block the tab's message loop.
	paused := make(chan fetch.RequestID, 4096)
	logins := make(chan fetch.RequestID, 4096)
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *fetch.EventRequestPaused:
			paused <- ev.RequestID
		case *fetch.EventAuthRequired:
			logins <- ev.RequestID
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case id := <-paused:
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
			case id := <-logins:
				_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: id,
					AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}})
			}
		}
	}()
	handle := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle}); err != nil {
		t.Fatal(err)
	}
}

// TestUIObeysPolicy: an anonymous caller's page lists only what the
// policy lets it pull, and nothing once the policy lets it list nothing.
func TestUIObeysPolicy(t *testing.T) {
	browser := chromiumPath(t)
	dir := uiArtifactDir(t)

	up := newCountingUpstream(t)
	for _, repo := range []string{"app/web", "app/secret"} {
		img, err := random.Image(1<<10, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.ParseReference(strings.TrimPrefix(up.URL, "http://") + "/" + repo + ":v1")
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	kit := newPolicyKit(t)
	n, err := New(Config{
		DataDir: filepath.Join(t.TempDir(), "data"), Upstreams: upstreamtest.Rules(t, "up="+up.URL),
		PolicyRoots: rootKeys(t, kit.rootPEM),
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	apply := func(version uint64, rules ...policy.Rule) {
		t.Helper()
		doc := testDoc(t, version, time.Now().Add(-time.Minute))
		doc.Rules = rules
		if _, err := n.access.Apply(kit.sign(t, doc), "test"); err != nil {
			t.Fatal(err)
		}
	}
	apply(1, policy.Rule{Identities: []string{"anyone"}, Actions: []policy.Action{"*"}, Repositories: []string{"**"}})
	pullImage(t, srv, "up/app/web:v1")
	pullImage(t, srv, "up/app/secret:v1")
	apply(2, policy.Rule{Identities: []string{"anyone"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"up/app/web"}})

	ctx := newBrowser(t, browser)
	dismissLogins(t, ctx)
	images := `document.getElementById("images-table").tBodies[0].textContent`
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/ui/"),
		waitText("policy-version", "2"),
		waitText("policy-network", "test"),
		waitText("policy-membership", "every peer holding the swarm key"),
		chromedp.Poll[chromedp.Void](images+`.includes("up/app/web")`, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("the page under a policy: %v\nit shows:\n%s", err, pageText(ctx))
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[string](images))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rows, "secret") {
		t.Fatalf("an anonymous caller that may pull only up/app/web sees %q", rows)
	}
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("pulls-table").tBodies[0].textContent.includes("up/app/web")`,
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the recent pulls under a policy: %v\nit shows:\n%s", err, pageText(ctx))
	}
	pulled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("pulls-table").tBodies[0].textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pulled, "up/app/web") || strings.Contains(pulled, "secret") {
		t.Fatalf("an anonymous caller that may pull only up/app/web sees these recent pulls: %q", pulled)
	}
	screenshot(t, ctx, dir, "ui-policy-filtered.png")

	// Nothing for anonymous callers: the page says so and lists nothing,
	// while the node's own figures stay (its status is open).
	apply(3, policy.Rule{Identities: []string{"alice"}, Actions: []policy.Action{"*"}, Repositories: []string{"team/**"}})
	if err := chromedp.Do(ctx,
		waitText("policy-version", "3"),
		waitText("images-note", "This caller may not list the node's repositories."),
		chromedp.Poll[chromedp.Void](images+` === ""`, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("the page under a policy that denies anonymous callers: %v\nit shows:\n%s", err, pageText(ctx))
	}
	agrees(t, ctx, "node-blobs", func() string { return strconv.Itoa(nodeStatus(t, n).Cache.Blobs) })
	screenshot(t, ctx, dir, "ui-policy-denied.png")
}

// scanThrough installs the test Alpine database on the node at url, scans
// ref there and returns the report's worst severity.
func scanThrough(t *testing.T, url, ref string) scan.Severity {
	t.Helper()
	db, err := vulndb.Import(filepath.Join("testdata", "vulndata", "alpine-secdb"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, url+"/shoal/v1/scan/db", bytes.NewReader(mustEncode(t, db)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT scan db: %s", resp.Status)
	}
	resp, err = http.Post(url+"/shoal/v1/scans?ref="+ref, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var res adminapi.ScanResult
	decodeOK(t, resp, &res)
	if len(res.Reports) != 1 {
		t.Fatalf("scan of %s: %d reports", ref, len(res.Reports))
	}
	w, ok := res.Reports[0].Report.Worst()
	if !ok {
		t.Fatalf("scan of %s found nothing: the test image should be vulnerable", ref)
	}
	return w.Severity.Normal()
}
