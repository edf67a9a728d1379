package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/integration/harness"
	"github.com/shoal-dev/shoal/p2p"
)

// The fleet tests run shoal nodes in docker containers (FROM scratch, a
// static build with the shoalfault tag) on bridge networks the tests create
// and remove, with Debian's docker-registry as upstream in a container on
// the same network. They pull through the nodes over published 127.0.0.1
// ports and check every byte against its digest; ProbeFromOutside talks
// to its node at the node's address on the test's network instead, so
// that the node sees a caller that is not on loopback.
//
// TestFleet builds the binary and the two images once for its subtests and
// removes them at the end; each subtest sets up and tears down its own
// networks and containers.
func TestFleet(t *testing.T) {
	skipIfShort(t)
	ctx := testContext(t, 9*time.Minute)
	if err := harness.DockerAvailable(ctx); err != nil {
		if inCI {
			t.Fatalf("no Docker engine (CI=true, so this fails instead of skipping): %v", err)
		}
		t.Skipf("skipping the fleet tests: no Docker engine is reachable: %v", err)
	}
	requireTool(t, "docker-registry", "ldd")

	id := fleetRandomHex(t, 4)
	env := &fleetEnv{
		id:            id,
		nodeImage:     "shoal-test:" + id,
		upstreamImage: "shoal-test-upstream:" + id,
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, img := range []string{env.nodeImage, env.upstreamImage} {
			if err := harness.RemoveImage(ctx, img); err != nil {
				t.Errorf("removing image %s: %v", img, err)
			}
		}
	})
	bin, err := harness.BuildStaticShoal(ctx, t.TempDir(), "shoalfault")
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.BuildNodeImage(ctx, bin, env.nodeImage); err != nil {
		t.Fatal(err)
	}
	if err := harness.BuildUpstreamImage(ctx, env.upstreamImage); err != nil {
		t.Fatal(err)
	}

	t.Run("NodeKilledMidTransfer", func(t *testing.T) { testFleetNodeKilledMidTransfer(t, env) })
	t.Run("Partition", func(t *testing.T) { testFleetPartition(t, env) })
	t.Run("UpstreamStopped", func(t *testing.T) { testFleetUpstreamStopped(t, env) })
	t.Run("CorruptPeer", func(t *testing.T) { testFleetCorruptPeer(t, env) })
	t.Run("SwarmKey", func(t *testing.T) { testFleetSwarmKey(t, env) })
	t.Run("SwarmNodeKilled", func(t *testing.T) { testFleetSwarmKill(t, env) })
	t.Run("SwarmCorruptRelayer", func(t *testing.T) { testFleetSwarmCorrupt(t, env) })
	t.Run("SwarmPartition", func(t *testing.T) { testFleetSwarmPartition(t, env) })
	t.Run("ProbeFromOutside", func(t *testing.T) { testFleetProbeFromOutside(t, env) })
	t.Run("PushedWhilePartitioned", func(t *testing.T) { testFleetPushedWhilePartitioned(t, env) })
	t.Run("PushedOwnerDown", func(t *testing.T) { testFleetPushedOwnerDown(t, env) })
}

// fleetEnv is what TestFleet prepared for its subtests.
type fleetEnv struct {
	id            string
	nodeImage     string
	upstreamImage string
}

func fleetRandomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// fleetNew creates the fleet network and upstream for t; everything is
// removed when t ends, after the containers' logs were shown if t failed.
func fleetNew(t *testing.T, ctx context.Context, env *fleetEnv, name string, pinSubnet bool) *harness.Fleet {
	t.Helper()
	f, err := harness.NewFleet(ctx, harness.FleetConfig{
		Prefix:        fmt.Sprintf("shoaltest-%s-%s", env.id, name),
		NodeImage:     env.nodeImage,
		UpstreamImage: env.upstreamImage,
		Labels:        map[string]string{"shoal.test": env.id},
		PinSubnet:     pinSubnet,
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if t.Failed() {
			t.Logf("container logs (badger's debug lines left out):\n%s", f.Logs(ctx, 150, "badger"))
		}
		if err := f.Close(ctx); err != nil {
			t.Errorf("removing the fleet: %v", err)
		}
	})
	if err != nil {
		t.Fatalf("setting up the fleet: %v", err)
	}
	return f
}

