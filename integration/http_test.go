package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// TestRangeRequestsThroughMirror checks blob Range requests on a cold and a
// warm cache: the conformance suite only runs its Range cases in the push
// branch, so the mirrored path needs its own.
func TestRangeRequestsThroughMirror(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	up := startUpstream(t, ctx)
	_, blobs := pushTestImage(t, up, "range/app:v1", 60, linuxAMD64, 4*mib)
	layer := blobs[1]
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})
	url := fmt.Sprintf("%s/v2/up/range/app/blobs/%s", node.URL(), layer.Digest)
	size := layer.Size

	cases := []struct {
		name       string
		rng        string
		start, end int64 // inclusive; -1 for a 416
	}{
		{"cold middle", "bytes=1000-1999", 1000, 1999},
		{"warm middle", "bytes=1000-1999", 1000, 1999},
		{"open", fmt.Sprintf("bytes=%d-", size-100), size - 100, size - 1},
		{"suffix", "bytes=-10", size - 10, size - 1},
		{"past the end", fmt.Sprintf("bytes=%d-%d", size+10, size+20), -1, -1},
		{"backwards", "bytes=500-0", -1, -1},
	}
	for _, c := range cases {
		r, err := do(ctx, http.MethodGet, url, "Range", c.rng)
		if err != nil {
			t.Errorf("%s (Range: %s): %v", c.name, c.rng, err)
			continue
		}
		if c.start < 0 {
			if r.Status != http.StatusRequestedRangeNotSatisfiable {
				t.Errorf("%s (Range: %s): want 416, got %s", c.name, c.rng, r)
			}
			continue
		}
		if r.Status != http.StatusPartialContent {
			t.Errorf("%s (Range: %s): want 206, got %s", c.name, c.rng, r)
			continue
		}
		want := layer.Data[c.start : c.end+1]
		if !bytes.Equal(r.Body, want) {
			t.Errorf("%s (Range: %s): got %d bytes, not bytes %d-%d of the blob", c.name, c.rng, len(r.Body), c.start, c.end)
		}
		cr := r.Header.Get("Content-Range")
		if cr != fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, size) && cr != fmt.Sprintf("bytes %d-%d/*", c.start, c.end) {
			t.Errorf("%s (Range: %s): Content-Range %q", c.name, c.rng, cr)
		}
	}
}

// TestMirrorHeadersAndErrors checks what clients rely on beyond the
// conformance suite: HEAD carries Content-Length and Docker-Content-Digest,
// pushes into a mirrored namespace get 405 UNSUPPORTED, unknown content gets
// 404 with an OCI error, and a ?ns= naming no rule is not mirrored.
func TestMirrorHeadersAndErrors(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	up := startUpstream(t, ctx)
	img, blobs := pushTestImage(t, up, "hdr/app:v1", 70, linuxAMD64, 256<<10)
	md, _ := img.Digest()
	raw, _ := img.RawManifest()
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})
	base := node.URL() + "/v2/up/hdr/app"

	check := func(what string, r *response, err error, status int, headers map[string]string, code string) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if r.Status != status {
			t.Errorf("%s: want %d, got %s", what, status, r)
			return
		}
		for k, v := range headers {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", what, k, got, v)
			}
		}
		if code != "" && !strings.Contains(string(r.Body), `"code":"`+code+`"`) {
			t.Errorf("%s: want OCI error code %s, got body %s", what, code, r.Body)
		}
	}

	r, err := do(ctx, http.MethodHead, base+"/manifests/v1", "Accept", harness.ManifestAccept)
	check("HEAD manifest by tag (cold)", r, err, 200, map[string]string{
		"Docker-Content-Digest": md.String(),
		"Content-Length":        fmt.Sprint(len(raw)),
		"Content-Type":          "application/vnd.oci.image.manifest.v1+json",
	}, "")
	r, err = do(ctx, http.MethodHead, base+"/blobs/"+blobs[1].Digest.String())
	check("HEAD blob (cold)", r, err, 200, map[string]string{
		"Docker-Content-Digest": blobs[1].Digest.String(),
		"Content-Length":        fmt.Sprint(blobs[1].Size),
	}, "")
	r, err = do(ctx, http.MethodGet, base+"/manifests/nosuchtag", "Accept", harness.ManifestAccept)
	check("GET unknown tag", r, err, 404, nil, "MANIFEST_UNKNOWN")
	r, err = do(ctx, http.MethodGet, base+"/blobs/sha256:"+strings.Repeat("0", 64))
	check("GET unknown blob", r, err, 404, nil, "BLOB_UNKNOWN")
	r, err = do(ctx, http.MethodPost, base+"/blobs/uploads/")
	check("POST upload into a mirrored namespace", r, err, 405, nil, "UNSUPPORTED")
	r, err = do(ctx, http.MethodGet, node.URL()+"/v2/hdr/app/manifests/v1?ns=not-a-rule.example", "Accept", harness.ManifestAccept)
	if err == nil && r.Status == 200 {
		t.Errorf("GET with ?ns= naming no upstream rule answered 200; an ns outside the rules must not select an upstream: %s", r)
	}
}

