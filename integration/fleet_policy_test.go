package integration

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/integration/harness"
	"github.com/shoal-dev/shoal/policy"
)

// policyConverge is how long a policy applied to one node may take to be
// in force on every other.
const policyConverge = 10 * time.Second

// TestFleetPolicy runs four nodes on loopback that trust one policy root
// key. A policy applied to one node with `shoal policy apply` must be in
// force on all four within policyConverge; a second one, applied to
// another node with PUT /shoal/v1/policy, drops a node from peers.allow,
// after which that node is cut off from the fleet.
func TestFleetPolicy(t *testing.T) {
	ctx := testContext(t, 4*time.Minute)
	keyDir := t.TempDir()
	pub, priv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.WriteKeyPair(keyDir, pub, priv); err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(keyDir, policy.PublicKeyFile)

	up := startUpstream(t, ctx)
	img, shared := pushTestImage(t, up, "fleet/shared:v1", 41, linuxAMD64, 1*mib, 256<<10)
	md, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	pushTestImage(t, up, "secret/app:v1", 42, linuxAMD64, 64<<10)

	// Four nodes, joined through the first.
	var nodes []*harness.Node
	var peerIDs []string
	var bootstrap string
	for i := range 4 {
		args := []string{"--policy-root", rootFile}
		if i > 0 {
			args = append(args, "--bootstrap", bootstrap)
		}
		n := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}, Args: args})
		st := nodeStatus(t, ctx, n)
		if i == 0 {
			if len(st.P2PAddrs) == 0 {
				t.Fatalf("node 0 reports no p2p_addrs: %+v", st)
			}
			bootstrap = st.P2PAddrs[0]
		}
		nodes = append(nodes, n)
		peerIDs = append(peerIDs, st.PeerID)
	}
	for i, n := range nodes {
		waitNode(t, ctx, n, fmt.Sprintf("node %d sees all 3 peers", i), func(st adminapi.Status) bool { return st.Peers >= 3 })
	}

	// Policy 1: every node belongs; anyone may pull, except secret/**.
	signed := signPolicy(t, priv, keyDir, 1, peerIDs)
	out, err := exec.CommandContext(ctx, shoalBin, "policy", "apply", "--node", nodes[0].URL(), signed).CombinedOutput()
	if err != nil {
		t.Fatalf("shoal policy apply: %v\n%s", err, out)
	}
	start := time.Now()
	for i, n := range nodes {
		waitNodeWithin(t, ctx, n, start, fmt.Sprintf("node %d reports policy version 1", i), func(st adminapi.Status) bool { return st.Policy.Version == 1 })
		// And enforces it: the deny rule holds on every node.
		waitWithin(t, ctx, start, fmt.Sprintf("node %d denies secret/app", i), func() error {
			r := getManifest(t, ctx, n.URL(), "up/secret/app", "v1")
			// An anonymous caller is refused with a challenge to log in.
			if r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
				return fmt.Errorf("GET up/secret/app:v1: %s", r)
			}
			return nil
		})
	}
	t.Logf("policy 1 in force on all 4 nodes after %v", time.Since(start).Round(time.Millisecond))

	// Policy 2 drops node 3, applied to node 1 through the API.
	signed = signPolicy(t, priv, keyDir, 2, peerIDs[:3])
	putPolicy(t, ctx, nodes[1].URL(), signed)
	start = time.Now()
	for i, n := range nodes[:3] {
		waitNodeWithin(t, ctx, n, start, fmt.Sprintf("node %d reports policy version 2 with 2 peers", i), func(st adminapi.Status) bool {
			return st.Policy.Version == 2 && st.Peers == 2
		})
	}
	waitNodeWithin(t, ctx, nodes[3], start, "the removed node has no peers", func(st adminapi.Status) bool { return st.Peers == 0 })
	t.Logf("policy 2 in force and node 3 cut off after %v", time.Since(start).Round(time.Millisecond))

	// The fleet holds an image: node 0 pulls it (after node 3 left, so
	// node 3 cannot have been a designated fetcher for its blobs).
	if r := getManifest(t, ctx, nodes[0].URL(), "up/fleet/shared", "v1"); r.Status != http.StatusOK {
		t.Fatalf("warm pull through node 0: %s", r)
	}
	for _, b := range shared {
		mustGetBlob(t, ctx, nodes[0].URL(), "up/fleet/shared", b)
	}
	if held, err := nodes[3].CacheBytes(ctx); err != nil || held != 0 {
		t.Fatalf("the removed node holds %d bytes (%v): it would not need the fleet", held, err)
	}

	// With upstream gone, the image is only in the fleet: a member gets
	// it from its peers, the removed node gets nothing.
	if err := up.Stop(10 * time.Second); err != nil {
		t.Logf("stopping the upstream: %v", err)
	}
	if r := getManifest(t, ctx, nodes[2].URL(), "up/fleet/shared", md.String()); r.Status != http.StatusOK || harness.SHA256(r.Body) != md.String() {
		t.Fatalf("member pull from peers with upstream stopped: %s", r)
	}
	for _, b := range shared {
		mustGetBlob(t, ctx, nodes[2].URL(), "up/fleet/shared", b)
	}
	if r := getManifest(t, ctx, nodes[3].URL(), "up/fleet/shared", md.String()); r.Status == http.StatusOK {
		t.Fatalf("the removed node got the manifest from the fleet: %s", r)
	}
	for _, b := range shared {
		r, err := do(ctx, http.MethodGet, fmt.Sprintf("%s/v2/up/fleet/shared/blobs/%s", nodes[3].URL(), b.Digest))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusOK {
			t.Fatalf("the removed node got blob %s from the fleet", b.Digest)
		}
	}
	if st := nodeStatus(t, ctx, nodes[3]); st.Peers != 0 {
		t.Fatalf("the removed node has %d peers after trying the fleet", st.Peers)
	}
}