func fleetStartNode(t *testing.T, ctx context.Context, f *harness.Fleet, spec harness.NodeSpec) *harness.FleetNode {
	t.Helper()
	n, err := f.StartNode(ctx, spec)
	if err != nil {
		t.Fatalf("starting node %s: %v", spec.Name, err)
	}
	return n
}

func fleetWaitPeers(t *testing.T, ctx context.Context, min int, nodes ...*harness.FleetNode) {
	t.Helper()
	if err := harness.WaitPeers(ctx, nodes, min, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// fleetImage is an image pushed to a fleet's upstream, with what a pull
// must get.
type fleetImage struct {
	repo, tag string
	// name is the repository's name through a node: the upstream rule
	// and repo for a mirrored image, repo for one pushed to a node.
	name   string
	digest string
	blobs  []harness.BlobInfo
}

// fleetPushImage pushes a single-platform image with one layer per size to
// the fleet's upstream as repo:tag.
func fleetPushImage(t *testing.T, ctx context.Context, f *harness.Fleet, repo, tag string, seed uint64, sizes ...int64) *fleetImage {
	t.Helper()
	img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, sizes...)
	if err != nil {
		t.Fatal(err)
	}
	return fleetPushBuilt(t, ctx, f, repo, tag, img)
}

// fleetPushBuilt pushes img to the fleet's upstream as repo:tag.
func fleetPushBuilt(t *testing.T, ctx context.Context, f *harness.Fleet, repo, tag string, img v1.Image) *fleetImage {
	t.Helper()
	if err := harness.PushImage(ctx, f.UpstreamAddr+"/"+repo+":"+tag, img); err != nil {
		t.Fatalf("pushing %s:%s to the upstream: %v", repo, tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := harness.ImageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}
	return &fleetImage{repo: repo, tag: tag, name: harness.UpstreamRule + "/" + repo, digest: d.String(), blobs: blobs}
}

// layer is the image's first layer.
func (im *fleetImage) layer() harness.BlobInfo { return im.blobs[1] }

// fleetPullResult is what a pull through a node saw.
type fleetPullResult struct {
	// Warning is the manifest response's Warning header.
	Warning string
}

// fleetPull pulls im through node as a client would, by tag or by digest:
// the manifest, then every blob. Everything must be 200 and match its
// digest.
func fleetPull(ctx context.Context, n *harness.FleetNode, im *fleetImage, byTag bool) (*fleetPullResult, error) {
	ref := im.digest
	if byTag {
		ref = im.tag
	}
	res, err := fleetGetManifest(ctx, n, im, ref)
	if err != nil {
		return nil, err
	}
	for _, b := range im.blobs {
		if err := fleetGetBlob(ctx, n, im, b); err != nil {
			return res, err
		}
	}
	return res, nil
}

func fleetMustPull(t *testing.T, ctx context.Context, n *harness.FleetNode, im *fleetImage, byTag bool) *fleetPullResult {
	t.Helper()
	start := time.Now()
	res, err := fleetPull(ctx, n, im, byTag)
	if err != nil {
		t.Fatalf("pull of %s through node %s (by tag: %v) failed after %v: %v", im.repo, n.Short, byTag, time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("pulled %s through %s (by tag: %v) in %v", im.repo, n.Short, byTag, time.Since(start).Round(time.Millisecond))
	return res
}

func fleetGetManifest(ctx context.Context, n *harness.FleetNode, im *fleetImage, ref string) (*fleetPullResult, error) {
	url := fmt.Sprintf("%s/v2/%s/manifests/%s", n.URL(), im.name, ref)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", harness.ManifestAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %s, reading the body: %w", url, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	if got := harness.SHA256(body); got != im.digest {
		return nil, fmt.Errorf("GET %s: manifest hashes to %s, want %s", url, got, im.digest)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != im.digest {
		return nil, fmt.Errorf("GET %s: Docker-Content-Digest %q, want %s", url, h, im.digest)
	}
	return &fleetPullResult{Warning: resp.Header.Get("Warning")}, nil
}

// fleetGetBlob GETs blob b through n, hashing it as it streams.
func fleetGetBlob(ctx context.Context, n *harness.FleetNode, im *fleetImage, b harness.BlobInfo) error {
	url := fmt.Sprintf("%s/v2/%s/blobs/%s", n.URL(), im.name, b.Digest)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	h := sha256.New()
	got, err := io.Copy(h, resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: 200, body broke after %d of %d bytes: %w", url, got, b.Size, err)
	}
	if d := "sha256:" + hex.EncodeToString(h.Sum(nil)); d != b.Digest.String() || got != b.Size {
		return fmt.Errorf("GET %s: %w: 200 with %d bytes hashing to %s, want %d bytes, %s", url, errFleetWrongBlob, got, d, b.Size, b.Digest)
	}
	return nil
}

// errFleetWrongBlob is a blob response that ended cleanly with the wrong
// bytes: what a node must never send, whatever its peers did.
var errFleetWrongBlob = errors.New("a complete response with the wrong content")

// fleetCheckPull is fleetMustPull that goes on after a failure.
func fleetCheckPull(t *testing.T, ctx context.Context, n *harness.FleetNode, im *fleetImage, byTag bool) bool {
	t.Helper()
	start := time.Now()
	if _, err := fleetPull(ctx, n, im, byTag); err != nil {
		t.Errorf("pull of %s through node %s (by tag: %v) failed after %v: %v", im.repo, n.Short, byTag, time.Since(start).Round(time.Millisecond), err)
		return false
	}
	t.Logf("pulled %s through %s (by tag: %v) in %v", im.repo, n.Short, byTag, time.Since(start).Round(time.Millisecond))
	return true
}

// fleetClosest is the node whose peer ID is closest to blob d's DHT key:
// the one a node asks first to fetch d from upstream for the fleet.
func fleetClosest(t *testing.T, d string, nodes ...*harness.FleetNode) *harness.FleetNode {
	t.Helper()
	c, err := p2p.CID(digest.Digest(d))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[peer.ID]*harness.FleetNode{}
	var ids []peer.ID
	for _, n := range nodes {
		id, err := peer.Decode(n.PeerID)
		if err != nil {
			t.Fatal(err)
		}
		byID[id] = n
		ids = append(ids, id)
	}
	return byID[kb.SortClosestPeers(ids, kb.ConvertKey(string(c.Hash())))[0]]
}

// fleetMetric reads one series of a node's /metrics, failing t on error.
func fleetMetric(t *testing.T, ctx context.Context, n *harness.FleetNode, name, label string) float64 {
	t.Helper()
	v, err := n.API.Metric(ctx, name, label)
	if err != nil {
		t.Fatalf("node %s /metrics: %v", n.Short, err)
	}
	return v
}

// fleetWriteSwarmKey writes a libp2p pnet key file with a random key.
func fleetWriteSwarmKey(t *testing.T, path string) {
	t.Helper()
	key := "/key/swarm/psk/1.0.0/\n/base16/\n" + fleetRandomHex(t, 32) + "\n"
	if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fleetStatusJSON is a node's /shoal/v1/status, for logs.
func fleetStatusJSON(ctx context.Context, n *harness.FleetNode) string {
	st, err := n.API.Status(ctx)
	if err != nil {
		return err.Error()
	}
	b, _ := json.Marshal(map[string]any{"peers": st["peers"], "cache": st["cache"]})
	return string(b)
}

// pieceWindowBytes bounds what B may have fetched ahead of what it had
// delivered (p2p's pieceWindow pieces in flight).
const pieceWindowBytes = 4 * p2p.PieceSize

// --- 1. A node killed mid-transfer -----------------------------------------

// A 200 MiB layer is held by nodes A and C only; the upstream is cut off;
// node B streams it to a client, and A is killed while B is receiving. The
// client must still get every byte right: B goes on with C.
func testFleetNodeKilledMidTransfer(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 3*time.Minute)
	f := fleetNew(t, ctx, env, "kill", false)
	a := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "a"})
	c := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "c", Bootstrap: []*harness.FleetNode{a}})
	fleetWaitPeers(t, ctx, 1, a, c)

	big := fleetPushImage(t, ctx, f, "fleet/big", "1", 101, 200<<20)
	fleetMustPull(t, ctx, a, big, true)
	fleetMustPull(t, ctx, c, big, false)

	// B joins only now, so it is no designated fetcher of the image and
	// holds nothing of it. Its CPU is limited so that the transfer lasts
	// long enough to kill A in the middle of it.
	b := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "b", Bootstrap: []*harness.FleetNode{a}, CPUs: "0.5"})
	fleetWaitPeers(t, ctx, 2, a, b, c)
	if err := f.Net.Disconnect(ctx, f.Upstream); err != nil {
		t.Fatal(err)
	}
	// The manifest and config come from the peers too.
	if _, err := fleetGetManifest(ctx, b, big, big.digest); err != nil {
		t.Fatal(err)
	}
	if err := fleetGetBlob(ctx, b, big, big.blobs[0]); err != nil {
		t.Fatal(err)
	}

	layer := big.layer()
	aPid, err := a.Pid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := fleetMetric(t, ctx, b, "shoal_fetched_bytes_total", `source="peer"`)
	aBefore := fleetMetric(t, ctx, a, "shoal_served_bytes_total", `to="peer"`)
	cBefore := fleetMetric(t, ctx, c, "shoal_served_bytes_total", `to="peer"`)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- fleetGetBlob(ctx, b, big, layer) }()

	// Kill A once B has taken in some of the layer from peers.
	var killedAt float64
	err = waitFor(ctx, 60*time.Second, func() error {
		select {
		case err := <-done:
			done <- err
			return nil
		default:
		}
		got := fleetMetric(t, ctx, b, "shoal_fetched_bytes_total", `source="peer"`) - before
		if got < 8<<20 {
			return fmt.Errorf("B has %v bytes of the layer from peers", got)
		}
		killedAt = got
		return nil
	})
	if err != nil {
		t.Fatalf("B's transfer never got going: %v", err)
	}
	if killedAt == 0 {
		t.Fatalf("the pull through B ended before A could be killed: %v", <-done)
	}
	aServed := fleetMetric(t, ctx, a, "shoal_served_bytes_total", `to="peer"`) - aBefore
	// SIGKILL from the host lands at once; docker kill took seconds on a
	// loaded CI machine, long enough for B to finish the layer from A
	// and C together.
	if err := syscall.Kill(aPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Kill(ctx) // for docker's own record; A is already dead
	if aServed == 0 {
		t.Fatalf("A had served B nothing when it was killed: B was not fetching from it, so nothing was tested")
	}
	afterKill := fleetMetric(t, ctx, b, "shoal_fetched_bytes_total", `source="peer"`) - before
	t.Logf("killed A %v into the pull, when B had %.0f of %d bytes (%.0f once docker kill returned) and A had served %.0f", time.Since(start).Round(time.Millisecond), killedAt, layer.Size, afterKill, aServed)
	if afterKill >= float64(layer.Size) {
		t.Fatalf("B had the whole layer (%.0f bytes) by the time A was dead: the kill did not land mid-transfer, so nothing was tested", afterKill)
	}

	if err := <-done; err != nil {
		t.Fatalf("the client's pull through B failed after A was killed: %v", err)
	}
	t.Logf("pull of %d bytes through B took %v", layer.Size, time.Since(start).Round(time.Millisecond))
	if up := fleetMetric(t, ctx, b, "shoal_fetched_bytes_total", `source="upstream"`); up != 0 {
		t.Errorf("B fetched %v bytes from upstream, which was disconnected", up)
	}
	if peer := fleetMetric(t, ctx, b, "shoal_fetched_bytes_total", `source="peer"`) - before; peer < float64(layer.Size) {
		t.Errorf("B took %v bytes of the %d-byte layer from peers", peer, layer.Size)
	}
	cServed := fleetMetric(t, ctx, c, "shoal_served_bytes_total", `to="peer"`) - cBefore
	t.Logf("C served B %.0f bytes", cServed)
	if cServed < float64(layer.Size)-afterKill-float64(pieceWindowBytes) {
		t.Errorf("C served B %.0f bytes, but B still needed %.0f after A died: B did not go on with C", cServed, float64(layer.Size)-afterKill)
	}
	// The layer is stored whole on B: a second pull is served from its store.
	if err := fleetGetBlob(ctx, b, big, layer); err != nil {
		t.Fatalf("second pull through B: %v", err)
	}
}

