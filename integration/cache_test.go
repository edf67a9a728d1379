package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/integration/harness"
)

const mib = 1 << 20

// getManifest GETs repo:ref through the node with the full Accept list.
func getManifest(t *testing.T, ctx context.Context, base, repo, ref string) *response {
	t.Helper()
	r, err := do(ctx, http.MethodGet, fmt.Sprintf("%s/v2/%s/manifests/%s", base, repo, ref), "Accept", harness.ManifestAccept)
	if err != nil {
		t.Fatalf("GET manifest %s:%s: %v", repo, ref, err)
	}
	return r
}

func TestServesCacheWithUpstreamDown(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	up := startUpstream(t, ctx)
	img, blobs := pushTestImage(t, up, "offline/app:v1", 10, linuxAMD64, 1*mib, 64<<10)
	_, cold := pushTestImage(t, up, "offline/cold:v1", 11, linuxAMD64, 1*mib)
	md, _ := img.Digest()
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}, Args: []string{"--tag-ttl", "1s"}})

	// Warm the cache: the tag, the manifest and every blob.
	if r := getManifest(t, ctx, node.URL(), "up/offline/app", "v1"); r.Status != 200 || harness.SHA256(r.Body) != md.String() {
		t.Fatalf("warm GET manifest by tag: want 200 with digest %s, got %s", md, r)
	}
	for _, b := range blobs {
		mustGetBlob(t, ctx, node.URL(), "up/offline/app", b)
	}

	_ = up.Stop(10 * time.Second)
	time.Sleep(1500 * time.Millisecond) // past --tag-ttl, so the tag is due for revalidation

	if r := getManifest(t, ctx, node.URL(), "up/offline/app", md.String()); r.Status != 200 || harness.SHA256(r.Body) != md.String() {
		t.Errorf("GET manifest by digest with upstream down: want 200 with the cached bytes, got %s", r)
	}
	for _, b := range blobs {
		mustGetBlob(t, ctx, node.URL(), "up/offline/app", b)
	}
	r := getManifest(t, ctx, node.URL(), "up/offline/app", "v1")
	if r.Status != 200 || harness.SHA256(r.Body) != md.String() {
		t.Errorf("GET manifest by stale tag with upstream down: want 200 with digest %s, got %s", md, r)
	} else if r.Header.Get("Warning") == "" {
		t.Errorf("stale tag served with upstream down carries no Warning header: %v", r.Header)
	}
	h, err := do(ctx, http.MethodHead, node.URL()+"/v2/up/offline/app/manifests/v1", "Accept", harness.ManifestAccept)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != 200 || h.Header.Get("Docker-Content-Digest") != md.String() {
		t.Errorf("HEAD manifest by stale tag with upstream down: want 200 and Docker-Content-Digest %s, got %s", md, h)
	}

	// Content never fetched can't be served: a clear OCI error, not a hang
	// or a 200 with nothing.
	c, err := do(ctx, http.MethodGet, fmt.Sprintf("%s/v2/up/offline/cold/blobs/%s", node.URL(), cold[1].Digest))
	if err != nil {
		t.Fatal(err)
	}
	if c.Status < 400 || !strings.Contains(string(c.Body), `"errors"`) {
		t.Errorf("GET of an uncached blob with upstream down: want an OCI error status and body, got %s", c)
	}
}

func TestConcurrentColdBlobFetchedOnce(t *testing.T) {
	skipIfShort(t)
	ctx := testContext(t, 3*time.Minute)
	up := startUpstream(t, ctx)
	_, blobs := pushTestImage(t, up, "coalesce/app:v1", 20, linuxAMD64, 16*mib)
	layer := blobs[1]
	proxy, err := harness.StartProxy(up.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	// Slow enough that all 20 requests arrive while the first is in flight.
	proxy.SetRate(32 * mib)
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + proxy.URL()}})

	const clients = 20
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := do(ctx, http.MethodGet, fmt.Sprintf("%s/v2/up/coalesce/app/blobs/%s", node.URL(), layer.Digest))
			switch {
			case err != nil:
				errs <- err
			case r.Status != 200:
				errs <- fmt.Errorf("status %s", r)
			case harness.SHA256(r.Body) != layer.Digest.String():
				errs <- fmt.Errorf("body of %d bytes hashes to %s", len(r.Body), harness.SHA256(r.Body))
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent cold GET: %v", err)
	}
	path := "/v2/coalesce/app/blobs/" + layer.Digest.String()
	if n := proxy.Count(http.MethodGet, path); n != 1 {
		t.Errorf("%d concurrent cold GETs of one blob caused %d upstream GETs of %s, want 1 (all upstream requests: %v)", clients, n, path, proxy.Counts())
	}
}