// TestCorruptUpstreamBlobNotCached: bytes from upstream that don't match
// their digest are never served as a complete 200 nor stored; once upstream
// serves the right bytes, the node serves them.
func TestCorruptUpstreamBlobNotCached(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	up := startUpstream(t, ctx)
	_, blobs := pushTestImage(t, up, "corrupt/app:v1", 80, linuxAMD64, 2*mib)
	layer := blobs[1]
	proxy, err := harness.StartProxy(up.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	proxy.Corrupt("/v2/corrupt/app/blobs/"+layer.Digest.String(), true)
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + proxy.URL()}})
	url := fmt.Sprintf("%s/v2/up/corrupt/app/blobs/%s", node.URL(), layer.Digest)

	r, err := do(ctx, http.MethodGet, url)
	if err != nil {
		t.Logf("GET with upstream corrupting: %v (as it should fail)", err)
	} else {
		t.Logf("GET with upstream corrupting: %d, %d bytes", r.Status, len(r.Body))
	}
	if n := proxy.Count(http.MethodGet, "/v2/corrupt/app/blobs/"+layer.Digest.String()); n == 0 {
		t.Fatalf("the node never GET the blob from upstream: %v", proxy.Counts())
	}
	if err == nil && r.Status == 200 {
		t.Errorf("GET of a blob upstream corrupted: got a complete 200 response (%d bytes hashing to %s); the node must fail the response", len(r.Body), harness.SHA256(r.Body))
	}
	if root, err := blobsRoot(node.Config.DataDir); err == nil {
		found := checkBlobStore(t, node.Config.DataDir)
		if _, ok := found[layer.Digest.String()]; ok {
			t.Errorf("corrupt upstream bytes stored under %s in %s", layer.Digest, root)
		}
	}
	proxy.Corrupt("/v2/corrupt/app/blobs/"+layer.Digest.String(), false)
	mustGetBlob(t, ctx, node.URL(), "up/corrupt/app", layer)
}

// TestTagRevalidatedAfterTTL: a tag moved upstream is seen once --tag-ttl
// has passed.
func TestTagRevalidatedAfterTTL(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	up := startUpstream(t, ctx)
	img1, _ := pushTestImage(t, up, "retag/app:v1", 90, linuxAMD64, 64<<10)
	d1, _ := img1.Digest()
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}, Args: []string{"--tag-ttl", "1s"}})
	if r := getManifest(t, ctx, node.URL(), "up/retag/app", "v1"); r.Status != 200 || harness.SHA256(r.Body) != d1.String() {
		t.Fatalf("GET v1: want %s, got %s", d1, r)
	}
	img2, _ := pushTestImage(t, up, "retag/app:v1", 91, linuxAMD64, 64<<10)
	d2, _ := img2.Digest()
	time.Sleep(1500 * time.Millisecond)
	r := getManifest(t, ctx, node.URL(), "up/retag/app", "v1")
	if r.Status != 200 || harness.SHA256(r.Body) != d2.String() {
		t.Errorf("GET v1 after the tag moved upstream and --tag-ttl passed: want the new manifest %s, got %s (digest %s; old was %s)", d2, r, harness.SHA256(r.Body), d1)
	}
	if r := getManifest(t, ctx, node.URL(), "up/retag/app", d1.String()); r.Status != 200 {
		t.Errorf("GET the old manifest by digest: %s", r)
	}
}