// --- 2. Partition ------------------------------------------------------------

// Four nodes; n2 and n3 also share an island network. Each half pulls its
// own image, the upstream stops, and n2 and n3 are cut off the fleet
// network: each half keeps serving its image within itself. After the
// partition heals (same IPs), each half fetches the other's image from
// peers.
func testFleetPartition(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 3*time.Minute)
	f := fleetNew(t, ctx, env, "part", true)
	// The island's name sorts before the fleet network's, so n2's and
	// n3's published ports go through it and survive the partition.
	island, err := f.CreateNetwork(ctx, "b-island", false)
	if err != nil {
		t.Fatal(err)
	}
	n0 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n0"})
	boot := []*harness.FleetNode{n0}
	n1 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n1", Bootstrap: boot})
	n2 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n2", Bootstrap: boot, Networks: []*harness.Network{island}})
	// n3 joins n2 through the island first, so that their connection runs
	// there and outlives the partition, as it would in a real one.
	n2Island, err := n2.BootstrapAddr(ctx, island.Name)
	if err != nil {
		t.Fatal(err)
	}
	n3 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n3", BootstrapAddrs: []string{n2Island}, Bootstrap: boot, Networks: []*harness.Network{island}})
	all := []*harness.FleetNode{n0, n1, n2, n3}
	fleetWaitPeers(t, ctx, 3, all...)

	x := fleetPushImage(t, ctx, f, "fleet/part-x", "1", 201, 3<<20, 1<<20)
	y := fleetPushImage(t, ctx, f, "fleet/part-y", "1", 202, 3<<20, 1<<20)
	fleetMustPull(t, ctx, n0, x, true)
	fleetMustPull(t, ctx, n2, y, true)
	if err := f.Upstream.Stop(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	ips := map[*harness.FleetNode]string{}
	for _, n := range []*harness.FleetNode{n2, n3} {
		ip, err := n.IP(ctx, f.Net.Name)
		if err != nil {
			t.Fatal(err)
		}
		ips[n] = ip
		if err := f.Net.Disconnect(ctx, n.Container); err != nil {
			t.Fatal(err)
		}
	}
	partedAt := time.Now()

	// Within each half the image it holds is served, by tag and digest.
	fleetMustPull(t, ctx, n1, x, true)
	fleetMustPull(t, ctx, n3, y, true)
	fleetMustPull(t, ctx, n3, y, false)
	// Across the partition, y's tag is unknown to n0 and n1.
	start := time.Now()
	if _, err := fleetPull(ctx, n1, y, true); err == nil {
		t.Errorf("n1 served %s by tag across the partition with the upstream stopped", y.repo)
	} else {
		t.Logf("as expected, n1 cannot serve %s across the partition (%v): %v", y.repo, time.Since(start).Round(time.Millisecond), err)
	}
	for _, n := range all {
		t.Logf("partitioned %v: %s %s", time.Since(partedAt).Round(time.Millisecond), n.Short, fleetStatusJSON(ctx, n))
	}

	// Heal: the same addresses come back.
	for _, n := range []*harness.FleetNode{n2, n3} {
		if err := f.Net.Connect(ctx, n.Container, ips[n]); err != nil {
			t.Fatal(err)
		}
	}
	healedAt := time.Now()
	if err := harness.WaitPeers(ctx, all, 3, 15*time.Second); err != nil {
		t.Logf("15s after the partition healed the fleet is not whole again: %v", err)
	} else {
		t.Logf("fleet whole again %v after healing", time.Since(healedAt).Round(time.Millisecond))
	}

	// Each half fetches the other's image from peers, by tag as clients
	// do (the tag is asked of connected peers), then by digest (a DHT
	// lookup, which dials the holders).
	fleetCheckPull(t, ctx, n1, y, true)
	fleetCheckPull(t, ctx, n3, x, true)
	fleetCheckPull(t, ctx, n0, y, false)
	fleetCheckPull(t, ctx, n2, x, false)
	fleetCheckPull(t, ctx, n1, y, true)
	for _, n := range all {
		t.Logf("healed %v: %s %s", time.Since(healedAt).Round(time.Millisecond), n.Short, fleetStatusJSON(ctx, n))
	}
}

