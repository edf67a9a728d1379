package node

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// A manifest pushed to one node's private repository is not fetched from
// that node through another repository name on another node (issue 10,
// finding 2): peers answer only from the repository they are asked for.
func TestPeersServeOnlyTheRepositoryAskedFor(t *testing.T) {
	up := newCountingUpstream(t)
	a, srvA := startFleetNode(t, up.URL, nil)
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	img, err := random.Image(1<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	pushRef, _ := name.ParseReference(strings.TrimPrefix(srvA.URL, "http://")+"/team/private:v1", name.Insecure)
	if err := remote.Write(pushRef, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	get := func(repo string) int {
		req, _ := http.NewRequest(http.MethodGet, srvB.URL+"/v2/"+repo+"/manifests/"+d.String(), nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Through its own name B finds it on A (once A has advertised it);
	// through another name, never.
	ok := false
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got := get("team/private"); got == http.StatusOK {
			ok = true
			break
		}
	}
	if !ok {
		t.Fatal("B never fetched team/private's manifest from A through its own name")
	}
	for _, repo := range []string{"team/allowed", "other/app"} {
		if got := get(repo); got != http.StatusNotFound {
			t.Fatalf("team/private's manifest through %s on B: %d, want 404", repo, got)
		}
	}
}
