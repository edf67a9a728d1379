package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/integration/harness"
)

var linuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}

// fileDigest hashes a file.
func fileDigest(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// pushTestImage pushes a small two-layer image to the upstream and returns it
// with its blobs.
func pushTestImage(t *testing.T, up *harness.Upstream, repoTag string, seed uint64, p v1.Platform, sizes ...int64) (v1.Image, []harness.BlobInfo) {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	img, err := harness.TarImage(p, seed, sizes...)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.PushImage(ctx, up.Addr+"/"+repoTag, img); err != nil {
		t.Fatalf("push %s to upstream: %v", repoTag, err)
	}
	blobs, err := harness.ImageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}
	return img, blobs
}

func TestSkopeoCopyThroughNode(t *testing.T) {
	tools := requireTool(t, "skopeo")
	ctx := testContext(t, 4*time.Minute)
	up := startUpstream(t, ctx)
	img, blobs := pushTestImage(t, up, "skopeo/app:v1", 1, linuxAMD64, 1<<20, 3<<19)
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})

	out := filepath.Join(t.TempDir(), "dir")
	src := fmt.Sprintf("docker://%s/up/skopeo/app:v1", node.Addr)
	if o, err := runTool(ctx, tools["skopeo"], "--insecure-policy", "copy", "--src-tls-verify=false", src, "dir:"+out); err != nil {
		t.Fatalf("skopeo copy %s dir:%s: %v\n%s", src, out, err, o)
	}
	md, _ := img.Digest()
	if got := fileDigest(t, filepath.Join(out, "manifest.json")); got != md.String() {
		t.Errorf("manifest.json from the node hashes to %s, pushed manifest is %s", got, md)
	}
	for _, b := range blobs {
		p := filepath.Join(out, b.Digest.Hex)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("blob %s missing from skopeo's output: %v", b.Digest, err)
			continue
		}
		if got := fileDigest(t, p); got != b.Digest.String() {
			t.Errorf("blob %s from the node hashes to %s", b.Digest, got)
		}
	}

	// The same copy into an OCI layout, digests preserved (skopeo would
	// otherwise gzip the uncompressed test layers for oci:).
	layout := filepath.Join(t.TempDir(), "oci")
	if o, err := runTool(ctx, tools["skopeo"], "--insecure-policy", "copy", "--preserve-digests", "--dest-oci-accept-uncompressed-layers",
		"--src-tls-verify=false", src, "oci:"+layout+":v1"); err != nil {
		t.Fatalf("skopeo copy %s oci:%s: %v\n%s", src, layout, err, o)
	}
	checkOCILayout(t, layout, md.String(), blobs)
}

// checkOCILayout checks that an OCI image layout names manifest digest want
// and holds every blob with the right content.
func checkOCILayout(t *testing.T, layout, want string, blobs []harness.BlobInfo) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	var names []string
	ok := false
	for _, m := range idx.Manifests {
		names = append(names, m.Digest.String())
		ok = ok || m.Digest.String() == want
	}
	if !ok {
		t.Errorf("OCI layout index.json lists %v, want manifest %s", names, want)
	}
	for _, b := range blobs {
		p := filepath.Join(layout, "blobs", b.Digest.Algorithm, b.Digest.Hex)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("blob %s missing from the layout: %v", b.Digest, err)
			continue
		}
		if got := fileDigest(t, p); got != b.Digest.String() {
			t.Errorf("blob %s in the layout hashes to %s", b.Digest, got)
		}
	}
}

func TestCranePullThroughNode(t *testing.T) {
	tools := requireTool(t, "crane")
	ctx := testContext(t, 4*time.Minute)
	up := startUpstream(t, ctx)
	img, blobs := pushTestImage(t, up, "crane/app:v1", 2, linuxAMD64, 1<<20, 256<<10)
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})
	md, _ := img.Digest()
	ref := node.Addr + "/up/crane/app:v1"

	o, err := runTool(ctx, tools["crane"], "digest", "--insecure", ref)
	if err != nil {
		t.Fatalf("crane digest --insecure %s: %v\n%s", ref, err, o)
	}
	if got := strings.TrimSpace(o); got != md.String() {
		t.Errorf("crane digest through the node = %q, want %s", got, md)
	}
	layout := filepath.Join(t.TempDir(), "layout")
	if o, err := runTool(ctx, tools["crane"], "pull", "--insecure", "--format", "oci", ref, layout); err != nil {
		t.Fatalf("crane pull --insecure %s: %v\n%s", ref, err, o)
	}
	checkOCILayout(t, layout, md.String(), blobs)

	// And by digest, as a tarball.
	tarball := filepath.Join(t.TempDir(), "img.tar")
	byDigest := node.Addr + "/up/crane/app@" + md.String()
	if o, err := runTool(ctx, tools["crane"], "pull", "--insecure", byDigest, tarball); err != nil {
		t.Fatalf("crane pull --insecure %s: %v\n%s", byDigest, err, o)
	}
}