// --- 3. Upstream stopped -----------------------------------------------------

// Two images pulled through different nodes; with the upstream stopped,
// every node serves both by tag (the tag via its own last known digest or
// its peers') and by digest.
func testFleetUpstreamStopped(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 2*time.Minute)
	f := fleetNew(t, ctx, env, "up", false)
	n0 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "n0"})
	boot := []*harness.FleetNode{n0}
	nodes := []*harness.FleetNode{n0}
	for _, name := range []string{"n1", "n2", "n3"} {
		nodes = append(nodes, fleetStartNode(t, ctx, f, harness.NodeSpec{Name: name, Bootstrap: boot}))
	}
	fleetWaitPeers(t, ctx, 3, nodes...)

	p := fleetPushImage(t, ctx, f, "fleet/up-p", "1", 301, 2<<20, 512<<10)
	q := fleetPushImage(t, ctx, f, "fleet/up-q", "1", 302, 2<<20, 512<<10)
	fleetMustPull(t, ctx, nodes[0], p, true)
	fleetMustPull(t, ctx, nodes[1], q, true)
	if err := f.Upstream.Stop(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Let the 1s tag TTL lapse, so that every tag needs an upstream check.
	time.Sleep(1100 * time.Millisecond)

	for _, n := range nodes {
		for _, im := range []*fleetImage{p, q} {
			res := fleetMustPull(t, ctx, n, im, true)
			if res.Warning == "" {
				t.Errorf("node %s served %s:%s with the upstream stopped and no Warning header", n.Short, im.repo, im.tag)
			}
			fleetMustPull(t, ctx, n, im, false)
		}
	}
	for _, n := range nodes {
		t.Logf("%s: peer tag resolutions %v, stale tags %v, peer bytes %v", n.Short,
			fleetMetric(t, ctx, n, "shoal_peer_tag_resolutions_total", ""),
			fleetMetric(t, ctx, n, "shoal_stale_tags_served_total", ""),
			fleetMetric(t, ctx, n, "shoal_fetched_bytes_total", `source="peer"`))
	}
}

