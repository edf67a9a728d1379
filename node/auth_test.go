package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
	"github.com/shoal-dev/shoal/policy"
)

// policyKit signs test policies with a root key the node trusts.
type policyKit struct {
	priv    ed25519.PrivateKey
	rootPEM string
}

func newPolicyKit(t *testing.T) *policyKit {
	t.Helper()
	pub, priv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := policy.WriteKeyPair(dir, pub, priv); err != nil {
		t.Fatal(err)
	}
	return &policyKit{priv: priv, rootPEM: filepath.Join(dir, "policy.pub")}
}

// sign returns the envelope of doc, signed by the kit's root.
func (k *policyKit) sign(t *testing.T, doc *policy.Document) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Parse(b); err != nil {
		t.Fatalf("test policy invalid: %v", err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: b}
	env.Sign(k.priv)
	return env.Marshal()
}

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// testDoc is the policy the tests share: anonymous pulls of docker.io,
// alice owning team/** (but not docker.io/library/secret), bob reading
// team/app, and the ops client certificate pulling everything.
func testDoc(t *testing.T, version uint64, issued time.Time) *policy.Document {
	return &policy.Document{
		Version: version,
		Network: "test",
		Issued:  issued,
		Expires: issued.Add(24 * time.Hour),
		Peers:   policy.Peers{AnyWithSwarmKey: true},
		Identities: []policy.Identity{
			{Name: "anyone", Anonymous: true},
			{Name: "alice", Username: "alice", PasswordHash: bcryptHash(t, "alice-pw")},
			{Name: "bob", Username: "bob", PasswordHash: bcryptHash(t, "bob-pw")},
		},
		Rules: []policy.Rule{
			{Identities: []string{"anyone"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"docker.io/**"}},
			{Identities: []string{"alice"}, Actions: []policy.Action{"*"}, Repositories: []string{"team/**"}},
			{Effect: "deny", Identities: []string{"alice"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"docker.io/library/secret"}},
			{Identities: []string{"bob"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"team/app"}},
		},
	}
}

type authTestNode struct {
	n   *Node
	kit *policyKit
	// clock is what the node's policy code sees as now; the expiry alarm
	// reads it from its own goroutine.
	clock atomic.Int64
}

func (tn *authTestNode) now() time.Time { return time.Unix(0, tn.clock.Load()).UTC() }

func (tn *authTestNode) advance(d time.Duration) { tn.clock.Add(int64(d)) }

const testHost = "node.test:5000"

func newAuthTestNode(t *testing.T, withRoot bool) *authTestNode {
	t.Helper()
	tn := &authTestNode{kit: newPolicyKit(t)}
	tn.clock.Store(time.Now().Truncate(time.Second).UnixNano())
	cfg := Config{DataDir: filepath.Join(t.TempDir(), "data"), Upstreams: upstreamtest.Rules(t, "docker.io=http://127.0.0.1:1"), PolicyGrace: time.Hour, clock: tn.now}
	if withRoot {
		cfg.PolicyRoots = rootKeys(t, tn.kit.rootPEM)
	}
	n, err := New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	tn.n = n
	return tn
}

// req is one request to the node's handler from a non-loopback address.
type req struct {
	method, path string
	body         []byte
	contentType  string
	user, pass   string
	bearer       string
	remote       string
	header       map[string]string
}

func (tn *authTestNode) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	return serveReq(t, tn.n.Handler(), r)
}

// serveReq sends r to h in process and records the answer.
func serveReq(t *testing.T, h http.Handler, r req) *httptest.ResponseRecorder {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr := httptest.NewRequest(r.method, "http://"+testHost+r.path, bytes.NewReader(r.body))
	hr.RemoteAddr = "192.0.2.10:40000"
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	if r.user != "" {
		hr.SetBasicAuth(r.user, r.pass)
	}
	if r.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	hr.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	return w
}

