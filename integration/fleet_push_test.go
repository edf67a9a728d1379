package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shoal-dev/shoal/integration/harness"
)

// --- Pushed while partitioned -------------------------------------------------

// Issue 11: an image pushed to n0 while n0 is cut off from the fleet is
// pulled through the other nodes once the partition heals. Through n2 by
// digest alone, which only the DHT can lead to n0 for: n0 advertises what
// it stored while alone once it has peers again (a pass when peers come
// back, or a retried provide), not 12 hours later. Through n1 by tag at
// once: the peer that resolved the tag is asked for the content too.
func testFleetPushedWhilePartitioned(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 2*time.Minute)
	f := fleetNew(t, ctx, env, "pushpart", true)
	// The island's name sorts before the fleet network's, so n0's
	// published port goes through it and the test can push to n0 while
	// n0 is cut off from the fleet.
	island, err := f.CreateNetwork(ctx, "b-island", false)
	if err != nil {
		t.Fatal(err)
	}
	n0 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n0", Networks: []*harness.Network{island}})
	boot := []*harness.FleetNode{n0}
	n1 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n1", Bootstrap: boot})
	n2 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n2", Bootstrap: boot})
	all := []*harness.FleetNode{n0, n1, n2}
	fleetWaitPeers(t, ctx, 2, all...)

	ip, err := n0.IP(ctx, f.Net.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Net.Disconnect(ctx, n0.Container); err != nil {
		t.Fatal(err)
	}
	partedAt := time.Now()
	// n0 may notice it is alone (its connections time out) or not yet:
	// either way what it stores now has no record in the DHT.
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if p, err := n0.Peers(ctx); err == nil && p == 0 {
			t.Logf("n0 alone %v after the partition", time.Since(partedAt).Round(time.Millisecond))
			break
		}
	}
	img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 1101, 1<<20, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	im := fleetPushToNode(t, ctx, n0, "team/pushed", "1", img)

	if err := f.Net.Connect(ctx, n0.Container, ip); err != nil {
		t.Fatal(err)
	}
	healedAt := time.Now()
	fleetWaitPeers(t, ctx, 2, all...)
	t.Logf("fleet whole again %v after healing", time.Since(healedAt).Round(time.Millisecond))

	// By digest through n2: found through n0's provider records, which
	// must be published within about a minute of healing (a pass at most
	// once a minute, retries after 5, 10, 20 s…).
	var lastErr error
	for end := time.Now().Add(75 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		if _, lastErr = fleetPull(ctx, n2, im, false); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("pull by digest through n2 still failing %v after healing: %v", time.Since(healedAt).Round(time.Second), lastErr)
	}
	t.Logf("pulled %s by digest through n2 %v after healing", im.repo, time.Since(healedAt).Round(time.Millisecond))
	// By tag through n1, at the first try.
	fleetMustPull(t, ctx, n1, im, true)
}

// --- Pushed, owner down --------------------------------------------------------

// Issue 11: an image pushed to n0 and pulled through n1 is pulled by tag
// through n2 while n0 is stopped: n1 answers the tag secondhand, and
// holds the manifest and the layers.
func testFleetPushedOwnerDown(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 2*time.Minute)
	f := fleetNew(t, ctx, env, "pushdown", false)
	n0 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n0"})
	boot := []*harness.FleetNode{n0}
	n1 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n1", Bootstrap: boot})
	n2 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n2", Bootstrap: boot})
	fleetWaitPeers(t, ctx, 2, n0, n1, n2)

	img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, 1102, 1<<20, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	im := fleetPushToNode(t, ctx, n0, "team/ownerdown", "1", img)
	fleetMustPull(t, ctx, n1, im, true)

	if err := n0.Container.Stop(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	// n2 may not yet have noticed that n0 is gone: a tag lookup waits
	// for it at most the tag timeout (3 s), and then takes n1's answer.
	fleetMustPull(t, ctx, n2, im, true)
	t.Logf("pulled %s by tag through n2 %v after n0 stopped", im.repo, time.Since(stoppedAt).Round(time.Millisecond))
}

// fleetPushToNode pushes img into the local repository repo of node n as
// repo:tag.
func fleetPushToNode(t *testing.T, ctx context.Context, n *harness.FleetNode, repo, tag string, img v1.Image) *fleetImage {
	t.Helper()
	if err := harness.PushImage(ctx, strings.TrimPrefix(n.URL(), "http://")+"/"+repo+":"+tag, img); err != nil {
		t.Fatalf("pushing %s:%s to %s: %v", repo, tag, n.Short, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := harness.ImageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}
	return &fleetImage{repo: repo, tag: tag, name: repo, digest: d.String(), blobs: blobs}
}