// --- 4. Corrupt peer ---------------------------------------------------------

// Node A corrupts every byte it sends peers (SHOAL_FAULT_CORRUPT_PEER_BYTES).
//
//   - Phase 1, A holds the image whole: A alone pulls it, then B joins and
//     pulls the layer. A's answer carries piece digests, so B catches the
//     first bad piece, penalises A and goes on from upstream.
//   - Phase 2, A is the designated fetcher of a cold layer: E pulls a layer
//     nobody holds whose DHT key is closest to A, so E asks A to fetch it
//     from upstream and stream it on. A blob still arriving has no piece
//     digests: E only sees the mismatch at the end. The client may see that
//     first transfer break (never complete with wrong bytes) and must get
//     the right bytes on one retry.
//   - Phase 3, no upstream: honest C holds the image too and the upstream
//     stops; D must get the right bytes from C, penalising A.
func testFleetCorruptPeer(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 3*time.Minute)
	f := fleetNew(t, ctx, env, "corrupt", false)
	a := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "a", Env: []string{"SHOAL_FAULT_CORRUPT_PEER_BYTES=1"}})
	img := fleetPushImage(t, ctx, f, "fleet/corrupt", "1", 401, 12<<20)
	// A is alone: it fetches everything from upstream and holds it all.
	fleetMustPull(t, ctx, a, img, true)

	b := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "b", Bootstrap: []*harness.FleetNode{a}})
	fleetWaitPeers(t, ctx, 1, a, b)
	// A advertises what it holds once it has a peer (its reprovide pass
	// runs a second after joining).
	time.Sleep(3 * time.Second)
	// The layer first, by digest, so that it is the blob that meets A's
	// corruption (not the manifest).
	fleetPullLayerRetryOnce(t, ctx, b, img)
	fleetMustPull(t, ctx, b, img, true)
	if pen := fleetMetric(t, ctx, b, "shoal_peer_penalties_total", ""); pen < 1 {
		t.Errorf("B's shoal_peer_penalties_total is %v after A sent it corrupt bytes", pen)
	}
	if served := fleetMetric(t, ctx, a, "shoal_served_bytes_total", `to="peer"`); served == 0 {
		t.Errorf("A served no bytes to peers: B never asked it, so nothing was tested")
	}
	t.Logf("phase 1: B penalties %v, fetched %v bytes from peers, %v from upstream",
		fleetMetric(t, ctx, b, "shoal_peer_penalties_total", ""),
		fleetMetric(t, ctx, b, "shoal_fetched_bytes_total", `source="peer"`),
		fleetMetric(t, ctx, b, "shoal_fetched_bytes_total", `source="upstream"`))

	// Phase 2: a cold layer whose designated fetcher is A.
	e := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "e", Bootstrap: []*harness.FleetNode{a, b}})
	fleetWaitPeers(t, ctx, 2, e)
	var cold *fleetImage
	for seed := uint64(410); seed < 410+64 && cold == nil; seed++ {
		im, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: "amd64"}, seed, 12<<20)
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := harness.ImageBlobs(im)
		if err != nil {
			t.Fatal(err)
		}
		if fleetClosest(t, blobs[1].Digest.String(), a, b, e) != a {
			continue
		}
		cold = fleetPushImage(t, ctx, f, "fleet/corrupt-cold", "1", seed, 12<<20)
	}
	if cold == nil {
		t.Fatal("no seed in 64 gave a layer whose designated fetcher is A")
	}
	aServed := fleetMetric(t, ctx, a, "shoal_served_bytes_total", `to="peer"`)
	fleetPullLayerRetryOnce(t, ctx, e, cold)
	if served := fleetMetric(t, ctx, a, "shoal_served_bytes_total", `to="peer"`) - aServed; served == 0 {
		t.Errorf("A served E nothing of the cold layer: it was not the designated fetcher, so nothing was tested")
	}
	if pen := fleetMetric(t, ctx, e, "shoal_peer_penalties_total", ""); pen < 1 {
		t.Errorf("E's shoal_peer_penalties_total is %v after A streamed it a corrupt layer", pen)
	}
	t.Logf("phase 2: A served E %v bytes; E penalties %v, fetched %v bytes from peers, %v from upstream",
		fleetMetric(t, ctx, a, "shoal_served_bytes_total", `to="peer"`)-aServed,
		fleetMetric(t, ctx, e, "shoal_peer_penalties_total", ""),
		fleetMetric(t, ctx, e, "shoal_fetched_bytes_total", `source="peer"`),
		fleetMetric(t, ctx, e, "shoal_fetched_bytes_total", `source="upstream"`))

	// Phase 3: an honest holder and no upstream.
	c := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "c", Bootstrap: []*harness.FleetNode{a}})
	fleetWaitPeers(t, ctx, 2, a, c)
	fleetMustPull(t, ctx, c, img, true)
	if err := f.Upstream.Stop(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	d := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "d", Bootstrap: []*harness.FleetNode{a, c}})
	fleetWaitPeers(t, ctx, 2, d)
	time.Sleep(2 * time.Second)
	fleetPullLayerRetryOnce(t, ctx, d, img)
	fleetMustPull(t, ctx, d, img, false)
	if pen := fleetMetric(t, ctx, d, "shoal_peer_penalties_total", ""); pen < 1 {
		t.Errorf("D's shoal_peer_penalties_total is %v: it never caught A", pen)
	}
	t.Logf("phase 3: D penalties %v, fetched %v bytes from peers, %v from upstream",
		fleetMetric(t, ctx, d, "shoal_peer_penalties_total", ""),
		fleetMetric(t, ctx, d, "shoal_fetched_bytes_total", `source="peer"`),
		fleetMetric(t, ctx, d, "shoal_fetched_bytes_total", `source="upstream"`))
}