func errCode(w *httptest.ResponseRecorder) string {
	var e struct {
		Errors []struct{ Code, Message string }
	}
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// importImage stores img as ref through the import endpoint (loopback).
func (tn *authTestNode) importImage(t *testing.T, img v1.Image, ref string) {
	t.Helper()
	body := testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img, Annotations: map[string]string{"org.opencontainers.image.ref.name": ref}}), "")
	w := tn.do(t, req{method: http.MethodPost, path: "/shoal/v1/import", body: body, remote: "127.0.0.1:5555"})
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"error"`) {
		t.Fatalf("import %s: %d %s", ref, w.Code, w.Body.String())
	}
}

func (tn *authTestNode) apply(t *testing.T, env []byte) {
	t.Helper()
	w := tn.do(t, req{method: http.MethodPut, path: "/shoal/v1/policy", body: env})
	if w.Code != http.StatusOK {
		t.Fatalf("PUT /shoal/v1/policy: %d %s", w.Code, w.Body.String())
	}
}

func (tn *authTestNode) token(t *testing.T, user, pass, service string) (int, string) {
	t.Helper()
	w := tn.do(t, req{path: "/v2/token?service=" + service + "&scope=repository:team/app:pull&scope=repository:team/other:pull,push", user: user, pass: pass})
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.Token == "" || tok.Token != tok.AccessToken || tok.ExpiresIn != 300 || tok.IssuedAt == "" {
			t.Fatalf("token answer %s: %v", w.Body.String(), err)
		}
	}
	return w.Code, tok.Token
}

func TestOpenNodeAllowsEverything(t *testing.T) {
	tn := newAuthTestNode(t, false)
	img := testimage.Random(t)
	tn.importImage(t, img, "team/app:1")
	for _, r := range []req{
		{path: "/v2/"},
		{path: "/v2/team/app/manifests/1"},
		{path: "/v2/_catalog"},
		{method: http.MethodPost, path: "/v2/team/new/blobs/uploads/"},
	} {
		w := tn.do(t, r)
		if w.Code >= 300 || w.Header().Get("WWW-Authenticate") != "" {
			t.Errorf("%s %s on an open node: %d %s (WWW-Authenticate %q)", r.method, r.path, w.Code, w.Body.String(), w.Header().Get("WWW-Authenticate"))
		}
	}
	// An open node takes no policy.
	w := tn.do(t, req{method: http.MethodPut, path: "/shoal/v1/policy", body: tn.kit.sign(t, testDoc(t, 1, tn.now()))})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "no policy root") {
		t.Errorf("PUT policy on an open node: %d %s", w.Code, w.Body.String())
	}
	if ps := tn.n.Status().Policy; ps.Version != 0 || ps.Network != "" || ps.Expires != nil || ps.Signers != nil || ps.Membership != nil {
		t.Errorf("status policy = %+v on an open node, want it empty", ps)
	}
}

func TestAuthorization(t *testing.T) {
	tn := newAuthTestNode(t, true)
	alpine, secret, app := testimage.Random(t), testimage.Random(t), testimage.Random(t)
	tn.importImage(t, alpine, "docker.io/library/alpine:3")
	tn.importImage(t, secret, "docker.io/library/secret:1")
	tn.importImage(t, app, "team/app:1")
	appLayers, _ := app.Layers()
	appBlob := testimage.Digest(t, appLayers[0])
	doc := testDoc(t, 1, tn.now())
	tn.apply(t, tn.kit.sign(t, doc))

	ps := tn.n.Status().Policy
	if ps.Version != 1 {
		t.Fatalf("status policy.version = %d, want 1", ps.Version)
	}
	keyID := policy.KeyID(tn.kit.priv.Public().(ed25519.PublicKey))
	if ps.Network != "test" || ps.Expires == nil || !ps.Expires.Equal(doc.Expires) || !slices.Equal(ps.Signers, []string{keyID}) ||
		ps.Membership == nil || *ps.Membership != (adminapi.PolicyMembership{AnyWithSwarmKey: true}) {
		t.Errorf("status policy = %+v (membership %+v), want network test, expires %s, signers [%s], any peer with the swarm key", ps, ps.Membership, doc.Expires, keyID)
	}
	_, aliceTok := tn.token(t, "alice", "alice-pw", testHost)
	_, anonTok := tn.token(t, "", "", testHost)
	_, otherAud := tn.token(t, "alice", "alice-pw", "elsewhere.test")

	tests := []struct {
		name     string
		r        req
		want     int
		wantCode string
		// challenge is a substring the WWW-Authenticate header must hold.
		challenge string
	}{
		{"anonymous pull of docker.io via ns", req{path: "/v2/library/alpine/manifests/3?ns=docker.io"}, 200, "", ""},
		{"anonymous pull, one-part name", req{path: "/v2/alpine/manifests/3?ns=docker.io"}, 200, "", ""},
		{"anonymous pull through the prefix", req{path: "/v2/docker.io/library/alpine/manifests/3"}, 200, "", ""},
		{"anonymous pull of team/app", req{path: "/v2/team/app/manifests/1"}, 401, "UNAUTHORIZED", `scope="repository:team/app:pull"`},
		{"anonymous base allowed (anonymous may pull)", req{path: "/v2/"}, 200, "", ""},
		{"alice basic pull", req{path: "/v2/team/app/manifests/1", user: "alice", pass: "alice-pw"}, 200, "", ""},
		{"wrong password", req{path: "/v2/team/app/manifests/1", user: "alice", pass: "nope"}, 401, "UNAUTHORIZED", `Bearer realm="http://` + testHost + `/v2/token"`},
		{"unknown user", req{path: "/v2/docker.io/library/alpine/manifests/3", user: "mallory", pass: "x"}, 401, "UNAUTHORIZED", ""},
		{"bob may pull", req{path: "/v2/team/app/manifests/1", user: "bob", pass: "bob-pw"}, 200, "", ""},
		{"bob may not push", req{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/", user: "bob", pass: "bob-pw"}, 403, "DENIED", ""},
		{"anonymous may not push", req{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/"}, 401, "UNAUTHORIZED", `scope="repository:team/app:pull,push"`},
		{"alice may push", req{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/", user: "alice", pass: "alice-pw"}, 202, "", ""},
		{"upload session routes are push", req{method: http.MethodGet, path: "/v2/team/app/blobs/uploads/abc", user: "bob", pass: "bob-pw"}, 403, "DENIED", ""},
		{"manifest PUT is push", req{method: http.MethodPut, path: "/v2/team/app/manifests/2", user: "bob", pass: "bob-pw"}, 403, "DENIED", ""},
		{"manifest DELETE is delete", req{method: http.MethodDelete, path: "/v2/team/app/manifests/1", user: "bob", pass: "bob-pw"}, 403, "DENIED", ""},
		{"blob GET is pull", req{path: "/v2/team/app/blobs/" + appBlob}, 401, "UNAUTHORIZED", ""},
		{"blob HEAD is pull", req{method: http.MethodHead, path: "/v2/team/app/blobs/" + appBlob, user: "bob", pass: "bob-pw"}, 200, "", ""},
		{"blob DELETE is delete", req{method: http.MethodDelete, path: "/v2/team/app/blobs/" + appBlob, user: "bob", pass: "bob-pw"}, 403, "DENIED", ""},
		{"tags list is list", req{path: "/v2/team/app/tags/list", user: "bob", pass: "bob-pw"}, 403, "DENIED", ""},
		{"alice lists tags", req{path: "/v2/team/app/tags/list", user: "alice", pass: "alice-pw"}, 200, "", ""},
		{"referrers are pull", req{path: "/v2/team/app/referrers/" + appBlob}, 401, "UNAUTHORIZED", ""},
		{"deny beats allow", req{path: "/v2/docker.io/library/secret/manifests/1", user: "alice", pass: "alice-pw"}, 403, "DENIED", ""},
		{"secret is still anonymous-pullable", req{path: "/v2/docker.io/library/secret/manifests/1"}, 200, "", ""},
		{"mount needs pull on from", req{method: http.MethodPost, path: "/v2/team/new/blobs/uploads/?mount=" + appBlob + "&from=docker.io/library/secret", user: "alice", pass: "alice-pw"}, 403, "DENIED", ""},
		{"mount from an allowed repo", req{method: http.MethodPost, path: "/v2/team/new/blobs/uploads/?mount=" + appBlob + "&from=team/app", user: "alice", pass: "alice-pw"}, 201, "", ""},
		{"alice token", req{path: "/v2/team/app/manifests/1", bearer: aliceTok}, 200, "", ""},
		{"anonymous token on team/app", req{path: "/v2/team/app/manifests/1", bearer: anonTok}, 401, "UNAUTHORIZED", ""},
		{"anonymous token on docker.io", req{path: "/v2/docker.io/library/alpine/manifests/3", bearer: anonTok}, 200, "", ""},
		{"token for another service", req{path: "/v2/team/app/manifests/1", bearer: otherAud}, 401, "UNAUTHORIZED", ""},
		{"forged token", req{path: "/v2/team/app/manifests/1", bearer: forge(aliceTok)}, 401, "UNAUTHORIZED", ""},
		{"loopback is no identity here", req{path: "/v2/team/app/manifests/1", remote: "127.0.0.1:1"}, 401, "UNAUTHORIZED", ""},
		{"import from afar refused", req{method: http.MethodPost, path: "/shoal/v1/import"}, 403, "DENIED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tn.do(t, tt.r)
			if w.Code != tt.want || errCode(w) != tt.wantCode {
				t.Fatalf("%s %s: %d %s, want %d %s", tt.r.method, tt.r.path, w.Code, w.Body.String(), tt.want, tt.wantCode)
			}
			if ch := strings.Join(w.Header().Values("WWW-Authenticate"), "\n"); tt.challenge != "" && !strings.Contains(ch, tt.challenge) {
				t.Errorf("WWW-Authenticate %q lacks %q", ch, tt.challenge)
			}
			if w.Code == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer realm=") {
				t.Errorf("401 without a Bearer challenge: %q", w.Header().Values("WWW-Authenticate"))
			}
			if w.Code == 403 && strings.HasPrefix(tt.r.path, "/v2/") && !strings.Contains(w.Body.String(), "denied") {
				t.Errorf("403 message does not say what was denied: %s", w.Body.String())
			}
		})
	}

	t.Run("token endpoint refuses a wrong password", func(t *testing.T) {
		if code, _ := tn.token(t, "alice", "wrong", testHost); code != http.StatusUnauthorized {
			t.Errorf("status %d", code)
		}
	})
	t.Run("catalog is filtered", func(t *testing.T) {
		for _, c := range []struct {
			user, pass string
			want       []string
		}{
			{"", "", []string{"docker.io/library/alpine", "docker.io/library/secret"}},
			{"alice", "alice-pw", []string{"docker.io/library/alpine", "team/app", "team/new"}},
			{"bob", "bob-pw", []string{"docker.io/library/alpine", "docker.io/library/secret", "team/app"}},
		} {
			w := tn.do(t, req{path: "/v2/_catalog", user: c.user, pass: c.pass})
			var got struct{ Repositories []string }
			_ = json.Unmarshal(w.Body.Bytes(), &got)
			if w.Code != 200 || strings.Join(got.Repositories, ",") != strings.Join(c.want, ",") {
				t.Errorf("catalog for %q: %d %s, want %v", c.user, w.Code, w.Body.String(), c.want)
			}
		}
	})
	t.Run("denials are counted", func(t *testing.T) {
		w := tn.do(t, req{path: "/metrics"})
		expiry := fmt.Sprintf("shoal_policy_expiry_timestamp_seconds %g", float64(doc.Expires.Unix()))
		for _, s := range []string{`shoal_access_denied_total{action="pull"}`, `shoal_access_denied_total{action="push"}`, "shoal_policy_version 1", "shoal_policy_expired 0", expiry} {
			if !strings.Contains(w.Body.String(), s) {
				t.Errorf("metrics lack %s", s)
			}
		}
		if strings.Contains(w.Body.String(), `shoal_access_denied_total{action="pull"} 0`) {
			t.Error("pull denials not counted")
		}
	})
}

// forge re-signs nothing: it swaps the claims of a good token.
func forge(tok string) string {
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	claims = bytes.Replace(claims, []byte(`"alice"`), []byte(`"admin"`), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(claims)
	return strings.Join(parts, ".")
}

func TestBaseChallenge(t *testing.T) {
	tn := newAuthTestNode(t, true)
	doc := testDoc(t, 1, tn.now())
	doc.Rules = doc.Rules[1:] // no anonymous access at all
	tn.apply(t, tn.kit.sign(t, doc))
	w := tn.do(t, req{path: "/v2/"})
	want := fmt.Sprintf(`Bearer realm="http://%s/v2/token",service="%s"`, testHost, testHost)
	if w.Code != 401 || w.Header().Values("WWW-Authenticate")[0] != want || errCode(w) != "UNAUTHORIZED" {
		t.Fatalf("anonymous /v2/: %d %q %s; want 401 %q", w.Code, w.Header().Values("WWW-Authenticate"), w.Body.String(), want)
	}
	if w := tn.do(t, req{path: "/v2/", user: "bob", pass: "bob-pw"}); w.Code != 200 {
		t.Errorf("bob /v2/: %d %s", w.Code, w.Body.String())
	}
	if w := tn.do(t, req{path: "/v2/_catalog"}); w.Code != 401 {
		t.Errorf("anonymous catalog: %d %s", w.Code, w.Body.String())
	}
}

func TestPutPolicy(t *testing.T) {
	tn := newAuthTestNode(t, true)
	v2 := tn.kit.sign(t, testDoc(t, 2, tn.now()))
	other := newPolicyKit(t)
	expired := testDoc(t, 5, tn.now().Add(-48*time.Hour))
	wrongNet := testDoc(t, 6, tn.now())
	wrongNet.Network = "elsewhere"

	var seen []uint64
	tn.n.access.Watch(func(p *policy.Policy) { seen = append(seen, p.Document.Version) })
	tests := []struct {
		name    string
		body    []byte
		want    int
		version uint64
		reason  string
	}{
		{"first", v2, 200, 2, ""},
		{"again is fine", v2, 200, 2, ""},
		{"rollback", tn.kit.sign(t, testDoc(t, 1, tn.now())), 400, 0, "version"},
		{"equivocation", tn.kit.sign(t, testDoc(t, 2, tn.now())), 400, 0, "same version"},
		{"untrusted key", other.sign(t, testDoc(t, 3, tn.now())), 400, 0, "signature"},
		{"expired", tn.kit.sign(t, expired), 400, 0, "expired"},
		{"other network", tn.kit.sign(t, wrongNet), 400, 0, "network"},
		{"garbage", []byte("{"), 400, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tn.do(t, req{method: http.MethodPut, path: "/shoal/v1/policy", body: tt.body})
			if w.Code != tt.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body.String(), tt.want)
			}
			if tt.want == 200 {
				var got struct {
					Version uint64
					Digest  string
				}
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Version != tt.version || !strings.HasPrefix(got.Digest, "sha256:") {
					t.Errorf("answer %s", w.Body.String())
				}
			} else if errCode(w) != "DENIED" || !strings.Contains(strings.ToLower(w.Body.String()), tt.reason) {
				t.Errorf("refusal %s lacks the reason %q", w.Body.String(), tt.reason)
			}
		})
	}
	if fmt.Sprint(seen) != "[2]" {
		t.Errorf("watchers saw %v, want [2]", seen)
	}
	// Watching later hears the held policy at once.
	var late []uint64
	tn.n.access.Watch(func(p *policy.Policy) { late = append(late, p.Document.Version) })
	if fmt.Sprint(late) != "[2]" {
		t.Errorf("late watcher saw %v", late)
	}
}

func TestPolicyFileAtStart(t *testing.T) {
	kit := newPolicyKit(t)
	now := time.Now().UTC().Truncate(time.Second)
	dir := t.TempDir()
	write := func(name string, env []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, env, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1f := write("v1", kit.sign(t, testDoc(t, 1, now)))
	v3f := write("v3", kit.sign(t, testDoc(t, 3, now)))
	data := filepath.Join(t.TempDir(), "data")
	start := func(file string) (*Node, error) {
		return New(Config{DataDir: data, PolicyRoots: rootKeys(t, kit.rootPEM), Policy: readFile(t, file), Upstreams: upstreamtest.Rules(t, "docker.io=http://127.0.0.1:1")}, "test")
	}
	n, err := start(v3f)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	// An older file than the one held: kept, not an error.
	n, err = start(v1f)
	if err != nil {
		t.Fatalf("older --policy: %v", err)
	}
	if v := n.access.Version(); v != 3 {
		t.Errorf("version %d after restart with an older file, want 3", v)
	}
	n.Close()
	if _, err := New(Config{DataDir: t.TempDir(), Policy: readFile(t, v1f)}, "test"); err == nil {
		t.Error("--policy without --policy-root accepted")
	}
	if _, err := New(Config{DataDir: t.TempDir(), PolicyRoots: rootKeys(t, kit.rootPEM), PolicyNetwork: "other", Policy: readFile(t, v1f)}, "test"); err == nil {
		t.Error("a policy for another --policy-network accepted")
	}
}

func TestExpiredPolicy(t *testing.T) {
	tn := newAuthTestNode(t, true)
	cached := testimage.Random(t)
	tn.importImage(t, cached, "docker.io/library/alpine:3")
	tn.apply(t, tn.kit.sign(t, testDoc(t, 1, tn.now())))
	layers, _ := cached.Layers()
	blob := testimage.Digest(t, layers[0])
	missing := "sha256:" + strings.Repeat("ab", 32)

	check := func(t *testing.T, r req, want int, code string) {
		t.Helper()
		w := tn.do(t, r)
		if w.Code != want || errCode(w) != code {
			t.Errorf("%s %s: %d %s, want %d %s", r.method, r.path, w.Code, w.Body.String(), want, code)
		}
		if want == 403 && !strings.Contains(w.Body.String(), "policy expired") {
			t.Errorf("refusal does not say the policy expired: %s", w.Body.String())
		}
	}
	// In force: a miss goes upstream (unreachable here: 503).
	check(t, req{path: "/v2/docker.io/library/other/manifests/1"}, 503, "UNAVAILABLE")

	tn.advance(25 * time.Hour) // expired, within the 1h grace
	t.Run("within grace", func(t *testing.T) {
		check(t, req{path: "/v2/docker.io/library/alpine/manifests/3"}, 200, "")
		check(t, req{path: "/v2/docker.io/library/alpine/blobs/" + blob}, 200, "")
		check(t, req{path: "/v2/docker.io/library/other/manifests/1"}, 403, "DENIED")
		check(t, req{path: "/v2/docker.io/library/alpine/blobs/" + missing}, 403, "DENIED")
		check(t, req{path: "/v2/docker.io/library/alpine/manifests/" + missing}, 403, "DENIED")
		check(t, req{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/", user: "alice", pass: "alice-pw"}, 403, "DENIED")
		// The last good policy still decides: team/app was never anonymous.
		check(t, req{path: "/v2/team/app/manifests/1"}, 401, "UNAUTHORIZED")
		w := tn.do(t, req{path: "/readyz"})
		if w.Code != 503 || !strings.Contains(w.Body.String(), "policy: expired") {
			t.Errorf("/readyz: %d %s", w.Code, w.Body.String())
		}
		if w := tn.do(t, req{path: "/metrics"}); !strings.Contains(w.Body.String(), "shoal_policy_expired 1") {
			t.Error("shoal_policy_expired is not 1")
		}
	})
	tn.advance(2 * time.Hour) // grace over
	t.Run("after grace", func(t *testing.T) {
		check(t, req{path: "/v2/docker.io/library/alpine/manifests/3"}, 403, "DENIED")
		check(t, req{path: "/v2/docker.io/library/alpine/blobs/" + blob}, 403, "DENIED")
	})
	t.Run("a new policy lifts it", func(t *testing.T) {
		tn.apply(t, tn.kit.sign(t, testDoc(t, 2, tn.now())))
		check(t, req{path: "/v2/docker.io/library/alpine/manifests/3"}, 200, "")
		if w := tn.do(t, req{path: "/readyz"}); w.Code != 200 {
			t.Errorf("/readyz after a new policy: %d %s", w.Code, w.Body.String())
		}
	})
}
