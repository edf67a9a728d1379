package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// A blob the node stored for one mirrored repository is not served, nor
// its presence told, through another repository the upstream registry
// (docker-registry, which keeps blobs per repository) does not hold it
// in (issue 10, finding 1).
func TestBlobsScopedToTheirRepository(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	up := startUpstream(t, ctx)
	_, private := pushTestImage(t, up, "private/app:v1", 31, linuxAMD64, 256<<10)
	_, allowed := pushTestImage(t, up, "allowed/app:v1", 32, linuxAMD64, 256<<10)
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})

	// The node stores private/app's layer by pulling it.
	if r := getManifest(t, ctx, node.URL(), "up/private/app", "v1"); r.Status != 200 {
		t.Fatalf("pulling private/app: %s", r)
	}
	secret := private[len(private)-1]
	mustGetBlob(t, ctx, node.URL(), "up/private/app", secret)
	if r := getManifest(t, ctx, node.URL(), "up/allowed/app", "v1"); r.Status != 200 {
		t.Fatalf("pulling allowed/app: %s", r)
	}
	mustGetBlob(t, ctx, node.URL(), "up/allowed/app", allowed[len(allowed)-1])

	for _, repo := range []string{"up/allowed/doesnotexist", "up/allowed/app"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			r, err := do(ctx, method, fmt.Sprintf("%s/v2/%s/blobs/%s", node.URL(), repo, secret.Digest))
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusNotFound || (method == http.MethodGet && !strings.Contains(string(r.Body), "BLOB_UNKNOWN")) {
				t.Errorf("%s private/app's layer through %s: %s, want 404 BLOB_UNKNOWN", method, repo, r)
			}
		}
	}
	// Its own repository still serves it, from the store.
	mustGetBlob(t, ctx, node.URL(), "up/private/app", secret)
}
