package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
	"github.com/shoal-dev/shoal/policy"
)

// countingUpstream is an in-process registry that counts blob body bytes
// it sends.
type countingUpstream struct {
	*httptest.Server
	blobBytes atomic.Int64
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	u := &countingUpstream{}
	reg := quietRegistry()
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			w = countingWriter{w, &u.blobBytes}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

// quietRegistry is go-containerregistry's in-memory registry, without
// its request log.
func quietRegistry() http.Handler {
	return ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// waitConnected waits (at most 10 s) until a and b have peers.
func waitConnected(t *testing.T, a, b *Node) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.p2p.Peers() == 0 || b.p2p.Peers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nodes did not connect")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startFleetNode starts a node with p2p on loopback, joined through boot;
// opts change its configuration first.
func startFleetNode(t *testing.T, upstreamURL string, boot []string, opts ...func(*Config)) (*Node, *httptest.Server) {
	t.Helper()
	cfg := Config{
		DataDir:   filepath.Join(t.TempDir(), "data"),
		Upstreams: upstreamtest.Rules(t, "up="+upstreamURL),
		TagTTL:    time.Minute,
		P2PListen: []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap: boot,
		P2PTags:   true,
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })
	return n, srv
}

// TestPeerFetchLeavesUpstreamAlone pulls an image through one node, then
// through another: the second must take every blob from its peer, not a
// byte from upstream.
func TestPeerFetchLeavesUpstreamAlone(t *testing.T) {
	up := newCountingUpstream(t)
	img, err := random.Image(3<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(strings.TrimPrefix(up.URL, "http://") + "/app/img:v1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	a, srvA := startFleetNode(t, up.URL, nil)
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)

	pullImage(t, srvA, "up/app/img:v1")
	afterA := up.blobBytes.Load()
	if afterA == 0 {
		t.Fatal("the first pull took nothing from upstream")
	}
	// Let A advertise what it now holds.
	d, _ := img.Digest()
	for ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second); ; {
		ps, _ := b.p2p.FindProviders(ctx, digest.Digest(d.String()), 1)
		if len(ps) > 0 {
			cancel()
			break
		}
		if ctx.Err() != nil {
			cancel()
			break // designated fetches still keep upstream out of it
		}
		time.Sleep(50 * time.Millisecond)
	}
	pullImage(t, srvB, "up/app/img:v1")
	if extra := up.blobBytes.Load() - afterA; extra != 0 {
		t.Fatalf("the second pull took %d blob bytes from upstream, want 0 (its peer held everything)", extra)
	}
	if got := metricValue(t, b, `shoal_fetched_bytes_total{source="peer"}`); got <= 0 {
		t.Fatalf("node B fetched %v bytes from peers", got)
	}
}

func metricValue(t *testing.T, n *Node, series string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, series+" "), &v)
			return v
		}
	}
	t.Fatalf("no series %s in /metrics", series)
	return 0
}

// TestLocalRepositoryByTagThroughAnotherNode pushes an image to one node's
// local repository and pulls it by tag through another: the tag and the
// content come from the fleet.
func TestLocalRepositoryByTagThroughAnotherNode(t *testing.T) {
	up := newCountingUpstream(t)
	a, srvA := startFleetNode(t, up.URL, nil)
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	want := pushRandomImage(t, srvA.URL, "myteam/app", 1<<20, 2)
	// B may ask before A's content is advertised; a designated fetch
	// does not apply to local repositories.
	pullLocalImage(t, srvB.URL, up, want, 15*time.Second, "through the other node")
}

// pullLocalImage pulls myteam/app:v1 by tag through the node serving at
// url, for up to wait while the fleet learns of it (0: once), checks it
// is want, reads every layer, and checks that none of it came from
// upstream: it is a local repository's.
func pullLocalImage(t *testing.T, url string, up *countingUpstream, want v1.Hash, wait time.Duration, how string) {
	t.Helper()
	ref, _ := name.ParseReference(strings.TrimPrefix(url, "http://")+"/myteam/app:v1", name.Insecure)
	got, err := getEventually(ref, wait)
	if err != nil {
		t.Fatalf("pull by tag %s: %v", how, err)
	}
	if got.Digest != want {
		t.Fatalf("got %s, want %s", got.Digest, want)
	}
	readLayers(t, got)
	if up.blobBytes.Load() != 0 {
		t.Fatal("a local repository's content came from upstream")
	}
}