func TestKillDuringColdPullsLeavesNoPartialBlobs(t *testing.T) {
	skipIfShort(t)
	ctx := testContext(t, 5*time.Minute)
	up := startUpstream(t, ctx)
	sizes := make([]int64, 8)
	for i := range sizes {
		sizes[i] = 32 * mib
	}
	_, blobs := pushTestImage(t, up, "kill/app:v1", 30, linuxAMD64, sizes...)
	layers := blobs[1:]
	proxy, err := harness.StartProxy(up.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	proxy.SetRate(24 * mib) // each 32 MiB layer takes over a second: the kill lands mid-transfer
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + proxy.URL()}})

	var received atomic.Int64
	var wg sync.WaitGroup
	pullCtx, cancelPulls := context.WithTimeout(ctx, time.Minute)
	defer cancelPulls()
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(b harness.BlobInfo) {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(pullCtx, http.MethodGet, fmt.Sprintf("%s/v2/up/kill/app/blobs/%s", node.URL(), b.Digest), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 256<<10)
			for {
				n, err := resp.Body.Read(buf)
				received.Add(int64(n))
				if err != nil {
					return
				}
			}
		}(layers[i%len(layers)])
	}
	if err := waitFor(ctx, 30*time.Second, func() error {
		if received.Load() < 48*mib {
			return fmt.Errorf("clients received %d bytes", received.Load())
		}
		return nil
	}); err != nil {
		t.Fatalf("pulls through the node never got going: %v", err)
	}
	node.Kill()
	t.Logf("SIGKILL after clients received %d MiB", received.Load()/mib)
	cancelPulls()
	wg.Wait()

	// Even before a restart gets a chance to clean up, nothing partial may
	// sit under a digest name.
	checkBlobStore(t, node.Config.DataDir)

	proxy.SetRate(0)
	node2, err := node.Restart(ctx)
	if err != nil {
		t.Fatalf("restart on the same data dir: %v", err)
	}
	cleanupProc(t, node2.Proc)
	checkBlobStore(t, node2.Config.DataDir)

	var wg2 sync.WaitGroup
	for _, b := range layers {
		wg2.Add(1)
		go func(b harness.BlobInfo) {
			defer wg2.Done()
			mustGetBlobNoFatal(t, ctx, node2.URL(), "up/kill/app", b)
		}(b)
	}
	wg2.Wait()
	found := checkBlobStore(t, node2.Config.DataDir)
	for _, b := range layers {
		if err := waitFor(ctx, 10*time.Second, func() error {
			if _, err := os.Stat(blobPath(t, node2.Config.DataDir, b.Digest.String())); err != nil {
				return err
			}
			return nil
		}); err != nil {
			t.Errorf("blob %s served after restart but not in the store: %v (store has %d blobs)", b.Digest, err, len(found))
		}
	}
}

// dirBytes sums the sizes of the regular files under root.
func dirBytes(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}

// mustGetBlobNoFatal is mustGetBlob for use off the test goroutine.
func mustGetBlobNoFatal(t *testing.T, ctx context.Context, base, repo string, b harness.BlobInfo) {
	url := fmt.Sprintf("%s/v2/%s/blobs/%s", base, repo, b.Digest)
	r, err := do(ctx, http.MethodGet, url)
	switch {
	case err != nil:
		t.Errorf("GET %s: %v", url, err)
	case r.Status != 200:
		t.Errorf("GET %s: want 200, got %s", url, r)
	case harness.SHA256(r.Body) != b.Digest.String():
		t.Errorf("GET %s: %d bytes hashing to %s", url, len(r.Body), harness.SHA256(r.Body))
	}
}

