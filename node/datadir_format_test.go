package node

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shoal-dev/shoal/internal/testtar"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/datadir"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// The data dir in testdata/datadir-format0.tar.gz was written by the
// release before data dir formats (see testdata/README.md): image
// up/app:v1 pulled through the node from upstream rule "up", and copied
// into local repository local/app:v1.
const (
	format0Manifest = "sha256:0a4ffe1e1ed75a068176d99e21b7d15181e753ebe66f5d7a7d147eb91201bb21"
	format0Config   = "sha256:3eebdd88ba176c76767493de60d5ae089f4943bcd27c980b62907792c1d6800a"
	format0Layer    = "sha256:4afaab779f7a6a74361778dc414582c7997632d23b3ae35e964c5b26356eb1e8"
)

// untarDataDir extracts testdata/datadir-format0.tar.gz into a new dir.
func untarDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	testtar.Extract(t, "testdata/datadir-format0.tar.gz", "", dir)
	return dir
}

// getDigest GETs path from n and returns the status and the body's digest.
func getDigest(t *testing.T, n *Node, path string) (int, digest.Digest) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://node.test"+path, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	n.Handler().ServeHTTP(w, r)
	return w.Code, digest.FromBytes(w.Body.Bytes())
}

func nodeStatus(t *testing.T, n *Node) adminapi.Status {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "http://node.test/shoal/v1/status", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	n.Handler().ServeHTTP(w, r)
	var st adminapi.Status
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A data dir written by the previous release (format 0) is upgraded in
// place and serves what it held, with no upstream to fall back on.
func TestOpensDataDirOfPreviousRelease(t *testing.T) {
	dir := untarDataDir(t)
	if v, err := datadir.Read(dir); err != nil || v != 0 {
		t.Fatalf("fixture format = %d, %v; want 0", v, err)
	}
	n, err := New(Config{DataDir: dir, Upstreams: upstreamtest.Rules(t, "up=http://127.0.0.1:9")}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if v, err := datadir.Read(dir); err != nil || v != datadir.Current {
		t.Fatalf("format after start = %d, %v; want %d", v, err, datadir.Current)
	}
	if rb := nodeStatus(t, n).Cache.Rebuild; rb != nil {
		t.Fatalf("a whole data dir was rebuilt: %+v", rb)
	}
	for _, path := range []string{
		"/v2/local/app/manifests/v1",
		"/v2/local/app/manifests/" + format0Manifest,
		"/v2/local/app/blobs/" + format0Config,
		"/v2/local/app/blobs/" + format0Layer,
		"/v2/up/app/manifests/" + format0Manifest,
		"/v2/up/app/blobs/" + format0Config,
		"/v2/up/app/blobs/" + format0Layer,
	} {
		want := path[strings.LastIndexAny(path, "/")+1:]
		if want == "v1" {
			want = format0Manifest
		}
		if code, d := getDigest(t, n, path); code != http.StatusOK || d.String() != want {
			t.Errorf("GET %s = %d, digest %s; want 200, %s", path, code, d, want)
		}
	}
}

// fixtureUpstream serves the fixture's blobs as upstream repository app,
// counting the blob GETs it answers.
func fixtureUpstream(t *testing.T, dir string, gets *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		d, ok := strings.CutPrefix(r.URL.Path, "/v2/app/blobs/")
		dg, err := digest.Parse(d)
		if !ok || err != nil {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, "store", "blobs", "sha256", dg.Encoded()[:2], dg.Encoded()))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodGet {
			gets.Add(1)
		}
		w.Header().Set("Docker-Content-Digest", d)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A data dir whose metadata was deleted or damaged starts, says in its
// status that it rebuilt, and serves every blob it held from its store
// with the right digest (the upstream only confirms the repository holds
// it: no blob is fetched again).
func TestRebuildsDamagedMetadata(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, meta string)
	}{
		{"deleted", func(t *testing.T, meta string) {
			if err := os.RemoveAll(meta); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage", func(t *testing.T, meta string) {
			if err := os.WriteFile(filepath.Join(meta, "MANIFEST"), []byte("not badger's"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := untarDataDir(t)
			tt.damage(t, filepath.Join(dir, "store", "meta"))
			var gets atomic.Int32
			up := fixtureUpstream(t, dir, &gets)
			n, err := New(Config{DataDir: dir, Upstreams: upstreamtest.Rules(t, "up="+up.URL)}, "test")
			if err != nil {
				t.Fatalf("start with damaged metadata: %v", err)
			}
			defer n.Close()
			rb := nodeStatus(t, n).Cache.Rebuild
			if rb == nil || rb.Blobs != 3 || len(rb.Lost) == 0 {
				t.Fatalf("status cache.rebuild = %+v, want 3 blobs rebuilt and what was lost", rb)
			}
			for _, d := range []string{format0Manifest, format0Config, format0Layer} {
				if code, got := getDigest(t, n, "/v2/up/app/blobs/"+d); code != http.StatusOK || got.String() != d {
					t.Errorf("GET blob %s = %d, digest %s", d, code, got)
				}
			}
			if g := gets.Load(); g != 0 {
				t.Errorf("upstream served %d blob GETs; the store should have served them", g)
			}
		})
	}
}