// getEventually asks for ref until it is answered or d has passed: what
// the fleet knows (an advertisement, a peer gone) takes a moment to
// change.
func getEventually(ref name.Reference, d time.Duration) (*remote.Descriptor, error) {
	for end := time.Now().Add(d); ; {
		got, err := remote.Get(ref)
		if err == nil || time.Now().After(end) {
			return got, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readLayers reads every layer of the image desc names, each checked
// against its digest by go-containerregistry.
func readLayers(t *testing.T, desc *remote.Descriptor) {
	t.Helper()
	pulled, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLocalRepositoryFromTheTagsPeerWithoutItsRecords pushes an image to
// a node that advertises nothing (its provider records lost, issue 11)
// and pulls it by tag through another node at once: the node that
// resolved the tag is asked for the manifest and the layers.
func TestLocalRepositoryFromTheTagsPeerWithoutItsRecords(t *testing.T) {
	up := newCountingUpstream(t)
	a, srvA := startFleetNode(t, up.URL, nil)
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	a.advertiser.Swap(nil).Close()
	want := pushRandomImage(t, srvA.URL, "myteam/app", 1<<20, 2)
	pullLocalImage(t, srvB.URL, up, want, 0, "through the other node")
}

// TestStatusListsConnectedPeers checks that each of two connected nodes
// lists the other in its status, at an address, with when it connected.
func TestStatusListsConnectedPeers(t *testing.T) {
	up := newCountingUpstream(t)
	a, _ := startFleetNode(t, up.URL, nil)
	b, _ := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	for _, tt := range []struct {
		name       string
		self, peer *Node
	}{
		{"a lists b", a, b},
		{"b lists a", b, a},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.self.Status()
			if len(st.ConnectedPeers) != 1 || st.Peers != 1 {
				t.Fatalf("connected_peers = %+v, peers = %d; want the one peer", st.ConnectedPeers, st.Peers)
			}
			p := st.ConnectedPeers[0]
			if p.ID != tt.peer.p2p.ID().String() || !strings.HasPrefix(p.Addr, "/ip4/127.0.0.1/tcp/") || p.ConnectedSince == nil || time.Since(*p.ConnectedSince) > time.Minute {
				t.Errorf("connected peer = %+v (since %v), want %s at a loopback address, connected just now", p, p.ConnectedSince, tt.peer.p2p.ID())
			}
			// Its version comes in libp2p's identify exchange, which
			// may finish just after the connection.
			for deadline := time.Now().Add(10 * time.Second); tt.self.Status().ConnectedPeers[0].Version != "test"; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the peer's version %q, want test", tt.self.Status().ConnectedPeers[0].Version)
				}
			}
		})
	}
}

// TestStatusHidesPeersFromNonAdmins: while a policy is in force the
// addresses of a node's peers, which map the fleet's network, go only to
// admins (loopback callers), as the admin endpoints do.
func TestStatusHidesPeersFromNonAdmins(t *testing.T) {
	up := newCountingUpstream(t)
	kit := newPolicyKit(t)
	a, _ := startFleetNode(t, up.URL, nil, func(c *Config) { c.PolicyRoots = rootKeys(t, kit.rootPEM) })
	b, _ := startFleetNode(t, up.URL, a.p2p.Addrs())
	waitConnected(t, a, b)
	status := func(remote string) adminapi.Status {
		t.Helper()
		w := serveReq(t, a.Handler(), req{path: "/shoal/v1/status", remote: remote})
		var st adminapi.Status
		if w.Code != http.StatusOK {
			t.Fatalf("status from %s: %d %s", remote, w.Code, w.Body.String())
		}
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := status("192.0.2.10:40000"); len(st.ConnectedPeers) != 1 {
		t.Fatalf("open node, non-loopback caller: connected_peers %+v, want b", st.ConnectedPeers)
	}
	doc := testDoc(t, 1, time.Now().Truncate(time.Second))
	doc.Peers = policy.Peers{Allow: []string{a.p2p.ID().String(), b.p2p.ID().String()}}
	w := serveReq(t, a.Handler(), req{method: http.MethodPut, path: "/shoal/v1/policy", body: kit.sign(t, doc), remote: "127.0.0.1:5555"})
	if w.Code != http.StatusOK {
		t.Fatalf("PUT policy: %d %s", w.Code, w.Body.String())
	}
	if st := status("192.0.2.10:40000"); st.ConnectedPeers != nil || st.KnownPeers != nil || st.Peers != 1 {
		t.Errorf("under a policy, non-loopback caller: connected_peers %+v, known_peers %+v (peers %d), want none listed (the count stays)", st.ConnectedPeers, st.KnownPeers, st.Peers)
	}
	if st := status("127.0.0.1:5555"); len(st.ConnectedPeers) != 1 || len(st.KnownPeers) != 1 {
		t.Errorf("under a policy, loopback caller: connected_peers %+v, known_peers %+v, want b", st.ConnectedPeers, st.KnownPeers)
	}
}

// pullImage pulls ref through srv, every layer read to the end.
func pullImage(t *testing.T, srv *httptest.Server, ref string) {
	t.Helper()
	layers, err := imageThrough(t, srv, ref).Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		if err := readLayer(l); err != nil {
			t.Fatal(err)
		}
	}
}

// imageThrough is ref as a client of srv sees it, its manifest read.
func imageThrough(t *testing.T, srv *httptest.Server, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(strings.TrimPrefix(srv.URL, "http://")+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// readLayer reads l to its end; remote checks its digest on Close.
func readLayer(l v1.Layer) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		rc.Close()
		return err
	}
	return rc.Close()
}