func TestMultiArchIndexThroughNode(t *testing.T) {
	tools := requireTool(t, "crane")
	ctx := testContext(t, 4*time.Minute)
	up := startUpstream(t, ctx)
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	idx, err := harness.MultiArchIndex(3, 512<<10, linuxAMD64, arm64)
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.PushIndex(ctx, up.Addr+"/multi/app:v1", idx); err != nil {
		t.Fatalf("push index: %v", err)
	}
	idxDigest, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	var armDigest v1.Hash
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.Architecture == "arm64" {
			armDigest = m.Digest
		}
	}
	armImg, err := idx.Image(armDigest)
	if err != nil {
		t.Fatal(err)
	}
	armBlobs, err := harness.ImageBlobs(armImg)
	if err != nil {
		t.Fatal(err)
	}
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})
	ref := node.Addr + "/up/multi/app:v1"

	// The tag must resolve to the index itself, with the index media type,
	// whatever the client's Accept list.
	r, err := do(ctx, http.MethodGet, node.URL()+"/v2/up/multi/app/manifests/v1", "Accept", harness.ManifestAccept)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 || harness.SHA256(r.Body) != idxDigest.String() {
		t.Fatalf("GET manifest v1 through the node: want 200 and the index %s, got %s (body hashes to %s)", idxDigest, r, harness.SHA256(r.Body))
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index Content-Type = %q", ct)
	}

	// Whole index: copy it out of the node into another upstream repository;
	// crane copy keeps digests, so the copy must have the index's digest.
	dst := up.Addr + "/multi/copy:v1"
	if o, err := runTool(ctx, tools["crane"], "copy", "--insecure", ref, dst); err != nil {
		t.Fatalf("crane copy %s %s: %v\n%s", ref, dst, err, o)
	}
	o, err := runTool(ctx, tools["crane"], "digest", "--insecure", dst)
	if err != nil {
		t.Fatalf("crane digest %s: %v\n%s", dst, err, o)
	}
	if got := strings.TrimSpace(o); got != idxDigest.String() {
		t.Errorf("index copied through the node has digest %s, want %s", got, idxDigest)
	}

	// One platform.
	layout := filepath.Join(t.TempDir(), "arm64")
	if o, err := runTool(ctx, tools["crane"], "pull", "--insecure", "--platform", "linux/arm64", "--format", "oci", ref, layout); err != nil {
		t.Fatalf("crane pull --platform linux/arm64 %s: %v\n%s", ref, err, o)
	}
	checkOCILayout(t, layout, armDigest.String(), armBlobs)
}

func TestContainerdPullThroughMirror(t *testing.T) {
	requireRoot(t)
	requireTool(t, "containerd", "ctr")
	ctx := testContext(t, 4*time.Minute)
	up := startUpstream(t, ctx)
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	_, blobs := pushTestImage(t, up, "ctd/app:v1", 4, p, 1<<20, 512<<10)
	var layerBytes int64
	for _, b := range blobs[1:] {
		layerBytes += b.Size
	}

	// The rule is named after the upstream's host:port, which is what
	// containerd puts in ?ns= when the mirror host differs.
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{up.Addr + "=" + up.URL()}})

	dir, err := os.MkdirTemp("/tmp", "ctd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctd, err := harness.StartContainerd(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	cleanupProc(t, ctd.Proc)
	hosts := filepath.Join(dir, "hosts")
	if err := harness.WriteHostsTOML(hosts, up.Addr, up.URL(), node.URL()); err != nil {
		t.Fatal(err)
	}
	ref := up.Addr + "/ctd/app:v1"
	o, err := ctd.Ctr(ctx, "images", "pull", "--hosts-dir", hosts, "--snapshotter", "native", "--plain-http", ref)
	if err != nil {
		t.Fatalf("ctr images pull %s: %v\n%s", ref, err, o)
	}
	m, err := node.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fetched := harness.Series(m, "shoal_fetched_bytes_total", `source="upstream"`)
	served := harness.Series(m, "shoal_served_bytes_total", `to="client"`)
	if fetched < float64(layerBytes) || served < float64(layerBytes) {
		t.Errorf("after ctr pulled %d layer bytes via the mirror, node metrics show fetched{upstream}=%v served{client}=%v; "+
			"containerd probably fell back to the upstream server (check ?ns= handling). ctr output:\n%s", layerBytes, fetched, served, o)
	}
	if o, err := ctd.Ctr(ctx, "images", "check", "--snapshotter", "native"); err != nil || !strings.Contains(o, "complete") || !strings.Contains(o, "true") {
		t.Errorf("ctr images check: %v\n%s", err, o)
	}
}
