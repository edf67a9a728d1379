package integration

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
	"github.com/shoal-dev/shoal/internal/testfs"
)

// The issue 11 report: crane pulls a 64 MiB image through a node whose
// data dir sits on a 40 MiB filesystem. The pull succeeds (crane's OCI
// layout is checked blob by blob against the digests), what did not fit
// was passed through, and the node stays ready.
func TestCranePullThroughFullDisk(t *testing.T) {
	skipIfShort(t)
	requireRoot(t)
	tools := requireTool(t, "crane")
	ctx := testContext(t, 4*time.Minute)
	up := startUpstream(t, ctx)
	img, blobs := pushTestImage(t, up, "big/app:v1", 21, linuxAMD64, 48*mib, 16*mib)
	dataDir := filepath.Join(testfs.Small(t, 40*mib), "data")
	node := startNode(t, ctx, harness.NodeConfig{DataDir: dataDir, Upstreams: []string{"up=" + up.URL()}})
	md, _ := img.Digest()
	ref := node.Addr + "/up/big/app:v1"

	layout := filepath.Join(t.TempDir(), "layout")
	if o, err := runTool(ctx, tools["crane"], "pull", "--insecure", "--format", "oci", ref, layout); err != nil {
		t.Fatalf("crane pull --insecure %s through a node on a 40 MiB filesystem: %v\n%s", ref, err, o)
	}
	checkOCILayout(t, layout, md.String(), blobs)

	n, err := node.Metric(ctx, "shoal_passthrough_total", `kind="blob"`)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("shoal_passthrough_total{kind=\"blob\"} = %v: the 48 MiB layer cannot have been stored", n)
	}
	st, err := node.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := st["cache"].(map[string]any)
	if state, _ := cache["state"].(string); state != "ok" && state != "degraded" {
		t.Errorf("status cache.state = %q", state)
	}
	r, err := do(ctx, http.MethodGet, node.URL()+"/readyz")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 200 {
		t.Errorf("/readyz = %s, want 200: the node serves by pass-through", r)
	}
	if cache["state"] == "degraded" && !strings.Contains(string(r.Body), "degraded") {
		t.Errorf("/readyz does not name the degraded store: %q", r.Body)
	}
}
