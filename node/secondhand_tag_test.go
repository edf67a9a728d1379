package node

import (
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// TestLocalRepositoryByTagWhileItsOwnerIsDown pushes an image to a, pulls
// it through b, stops a and pulls it by tag through c: b, which holds it,
// answers the tag as secondhand (issue 11: pushed images failed with 404s
// while the node they were pushed to was down).
func TestLocalRepositoryByTagWhileItsOwnerIsDown(t *testing.T) {
	up := newCountingUpstream(t)
	a, srvA := startOwnNode(t, up.URL)
	var stopA sync.Once
	stop := func() { stopA.Do(func() { srvA.Close(); a.Close() }) }
	t.Cleanup(stop)
	b, srvB := startFleetNode(t, up.URL, a.p2p.Addrs())
	c, srvC := startFleetNode(t, up.URL, b.p2p.Addrs())
	waitConnected(t, a, b)
	waitConnected(t, b, c)
	want := pushRandomImage(t, srvA.URL, "myteam/app", 1<<20, 2)
	pullLocalImage(t, srvB.URL, up, want, 0, "through b")

	stop()
	// c may still be connected to a when a stops; a peer that went away
	// answers nothing and is not asked again.
	pullLocalImage(t, srvC.URL, up, want, 15*time.Second, "through c while a is down")
}

// startOwnNode starts a fleet node as startFleetNode does, that the
// caller closes.
func startOwnNode(t *testing.T, upstreamURL string) (*Node, *httptest.Server) {
	t.Helper()
	n, err := New(Config{
		DataDir:   filepath.Join(t.TempDir(), "data"),
		Upstreams: upstreamtest.Rules(t, "up="+upstreamURL),
		TagTTL:    time.Minute,
		P2PListen: []string{"/ip4/127.0.0.1/tcp/0"},
		P2PTags:   true,
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return n, httptest.NewServer(n.Handler())
}
