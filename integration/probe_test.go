package integration

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/integration/harness"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
)

// testFleetProbeFromOutside probes a node as issue 10 asks, from an
// address that is not loopback: the node runs in a container on a bridge
// network the test creates, and the test talks to the node's address on
// that network, so the node sees the bridge's gateway as the caller. It
// probes as an anonymous caller, as a caller with rights on one
// repository only, and as libp2p peers that are not members.
//
// The policy gives loopback callers every right: had the node taken the
// test for a loopback caller, every refusal below would have been an
// answer.
func testFleetProbeFromOutside(t *testing.T, env *fleetEnv) {
	ctx := testContext(t, 5*time.Minute)
	dir := t.TempDir()
	secdb, err := filepath.Abs(filepath.Join("..", "..", "shared", "vulndata", "alpine-secdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secdb); err != nil {
		if inCI {
			t.Fatalf("the vulnerability data the scan probes need is missing: %v", err)
		}
		t.Skipf("skipping: the vulnerability data the scan probes need is missing: %v", err)
	}
	pub, priv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.WriteKeyPair(filepath.Join(dir, "keys"), pub, priv); err != nil {
		t.Fatal(err)
	}
	swarmKey, otherSwarmKey := filepath.Join(dir, "swarm.key"), filepath.Join(dir, "other-swarm.key")
	fleetWriteSwarmKey(t, swarmKey)
	fleetWriteSwarmKey(t, otherSwarmKey)

	// The subnet is pinned so that the gateway, the test's own address
	// there, is known: the test's libp2p hosts listen on it alone.
	f := fleetNew(t, ctx, env, "probe", true)
	public := fleetPushImage(t, ctx, f, "probe/public", "v1", 601, 64<<10)
	private := fleetPushImage(t, ctx, f, "probe/private", "v1", 602, 64<<10)
	node := fleetStartNode(t, ctx, f, harness.NodeSpec{
		Name:   "node",
		Mounts: []string{filepath.Join(dir, "keys", policy.PublicKeyFile) + ":/policy.pub:ro", swarmKey + ":/swarm.key:ro"},
		Args:   []string{"--policy-root", "/policy.pub", "--swarm-key", "/swarm.key"},
	})
	ip, err := node.IP(ctx, f.Net.Name)
	if err != nil {
		t.Fatal(err)
	}
	host := ip + ":5000"
	base := "http://" + host
	// The node answered on its published loopback port; its address on
	// the network is reachable from here only with a docker engine on
	// this host's own network stack (not rootless, not in a VM).
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = harness.WaitHTTP(wctx, nil, base+"/readyz", http.StatusOK)
	cancel()
	if err != nil {
		if inCI {
			t.Fatalf("the node's address %s on the test network is not reachable from the test: %v", ip, err)
		}
		t.Skipf("skipping: the node's address %s on the test network is not reachable from here (rootless docker or a VM?): %v", ip, err)
	}
	p2pAddr, err := node.BootstrapAddr(ctx, f.Net.Name)
	if err != nil {
		t.Fatal(err)
	}
	nodePeer, err := peer.AddrInfoFromString(p2pAddr)
	if err != nil {
		t.Fatal(err)
	}

	// Until a policy is in force the node is open, also to the test: it
	// is filled then. A vulnerability database first, so that the
	// pushed images are scanned.
	if out, err := exec.CommandContext(ctx, shoalBin, "scan", "db", "import", "--node", base, secdb).CombinedOutput(); err != nil {
		t.Fatalf("shoal scan db import: %v\n%s", err, out)
	}
	teamA, teamB := alpineBusyboxImage(t, "1.30.1-r1"), alpineBusyboxImage(t, "1.30.1-r0")
	a, b := probeLocalImage(t, ctx, host, "team/a", teamA), probeLocalImage(t, ctx, host, "team/b", teamB)
	for _, im := range []*fleetImage{public, private} {
		if _, err := fleetPull(ctx, node, im, true); err != nil {
			t.Fatalf("filling the node with %s: %v", im.repo, err)
		}
	}
	for _, im := range []*fleetImage{a, b} {
		waitScan(t, ctx, time.Now(), "the node reports on "+im.repo, func() error {
			_, err := getScan(ctx, base, im.digest)
			return err
		})
	}

	// The test's libp2p peers, made now for their IDs, which the policy
	// needs: a member; a stranger holding the swarm key but left out of
	// the membership; and two members holding another swarm key or none.
	member := probePeer(t, ctx, f.Net.Gateway, "member", swarmKey)
	stranger := probePeer(t, ctx, f.Net.Gateway, "stranger", swarmKey)
	wrongKey := probePeer(t, ctx, f.Net.Gateway, "wrong-key", otherSwarmKey)
	noKey := probePeer(t, ctx, f.Net.Gateway, "no-key", "")
	putPolicy(t, ctx, base, probePolicy(t, priv, dir, []peer.ID{nodePeer.ID, member.ID(), wrongKey.ID(), noKey.ID()}))

	tokenAlice := probeToken(t, ctx, base, host, "alice:"+alicePassword, "repository:team/b:pull,push")
	auth := map[string]string{
		"anonymous":     "",
		"alice":         "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+alicePassword)),
		"alice's token": "Bearer " + tokenAlice,
		"admin":         "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+adminPassword)),
	}
	manifestBody, err := teamB.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	privLayer, aLayer, bLayer := private.layer().Digest.String(), a.layer().Digest.String(), b.layer().Digest.String()
	challenge := func(scope string) func(*testing.T, *response) {
		return func(t *testing.T, r *response) {
			var bearer, basic bool
			for _, v := range r.Header.Values("Www-Authenticate") {
				bearer = bearer || strings.HasPrefix(v, `Bearer realm="`+base+`/v2/token"`) && strings.Contains(v, `service="`+host+`"`) && strings.Contains(v, scope)
				basic = basic || strings.HasPrefix(v, "Basic ")
			}
			if !bearer || !basic {
				t.Errorf("WWW-Authenticate %q: want a Bearer challenge at %s/v2/token for %s, and Basic", r.Header.Values("Www-Authenticate"), base, scope)
			}
		}
	}
	namesNothing := func(t *testing.T, r *response) {
		for _, s := range []string{"team/", "probe/private", "alice", "admin", "$2a$"} {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("the answer names %q:\n%s", s, r.Body)
			}
		}
	}

	tests := []struct {
		name, as, method, path string
		body                   []byte
		headers                []string
		status                 int
		code                   string // the OCI error code, when one is due
		check                  func(*testing.T, *response)
	}{
		// Anonymous: a challenge where the policy asks for credentials,
		// and nothing of another repository through the one it may pull.
		// /v2/ lets in a caller the policy allows anything, as anyone
		// may pull up/probe/public.
		{name: "base", as: "anonymous", path: "/v2/", status: 200},
		{name: "private manifest", as: "anonymous", path: "/v2/up/probe/private/manifests/v1", status: 401, code: "UNAUTHORIZED",
			check: challenge(`scope="repository:up/probe/private:pull"`)},
		{name: "private blob", as: "anonymous", path: "/v2/up/probe/private/blobs/" + privLayer, status: 401, code: "UNAUTHORIZED",
			check: challenge(`scope="repository:up/probe/private:pull"`)},
		{name: "local manifest", as: "anonymous", path: "/v2/team/a/manifests/v1", status: 401, code: "UNAUTHORIZED",
			check: challenge(`scope="repository:team/a:pull"`)},
		{name: "push", as: "anonymous", method: http.MethodPost, path: "/v2/team/a/blobs/uploads/", status: 401, code: "UNAUTHORIZED",
			check: challenge(`scope="repository:team/a:pull,push"`)},
		{name: "allowed manifest", as: "anonymous", path: "/v2/up/probe/public/manifests/v1", status: 200},
		{name: "allowed blob", as: "anonymous", path: "/v2/up/probe/public/blobs/" + public.layer().Digest.String(), status: 200},
		{name: "private blob through the allowed name (finding 1)", as: "anonymous", path: "/v2/up/probe/public/blobs/" + privLayer, status: 404, code: "BLOB_UNKNOWN"},
		{name: "private blob's presence through the allowed name", as: "anonymous", method: http.MethodHead, path: "/v2/up/probe/public/blobs/" + privLayer, status: 404},
		{name: "local blob through the allowed name", as: "anonymous", path: "/v2/up/probe/public/blobs/" + aLayer, status: 404, code: "BLOB_UNKNOWN"},
		{name: "private manifest through the allowed name (finding 2)", as: "anonymous", path: "/v2/up/probe/public/manifests/" + private.digest, status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "local manifest through the allowed name", as: "anonymous", path: "/v2/up/probe/public/manifests/" + a.digest, status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "catalog", as: "anonymous", path: "/v2/_catalog", status: 200, check: namesNothing},
		{name: "scan report", as: "anonymous", path: "/shoal/v1/scans/" + a.digest, status: 404},
		// What docs/access.md leaves open to anyone, and what it says
		// they show.
		{name: "metrics", as: "anonymous", path: "/metrics", status: 200, check: namesNothing},
		{name: "status", as: "anonymous", path: "/shoal/v1/status", status: 200, check: func(t *testing.T, r *response) {
			namesNothing(t, r)
			if !strings.Contains(string(r.Body), `"peer_id"`) || !strings.Contains(string(r.Body), `"up=http://upstream:5000"`) {
				t.Errorf("status lacks the peer ID or the upstream rule:\n%s", r.Body)
			}
		}},
		{name: "healthz", as: "anonymous", path: "/healthz", status: 200},
		{name: "readyz", as: "anonymous", path: "/readyz", status: 200},
		{name: "scan database", as: "anonymous", path: "/shoal/v1/scan/db", status: 200},
		// Rights on team/a only: team/b is refused for every action, and
		// a mount cannot bring its blob over.
		{name: "own manifest", as: "alice", path: "/v2/team/a/manifests/v1", status: 200},
		{name: "own push", as: "alice", method: http.MethodPost, path: "/v2/team/a/blobs/uploads/", status: 202},
		{name: "other manifest", as: "alice", path: "/v2/team/b/manifests/v1", status: 403, code: "DENIED"},
		{name: "other blob", as: "alice", path: "/v2/team/b/blobs/" + bLayer, status: 403, code: "DENIED"},
		{name: "other tags", as: "alice", path: "/v2/team/b/tags/list", status: 403, code: "DENIED"},
		{name: "push into other", as: "alice", method: http.MethodPost, path: "/v2/team/b/blobs/uploads/", status: 403, code: "DENIED"},
		{name: "manifest into other", as: "alice", method: http.MethodPut, path: "/v2/team/b/manifests/v2", body: manifestBody,
			headers: []string{"Content-Type", "application/vnd.docker.distribution.manifest.v2+json"}, status: 403, code: "DENIED"},
		{name: "delete in other", as: "alice", method: http.MethodDelete, path: "/v2/team/b/manifests/" + b.digest, status: 403, code: "DENIED"},
		{name: "mount from other", as: "alice", method: http.MethodPost, path: "/v2/team/a/blobs/uploads/?mount=" + bLayer + "&from=team/b", status: 403, code: "DENIED"},
		// Without from, the spec's answer is a new session, not a mount.
		{name: "mount from anywhere", as: "alice", method: http.MethodPost, path: "/v2/team/a/blobs/uploads/?mount=" + bLayer, status: 202},
		{name: "other blob through own name", as: "alice", path: "/v2/team/a/blobs/" + bLayer, status: 404, code: "BLOB_UNKNOWN"},
		{name: "other manifest through own name", as: "alice", path: "/v2/team/a/manifests/" + b.digest, status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "own scan report", as: "alice", path: "/shoal/v1/scans/" + a.digest, status: 200},
		{name: "other scan report", as: "alice", path: "/shoal/v1/scans/" + b.digest, status: 404},
		{name: "catalog", as: "alice", path: "/v2/_catalog", status: 200, check: func(t *testing.T, r *response) {
			if !strings.Contains(string(r.Body), `"team/a"`) || strings.Contains(string(r.Body), "team/b") {
				t.Errorf("alice's catalog should name team/a and not team/b:\n%s", r.Body)
			}
		}},
		{name: "other manifest", as: "alice's token", path: "/v2/team/b/manifests/v1", status: 403, code: "DENIED"},
		{name: "push into other", as: "alice's token", method: http.MethodPost, path: "/v2/team/b/blobs/uploads/", status: 403, code: "DENIED"},
		// The store's own writers are for loopback callers alone, whoever
		// the caller is.
		{name: "import", as: "admin", method: http.MethodPost, path: "/shoal/v1/import", status: 403, code: "DENIED"},
		{name: "preload", as: "admin", method: http.MethodPost, path: "/shoal/v1/preload", status: 403, code: "DENIED"},
		{name: "scan", as: "admin", method: http.MethodPost, path: "/shoal/v1/scans?ref=team/b:v1", status: 403, code: "DENIED"},
		{name: "scan database upload", as: "admin", method: http.MethodPut, path: "/shoal/v1/scan/db", status: 403, code: "DENIED"},
		// The refusals above are alice's, not the content's.
		{name: "other manifest", as: "admin", path: "/v2/team/b/manifests/v1", status: 200},
		{name: "other scan report", as: "admin", path: "/shoal/v1/scans/" + b.digest, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.as+"/"+tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			headers := append([]string{"Accept", harness.ManifestAccept}, tt.headers...)
			if a := auth[tt.as]; a != "" {
				headers = append(headers, "Authorization", a)
			}
			r, err := doBody(ctx, method, base+tt.path, tt.body, headers...)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.status {
				t.Fatalf("%s %s: %s, want %d %s", method, tt.path, r, tt.status, tt.code)
			}
			if tt.code != "" && !strings.Contains(string(r.Body), `"code":"`+tt.code+`"`) {
				t.Errorf("%s %s: %s, want the OCI error %s", method, tt.path, r, tt.code)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}

	// The content protocol: only a member holding the swarm key is
	// answered, and only with what the repository it names holds.
	peers := []struct {
		name string
		h    *p2p.Host
		req  p2p.Request
		want digest.Digest // "" when it must get nothing
	}{
		{"a member, for its repository's layer", member, p2p.Request{Digest: digest.Digest(aLayer), Repo: "team/a"}, digest.Digest(aLayer)},
		{"a member, for another repository's layer", member, p2p.Request{Digest: digest.Digest(bLayer), Repo: "team/a"}, ""},
		{"a member, naming no repository", member, p2p.Request{Digest: digest.Digest(aLayer)}, ""},
		{"a member, for a private layer through the allowed name", member, p2p.Request{Digest: digest.Digest(privLayer), Rule: harness.UpstreamRule, Repo: "probe/public"}, ""},
		{"a peer not in the membership", stranger, p2p.Request{Digest: digest.Digest(aLayer), Repo: "team/a"}, ""},
		{"a member without the fleet's swarm key", wrongKey, p2p.Request{Digest: digest.Digest(aLayer), Repo: "team/a"}, ""},
		{"a member with no swarm key", noKey, p2p.Request{Digest: digest.Digest(aLayer), Repo: "team/a"}, ""},
	}
	for _, tt := range peers {
		t.Run("p2p/"+tt.name, func(t *testing.T) {
			got, err := probeContent(ctx, tt.h, *nodePeer, tt.req)
			switch {
			case tt.want != "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && got != tt.want:
				t.Fatalf("got content hashing to %s, want %s", got, tt.want)
			case tt.want == "" && err == nil:
				t.Fatalf("served content hashing to %s", got)
			case tt.want == "":
				t.Logf("refused, as it must be: %v", err)
			}
		})
	}
}

const adminPassword = "admin-secret-pw"

// probeLocalImage pushes img into the local repository repo of the node
// at host (still open) as v1.
func probeLocalImage(t *testing.T, ctx context.Context, host, repo string, img v1.Image) *fleetImage {
	t.Helper()
	if err := harness.PushImage(ctx, host+"/"+repo+":v1", img); err != nil {
		t.Fatalf("pushing %s: %v", repo, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := harness.ImageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}
	return &fleetImage{repo: repo, tag: "v1", name: repo, digest: d.String(), blobs: blobs}
}

// probePeer starts a libp2p host of the test's own, with a key of its own
// and swarmKey (none when ""), listening only on addr of the test's
// network.
func probePeer(t *testing.T, ctx context.Context, addr, name, swarmKey string) *p2p.Host {
	t.Helper()
	h, err := p2p.New(ctx, p2p.Config{
		KeyFile:  filepath.Join(t.TempDir(), name+".key"),
		Listen:   []string{"/ip4/" + addr + "/tcp/0"},
		SwarmKey: swarmKey,
	})
	if err != nil {
		t.Fatalf("starting the %s peer: %v", name, err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// probeContent asks the node at info for req over the content protocol
// from h, and returns the digest of what it sent.
func probeContent(ctx context.Context, h *p2p.Host, info peer.AddrInfo, req p2p.Request) (digest.Digest, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, info); err != nil {
		return "", fmt.Errorf("connecting: %w", err)
	}
	s, err := h.Open(ctx, info.ID, req)
	if err != nil {
		return "", fmt.Errorf("asking: %w", err)
	}
	defer s.Close()
	d := req.Digest.Algorithm().Digester()
	if _, err := io.Copy(d.Hash(), s); err != nil {
		return "", fmt.Errorf("reading: %w", err)
	}
	return d.Digest(), nil
}

// probePolicy writes a policy signed with priv to dir and returns its
// path. members are the peers of the fleet; loopback callers and admin
// may do anything, alice may pull and push team/a, anyone may pull
// up/probe/public.
func probePolicy(t *testing.T, priv ed25519.PrivateKey, dir string, members []peer.ID) string {
	t.Helper()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	allow := make([]string, 0, len(members))
	for _, m := range members {
		allow = append(allow, m.String())
	}
	now := time.Now().UTC().Truncate(time.Second)
	doc := policy.Document{
		Version: 1, Network: "probe", Issued: now.Add(-time.Minute), Expires: now.Add(time.Hour),
		Peers: policy.Peers{Allow: allow},
		Identities: []policy.Identity{
			{Name: "anyone", Anonymous: true},
			{Name: "local", Loopback: true},
			{Name: "alice", Username: "alice", PasswordHash: hash(alicePassword)},
			{Name: "admin", Username: "admin", PasswordHash: hash(adminPassword)},
		},
		Rules: []policy.Rule{
			{Identities: []string{"local", "admin"}, Actions: []policy.Action{"*"}, Repositories: []string{"**"}},
			{Identities: []string{"alice"}, Actions: []policy.Action{policy.Pull, policy.Push}, Repositories: []string{"team/a"}},
			{Identities: []string{"anyone"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"up/probe/public"}},
		},
	}
	return writeSignedPolicy(t, priv, filepath.Join(dir, "policy.signed.json"), doc)
}

// probeToken is a token the node at base issues for creds ("user:pass")
// and scope, as docker's token flow gets one.
func probeToken(t *testing.T, ctx context.Context, base, service, creds, scope string) string {
	t.Helper()
	r, err := do(ctx, http.MethodGet, base+"/v2/token?service="+url.QueryEscape(service)+"&scope="+url.QueryEscape(scope),
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &tok) != nil || tok.Token == "" {
		t.Fatalf("GET /v2/token for %s: %s", scope, r)
	}
	return tok.Token
}