// fleetPullLayerRetryOnce GETs im's layer through n, retrying once. A
// failed attempt must be a broken transfer or an error status, never a
// complete response with the wrong bytes.
func fleetPullLayerRetryOnce(t *testing.T, ctx context.Context, n *harness.FleetNode, im *fleetImage) {
	t.Helper()
	var errs []error
	for attempt := 1; attempt <= 2; attempt++ {
		if attempt > 1 {
			time.Sleep(time.Second) // as a client backs off before retrying
		}
		start := time.Now()
		err := fleetGetBlob(ctx, n, im, im.layer())
		if err == nil {
			t.Logf("%s served the right %s layer on attempt %d (%v)", n.Short, im.repo, attempt, time.Since(start).Round(time.Millisecond))
			return
		}
		if errors.Is(err, errFleetWrongBlob) {
			t.Errorf("attempt %d: %s sent its client a complete wrong blob: %v", attempt, n.Short, err)
		}
		t.Logf("attempt %d to pull the %s layer through %s failed after %v: %v", attempt, im.repo, n.Short, time.Since(start).Round(time.Millisecond), err)
		errs = append(errs, err)
	}
	t.Fatalf("%s never served the right %s layer in 2 attempts: %v", n.Short, im.repo, errors.Join(errs...))
}

