package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// inCI is true under CI=true, where a missing tool fails instead of skipping.
var inCI = os.Getenv("CI") == "true"

// requireTool finds each tool on PATH (or in $(go env GOPATH)/bin) and
// returns their paths; a missing one skips the test, or fails it in CI.
func requireTool(t *testing.T, names ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, n := range names {
		p, err := lookTool(n)
		if err != nil {
			if inCI {
				t.Fatalf("required tool %q is missing (CI=true, so this fails instead of skipping): %v", n, err)
			}
			t.Skipf("skipping: tool %q not found (%v); .ci/run installs it", n, err)
		}
		paths[n] = p
	}
	return paths
}

func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s: not on PATH nor in GOPATH/bin", name)
}

// requireRoot skips (or in CI fails) a test that needs root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if inCI {
			t.Fatal("this test needs root (CI=true, so this fails instead of skipping)")
		}
		t.Skip("skipping: needs root")
	}
}

func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping heavy test under -short")
	}
}

// testContext ends after d or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startUpstream starts docker-registry on a free loopback port for t.
func startUpstream(t *testing.T, ctx context.Context) *harness.Upstream {
	t.Helper()
	requireTool(t, "docker-registry")
	u, err := harness.StartUpstream(ctx, t.TempDir(), 0)
	if err != nil {
		t.Fatalf("start upstream: %v", err)
	}
	cleanupProc(t, u.Proc)
	return u
}

// restartUpstream starts docker-registry again on u's port and storage.
func restartUpstream(t *testing.T, ctx context.Context, u *harness.Upstream) *harness.Upstream {
	t.Helper()
	u2, err := harness.StartUpstream(ctx, u.Dir, u.Port)
	if err != nil {
		t.Fatalf("restart upstream: %v", err)
	}
	cleanupProc(t, u2.Proc)
	return u2
}

// startNode starts a shoal node with the given upstream rules and flags, a
// fresh data dir unless cfg names one, and debug logs shown on failure.
func startNode(t *testing.T, ctx context.Context, cfg harness.NodeConfig) *harness.Node {
	t.Helper()
	cfg.Bin = shoalBin
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), "data")
	}
	if cfg.LogDir == "" {
		cfg.LogDir = t.TempDir()
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "debug"
	}
	n, err := harness.StartNode(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	cleanupProc(t, n.Proc)
	return n
}

// logTail is how much of a process's log a failing test shows: the node's
// debug log matters most; docker-registry logs every 404 at error level.
func logTail(name string) int64 {
	if name == "shoal" {
		return 8000
	}
	return 1500
}

func cleanupProc(t *testing.T, p *harness.Proc) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s (pid %d) log tail, %s:\n%s", p.Name, p.PID(), p.LogPath, p.LogTail(logTail(p.Name)))
		}
		_ = p.Stop(10 * time.Second)
	})
}

// response is a whole HTTP exchange's outcome.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string {
	b := r.Body
	if len(b) > 512 || strings.Contains(r.Header.Get("Content-Type"), "octet-stream") {
		b = []byte(fmt.Sprintf("<%d bytes>", len(r.Body)))
	}
	return fmt.Sprintf("%d %v body=%s", r.Status, r.Header, b)
}

// do sends method to url with headers (pairs of name, value) and reads the
// whole answer.
func do(ctx context.Context, method, url string, headers ...string) (*response, error) {
	return doBody(ctx, method, url, nil, headers...)
}

// doBody is do with a request body (none when nil).
func doBody(ctx context.Context, method, url string, body []byte, headers ...string) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return &response{Status: resp.StatusCode, Header: resp.Header, Body: got}, fmt.Errorf("%s %s: reading body after %d bytes: %w", method, url, len(got), err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: got}, nil
}

// mustGetBlob GETs a blob through the node and checks status, digest header
// and content.
func mustGetBlob(t *testing.T, ctx context.Context, base, repo string, b harness.BlobInfo) {
	t.Helper()
	url := fmt.Sprintf("%s/v2/%s/blobs/%s", base, repo, b.Digest)
	r, err := do(ctx, http.MethodGet, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if r.Status != 200 {
		t.Fatalf("GET %s: want 200, got %s", url, r)
	}
	if got := harness.SHA256(r.Body); got != b.Digest.String() {
		t.Fatalf("GET %s: body of %d bytes hashes to %s, want %s (%d bytes)", url, len(r.Body), got, b.Digest, b.Size)
	}
	if h := r.Header.Get("Docker-Content-Digest"); h != "" && h != b.Digest.String() {
		t.Errorf("GET %s: Docker-Content-Digest %q, want %q", url, h, b.Digest)
	}
}

// checkBlobStore walks the store's blobs/ directory: every file must be named
// blobs/<alg>/<first two hex>/<hex> and hash to its name. It returns the
// digests found.
func checkBlobStore(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	root, err := blobsRoot(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 || parts[0] != "sha256" || len(parts[2]) != 64 || parts[1] != parts[2][:2] {
			t.Errorf("unexpected file under blobs/: %s (a partial or temporary file must not live in blobs/)", rel)
			return nil
		}
		if !d.Type().IsRegular() {
			t.Errorf("blobs/%s is not a regular file (%v)", rel, d.Type())
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != parts[2] {
			t.Errorf("blobs/%s (%d bytes) hashes to sha256:%s: a partial or corrupt blob is stored under a digest name", rel, n, got)
		}
		found["sha256:"+parts[2]] = n
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return found
}

// blobStoreDirs are where, under --data-dir, the node may keep its blobs
// directory (the contract leaves the layout inside the data dir open; the
// node keeps its cache.Store in data-dir/store).
var blobStoreDirs = []string{"blobs", "store/blobs"}

// blobsRoot finds the blobs/ directory of the store under dataDir.
func blobsRoot(dataDir string) (string, error) {
	for _, d := range blobStoreDirs {
		p := filepath.Join(dataDir, d)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("no blob store under %s: looked for %v laid out as blobs/<alg>/<xx>/<hex>", dataDir, blobStoreDirs)
}

// blobPath is where the store keeps digest d.
func blobPath(t *testing.T, dataDir, d string) string {
	t.Helper()
	root, err := blobsRoot(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	alg, hx, _ := strings.Cut(d, ":")
	return filepath.Join(root, alg, hx[:2], hx)
}

// waitFor polls cond every 50ms until it returns nil or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runTool runs a client tool and returns its combined output.
func runTool(ctx context.Context, path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}