func TestClientDisconnectDoesNotPoisonCache(t *testing.T) {
	skipIfShort(t)
	ctx := testContext(t, 3*time.Minute)
	up := startUpstream(t, ctx)
	_, blobs := pushTestImage(t, up, "disconnect/app:v1", 40, linuxAMD64, 64*mib)
	layer := blobs[1]
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})
	url := fmt.Sprintf("%s/v2/up/disconnect/app/blobs/%s", node.URL(), layer.Digest)

	rctx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	// A transport of its own, so closing really drops the connection.
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatalf("first GET: %v", err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("first GET: %s", resp.Status)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1*mib); err != nil {
		cancel()
		t.Fatalf("reading the first MiB: %v", err)
	}
	cancel()
	resp.Body.Close()
	tr.CloseIdleConnections()

	mustGetBlob(t, ctx, node.URL(), "up/disconnect/app", layer)

	path := blobPath(t, node.Config.DataDir, layer.Digest.String())
	if err := waitFor(ctx, 15*time.Second, func() error {
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if st.Size() != layer.Size {
			return fmt.Errorf("%s has %d bytes, want %d", path, st.Size(), layer.Size)
		}
		return nil
	}); err != nil {
		t.Fatalf("blob not complete in the store after a full GET: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != layer.Digest.String() {
		t.Errorf("stored blob %s hashes to %s", path, got)
	}
	checkBlobStore(t, node.Config.DataDir)
}

func TestEvictionKeepsCacheUnderLimit(t *testing.T) {
	skipIfShort(t)
	ctx := testContext(t, 4*time.Minute)
	up := startUpstream(t, ctx)
	const limit = 50 * mib
	const images = 6 // 6 × 12 MiB layers: well past the limit
	var layers []harness.BlobInfo
	for i := 0; i < images; i++ {
		_, b := pushTestImage(t, up, fmt.Sprintf("evict/app%d:v1", i), uint64(50+i), linuxAMD64, 12*mib)
		layers = append(layers, b[1])
	}
	node := startNode(t, ctx, harness.NodeConfig{
		Upstreams: []string{"up=" + up.URL()},
		Args:      []string{"--cache-max-bytes", fmt.Sprint(limit)},
	})

	underLimit := func() error {
		b, err := node.CacheBytes(ctx)
		if err != nil {
			return err
		}
		if b > limit {
			return fmt.Errorf("cache.bytes = %d > limit %d", b, limit)
		}
		return nil
	}
	for i, l := range layers {
		repo := fmt.Sprintf("up/evict/app%d", i)
		if r := getManifest(t, ctx, node.URL(), repo, "v1"); r.Status != 200 {
			t.Fatalf("GET manifest %s:v1: %s", repo, r)
		}
		mustGetBlob(t, ctx, node.URL(), repo, l)
		if err := waitFor(ctx, 5*time.Second, underLimit); err != nil {
			t.Errorf("after pulling image %d: %v", i, err)
		}
	}
	b, err := node.CacheBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b <= 0 {
		t.Errorf("cache.bytes = %d after pulling %d images", b, images)
	}
	// What is on disk must agree with the status once the node is idle.
	var disk int64
	if err := waitFor(ctx, 5*time.Second, func() error {
		root, err := blobsRoot(node.Config.DataDir)
		if err != nil {
			return err
		}
		disk, err = dirBytes(root)
		if err != nil {
			return err
		}
		if disk > limit {
			return fmt.Errorf("blob files on disk total %d bytes > limit %d (status cache.bytes says %d)", disk, limit, b)
		}
		return nil
	}); err != nil {
		t.Errorf("5 s after the last pull: %v", err)
		onDisk := checkBlobStore(t, node.Config.DataDir)
		t.Logf("blob files on disk: %v", onDisk)
	}

	// The first layer is the least recently used: it must have been evicted,
	// and a new GET must fetch it again, correctly.
	before, err := node.Metric(ctx, "shoal_fetched_bytes_total", `source="upstream"`)
	if err != nil {
		t.Fatal(err)
	}
	mustGetBlob(t, ctx, node.URL(), "up/evict/app0", layers[0])
	after, err := node.Metric(ctx, "shoal_fetched_bytes_total", `source="upstream"`)
	if err != nil {
		t.Fatal(err)
	}
	if after-before < float64(layers[0].Size) {
		t.Errorf("re-GET of the least recently used layer fetched %v bytes upstream, want ≥ %d: it was not evicted", after-before, layers[0].Size)
	}
	if err := waitFor(ctx, 5*time.Second, underLimit); err != nil {
		t.Errorf("after re-fetching an evicted layer: %v", err)
	}
}