// --- 5. Swarm key ------------------------------------------------------------

// Three members share a swarm key; one outsider has none and another has a
// different key. The outsiders get no peers and, with the upstream
// stopped, cannot serve what the members hold, while members can.
func testFleetSwarmKey(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 2*time.Minute)
	f := fleetNew(t, ctx, env, "psk", false)
	dir := t.TempDir()
	memberKey, otherKey := filepath.Join(dir, "member.key"), filepath.Join(dir, "other.key")
	fleetWriteSwarmKey(t, memberKey)
	fleetWriteSwarmKey(t, otherKey)
	keyed := func(name, key string, boot ...*harness.FleetNode) harness.NodeSpec {
		return harness.NodeSpec{Name: name, Bootstrap: boot, Mounts: []string{key + ":/swarm.key:ro"}, Args: []string{"--swarm-key", "/swarm.key"}}
	}
	m0 := fleetStartNode(t, ctx, f, keyed("m0", memberKey))
	m1 := fleetStartNode(t, ctx, f, keyed("m1", memberKey, m0))
	m2 := fleetStartNode(t, ctx, f, keyed("m2", memberKey, m0))
	o1 := fleetStartNode(t, ctx, f, harness.NodeSpec{Name: "o1", Bootstrap: []*harness.FleetNode{m0, m1}})
	o2 := fleetStartNode(t, ctx, f, keyed("o2", otherKey, m0, m1))
	members, outsiders := []*harness.FleetNode{m0, m1, m2}, []*harness.FleetNode{o1, o2}
	fleetWaitPeers(t, ctx, 2, members...)

	img := fleetPushImage(t, ctx, f, "fleet/psk", "1", 501, 2<<20)
	fleetMustPull(t, ctx, m0, img, true)
	if err := f.Upstream.Stop(ctx, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	fleetMustPull(t, ctx, m1, img, true)
	fleetMustPull(t, ctx, m2, img, false)

	for _, o := range outsiders {
		if p, err := o.Peers(ctx); err != nil || p != 0 {
			t.Errorf("outsider %s has %d peers (err %v), want 0", o.Short, p, err)
		}
		for _, byTag := range []bool{true, false} {
			if _, err := fleetPull(ctx, o, img, byTag); err == nil {
				t.Errorf("outsider %s served %s (by tag: %v) that only the members hold", o.Short, img.repo, byTag)
			} else {
				t.Logf("as expected, outsider %s cannot pull (by tag: %v): %v", o.Short, byTag, err)
			}
		}
		if err := fleetGetBlob(ctx, o, img, img.layer()); err == nil {
			t.Errorf("outsider %s served the layer that only the members hold", o.Short)
		}
		if b := fleetMetric(t, ctx, o, "shoal_cache_bytes", ""); b != 0 {
			t.Errorf("outsider %s stores %v bytes", o.Short, b)
		}
	}
	for _, m := range members {
		if p, err := m.Peers(ctx); err != nil || p != 2 {
			t.Errorf("member %s has %d peers (err %v), want the 2 other members", m.Short, p, err)
		}
	}
}