// putPolicy installs the signed policy in file on the node at base
// through the API.
func putPolicy(t *testing.T, ctx context.Context, base, file string) {
	t.Helper()
	body, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := adminapi.New(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if _, err := c.PutPolicy(ctx, body); err != nil {
		t.Fatalf("PUT /shoal/v1/policy: %v", err)
	}
}

func readNodeStatus(ctx context.Context, n *harness.Node) (adminapi.Status, error) {
	c, err := adminapi.New(n.URL(), nil)
	if err != nil {
		return adminapi.Status{}, err
	}
	defer c.CloseIdleConnections()
	st, err := c.Status(ctx)
	if err != nil {
		return adminapi.Status{}, err
	}
	return *st, nil
}

func nodeStatus(t *testing.T, ctx context.Context, n *harness.Node) adminapi.Status {
	t.Helper()
	st, err := readNodeStatus(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitNode waits up to 30 s for n's status to satisfy cond.
func waitNode(t *testing.T, ctx context.Context, n *harness.Node, what string, cond func(adminapi.Status) bool) {
	t.Helper()
	waitNodeWithin(t, ctx, n, time.Now().Add(30*time.Second-policyConverge), what, cond)
}

// waitNodeWithin waits until policyConverge after start for n's status
// to satisfy cond.
func waitNodeWithin(t *testing.T, ctx context.Context, n *harness.Node, start time.Time, what string, cond func(adminapi.Status) bool) {
	t.Helper()
	waitWithin(t, ctx, start, what, func() error {
		st, err := readNodeStatus(ctx, n)
		if err != nil {
			return err
		}
		if !cond(st) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

// waitWithin polls check until it succeeds or policyConverge has passed
// since start.
func waitWithin(t *testing.T, ctx context.Context, start time.Time, what string, check func() error) {
	t.Helper()
	deadline := start.Add(policyConverge)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not within %v: %v", what, policyConverge, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signPolicy writes a policy of version admitting peers, signed with
// priv, to a file in dir and returns its path. Anyone may pull anything
// but secret/**.
func signPolicy(t *testing.T, priv ed25519.PrivateKey, dir string, version uint64, peers []string) string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	doc := policy.Document{
		Version: version,
		Network: "fleet-policy-test",
		Issued:  now.Add(-time.Minute),
		Expires: now.Add(time.Hour),
		Peers:   policy.Peers{Allow: peers},
		Identities: []policy.Identity{
			{Name: "anyone", Anonymous: true},
		},
		Rules: []policy.Rule{
			{Identities: []string{"*"}, Actions: []policy.Action{"*"}, Repositories: []string{"**"}},
			{Effect: "deny", Identities: []string{"*"}, Actions: []policy.Action{"*"}, Repositories: []string{"up/secret/**"}},
		},
	}
	return writeSignedPolicy(t, priv, filepath.Join(dir, fmt.Sprintf("policy-%d.signed.json", version)), doc)
}

// writeSignedPolicy checks doc, signs it with priv and writes the signed
// envelope to path, which it returns.
func writeSignedPolicy(t *testing.T, priv ed25519.PrivateKey, path string, doc policy.Document) string {
	t.Helper()
	payload, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Parse(payload); err != nil {
		t.Fatalf("the test's policy is invalid: %v", err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: payload}
	env.Sign(priv)
	if err := os.WriteFile(path, env.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