// Upload sessions count in the store's size (issue 10): a push evicts
// mirrored content to make room, and one that does not fit beside pushed
// content is refused with DENIED, which crane shows and does not retry.
func TestPushWithinCacheMaxBytes(t *testing.T) {
	tools := requireTool(t, "crane")
	ctx := testContext(t, 3*time.Minute)
	up := startUpstream(t, ctx)
	_, mirrored := pushTestImage(t, up, "limit/app:v1", 70, linuxAMD64, 2*mib)
	const limit = 4 * mib
	node := startNode(t, ctx, harness.NodeConfig{
		Upstreams: []string{"up=" + up.URL()},
		Args:      []string{"--cache-max-bytes", fmt.Sprint(limit)},
	})
	if r := getManifest(t, ctx, node.URL(), "up/limit/app", "v1"); r.Status != 200 {
		t.Fatalf("GET manifest up/limit/app:v1: %s", r)
	}
	mustGetBlob(t, ctx, node.URL(), "up/limit/app", mirrored[1])

	// A layer of random bytes stays its size when crane gzips it.
	push := func(repo string, seed byte) (string, error) {
		t.Helper()
		layer := filepath.Join(t.TempDir(), "layer.tar")
		data := make([]byte, 3*mib)
		rnd := sha256.Sum256([]byte{seed})
		for i := range data {
			if i%len(rnd) == 0 {
				rnd = sha256.Sum256(rnd[:])
			}
			data[i] = rnd[i%len(rnd)]
		}
		if err := os.WriteFile(layer, tarOf(t, "data", data), 0o644); err != nil {
			t.Fatal(err)
		}
		return runTool(ctx, tools["crane"], "append", "--insecure", "-f", layer, "-t", node.Addr+"/"+repo+":v1")
	}
	cache := func() adminapi.CacheStatus {
		t.Helper()
		return nodeStatus(t, ctx, node).Cache
	}
	if out, err := push("team/first", 1); err != nil {
		t.Fatalf("a push that fits once mirrored content is evicted: %v\n%s", err, out)
	}
	// 2 MiB mirrored and 3 MiB pushed do not fit in 4: within the limit
	// means the mirrored layer made room.
	if c := cache(); c.Bytes > limit || c.UploadBytes != 0 {
		t.Fatalf("after the first push: %+v, want within %d bytes and no upload bytes", c, limit)
	}
	out, err := push("team/second", 2)
	if err == nil || !strings.Contains(out, "DENIED") || !strings.Contains(out, "store full") {
		t.Fatalf("a push past the limit beside pushed content: err %v, want DENIED store full:\n%s", err, out)
	}
	t.Logf("crane, refused: %s", strings.TrimSpace(out))
	// crane pushes the config and the layer at once and cancels neither
	// session when one is refused, so the config's few hundred bytes may
	// stay in an open upload; the layer's refused chunk must not.
	if c := cache(); c.Bytes > limit || c.UploadBytes > 64<<10 {
		t.Fatalf("after the refused push: %+v, want within %d bytes and the refused chunk rolled back", c, limit)
	}
	// The first push is whole.
	if r := getManifest(t, ctx, node.URL(), "team/first", "v1"); r.Status != 200 {
		t.Fatalf("the first push after the refusal: %s", r)
	}
}

// tarOf is a tar archive holding one file, name, of data.
func tarOf(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
