package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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

// A manifest that lists another repository's blob as a non-distributable
// layer (which a push does not check) does not make it readable through
// the fleet: not from the node it was pushed to, which answered peers
// asking for its repository with every blob its manifests list, nor
// from a node that fetched the manifest and stores the blob for the
// other repository (found by the property test).
func TestFleetShowsNoNonDistributableLayer(t *testing.T) {
	up := newCountingUpstream(t)
	a, srvA := startFleetNode(t, up.URL, nil)
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	secretBody := []byte("a private layer, pushed into private/app")
	secret := pushBlob(t, srvA.URL, "private/app", secretBody)
	cfg := pushBlob(t, srvA.URL, "team/app", []byte("{}"))
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfg, Size: 2},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // what is tested
			Digest: secret, Size: int64(len(secretBody))}},
	}
	if status := putManifest(t, srvA.URL, "team/app", "v1", m); status != http.StatusCreated {
		t.Fatalf("pushing the manifest: %d", status)
	}
	// B reads what it may through the names that hold it, once A's
	// advertisements have reached it.
	eventually := func(path string) {
		t.Helper()
		for end := time.Now().Add(15 * time.Second); getStatus(t, http.MethodGet, srvB.URL+path) != http.StatusOK; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("GET %s on B never succeeded", path)
			}
		}
	}
	notThroughTeamApp := func(when string) {
		t.Helper()
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if got := getStatus(t, method, srvB.URL+"/v2/team/app/blobs/"+secret.String()); got != http.StatusNotFound {
				t.Fatalf("%s of private/app's blob through team/app on B, %s: %d, want 404", method, when, got)
			}
		}
	}
	for ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ps, _ := b.p2p.FindProviders(ctx, secret, 1); len(ps) > 0 {
			cancel()
			break
		}
		if ctx.Err() != nil {
			t.Fatal("B never found A holding the blob")
		}
	}
	notThroughTeamApp("asking A")
	eventually("/v2/private/app/blobs/" + secret.String())
	eventually("/v2/team/app/manifests/v1")
	notThroughTeamApp("with team/app's manifest fetched and the blob stored on B")
}
