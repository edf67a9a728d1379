package policy

import (
	"crypto/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func decidePolicy(t *testing.T, extra string) *Policy {
	t.Helper()
	d, err := Parse([]byte(header + `identities:
  - {name: everyone, anonymous: true}
  - {name: local, loopback: true}
  - {name: ci, username: ci, password_hash: "` + bcryptHash(t, "ci-pass") + `"}
  - {name: ci-alt, username: ci, password_hash: "` + bcryptHash(t, "other") + `"}
  - {name: nodes, cert_subject: node.fleet.example}
rules:
  - {identities: ["*"], actions: [pull, list], repositories: ["docker.io/**"]}
  - {identities: [ci], actions: [push, pull], repositories: ["myteam/*"]}
  - {effect: deny, identities: ["*"], actions: ["*"], repositories: ["docker.io/evil/**"]}
  - {identities: [local], actions: ["*"], repositories: ["**"]}
  - {effect: deny, identities: [ci], actions: [delete], repositories: ["**"]}
  - {identities: [nodes], actions: [pull], repositories: ["ghcr.io/*/app-*"]}
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	return &Policy{Document: d, creds: newCredentialCache()}
}

func TestDecide(t *testing.T) {
	p := decidePolicy(t, "")
	tests := []struct {
		name       string
		identities []string
		action     Action
		repo       string
		allowed    bool
		rule       int
	}{
		{"star identities allow anyone", []string{"everyone"}, Pull, "docker.io/library/alpine", true, 0},
		{"star identities allow nobody-in-particular", nil, Pull, "docker.io/library/alpine", true, 0},
		{"** spans segments", []string{"everyone"}, List, "docker.io/a/b/c/d", true, 0},
		{"** matches zero segments", []string{"everyone"}, Pull, "docker.io", true, 0},
		{"action not granted", []string{"everyone"}, Push, "docker.io/library/alpine", false, -1},
		{"deny beats allow", []string{"everyone"}, Pull, "docker.io/evil/miner", false, 2},
		{"deny beats an allow listed later", []string{"local"}, Push, "docker.io/evil/x", false, 2},
		{"named identity", []string{"ci"}, Push, "myteam/app", true, 1},
		{"* is one segment", []string{"ci"}, Push, "myteam/app/sub", false, -1},
		{"other identity not granted", []string{"everyone"}, Push, "myteam/app", false, -1},
		{"loopback gets everything", []string{"local"}, Delete, "myteam/app", true, 3},
		{"deny for one identity of several", []string{"local", "ci"}, Delete, "myteam/app", false, 4},
		{"glob inside a segment", []string{"nodes"}, Pull, "ghcr.io/acme/app-web", true, 5},
		{"glob inside a segment, no match", []string{"nodes"}, Pull, "ghcr.io/acme/web", false, -1},
		{"default deny", []string{"everyone"}, Pull, "quay.io/x", false, -1},
		{"unknown action", []string{"local"}, Action("frobnicate"), "myteam/app", false, -1},
		{"* is not an action to ask for", []string{"local"}, Action("*"), "myteam/app", false, -1},
		{"empty repo", []string{"local"}, Pull, "", false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.identities, tt.action, tt.repo)
			if d.Allowed != tt.allowed || d.Rule != tt.rule {
				t.Fatalf("Decide = %+v, want allowed=%v rule=%d", d, tt.allowed, tt.rule)
			}
			if d.Reason == "" {
				t.Fatal("no reason")
			}
		})
	}
}

func TestDecideNoRules(t *testing.T) {
	d, err := Parse([]byte(header))
	if err != nil {
		t.Fatal(err)
	}
	if got := (&Policy{Document: d}).Decide([]string{"x"}, Pull, "a"); got.Allowed || got.Rule != -1 {
		t.Fatalf("a policy with no rules allowed: %+v", got)
	}
	if got := (*Policy)(nil).Decide(nil, Push, "a"); !got.Allowed {
		t.Fatalf("no policy denied: %+v", got)
	}
}

func TestIdentify(t *testing.T) {
	p := decidePolicy(t, "")
	tests := []struct {
		name   string
		caller Caller
		want   []string
	}{
		{"anonymous", Caller{}, []string{"everyone"}},
		{"loopback", Caller{Loopback: true}, []string{"everyone", "local"}},
		{"good password", Caller{Username: "ci", Password: "ci-pass"}, []string{"everyone", "ci"}},
		{"second identity with the username", Caller{Username: "ci", Password: "other"}, []string{"everyone", "ci-alt"}},
		{"bad password", Caller{Username: "ci", Password: "nope"}, []string{"everyone"}},
		{"unknown user", Caller{Username: "root", Password: "ci-pass"}, []string{"everyone"}},
		{"cert subject", Caller{CertSubjects: []string{"other", "node.fleet.example"}}, []string{"everyone", "nodes"}},
		{"established identities the policy defines", Caller{Identities: []string{"ci", "gone"}}, []string{"everyone", "ci"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Identify(tt.caller); !slices.Equal(got, tt.want) {
				t.Fatalf("Identify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAuthenticateCaches(t *testing.T) {
	p := decidePolicy(t, "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if names, ok := p.Authenticate("ci", "ci-pass"); !ok || !slices.Equal(names, []string{"ci"}) {
				t.Errorf("Authenticate = %v %v", names, ok)
			}
			if _, ok := p.Authenticate("ci", "wrong"); ok {
				t.Error("wrong password accepted")
			}
		})
	}
	wg.Wait()
	if n := len(p.creds.entries); n != 2 {
		t.Fatalf("%d cache entries, want 2 (one per credential pair)", n)
	}
	// A cached result is returned without bcrypt; a stale one is redone.
	k := p.creds.cacheKey("ci", "ci-pass")
	p.creds.entries[k].names = []string{"marker"}
	if names, _ := p.Authenticate("ci", "ci-pass"); !slices.Equal(names, []string{"marker"}) {
		t.Fatalf("cached result not used: %v", names)
	}
	p.creds.entries[k].expires = time.Now().Add(-time.Second)
	if names, _ := p.Authenticate("ci", "ci-pass"); !slices.Equal(names, []string{"ci"}) {
		t.Fatalf("stale result used: %v", names)
	}
}

func TestCredentialCacheBounded(t *testing.T) {
	c := newCredentialCache()
	check := func() ([]string, bool) { return nil, false }
	for i := range maxCachedCredentials + 10 {
		c.lookup("u", strings.Repeat("x", i), t0, check)
	}
	if n := len(c.entries); n > maxCachedCredentials {
		t.Fatalf("%d entries, bound is %d", n, maxCachedCredentials)
	}
}

func TestPeerAllowed(t *testing.T) {
	newID := func() peer.ID {
		_, pub, _ := crypto.GenerateEd25519Key(rand.Reader)
		id, _ := peer.IDFromPublicKey(pub)
		return id
	}
	in, out := newID(), newID()
	d, err := Parse([]byte(header + "peers: {allow: [" + in.String() + "]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{Document: d}
	tests := []struct {
		id   string
		want bool
	}{
		{in.String(), true},
		{peer.ToCid(in).String(), true}, // another spelling of the same ID
		{out.String(), false},
		{"garbage", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := p.PeerAllowed(tt.id); got != tt.want {
			t.Errorf("PeerAllowed(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	d.Peers.AnyWithSwarmKey = true
	if !p.PeerAllowed(out.String()) {
		t.Error("any_with_swarm_key did not admit a peer")
	}
}

func TestUpstreamAllowed(t *testing.T) {
	d, err := Parse([]byte(header + `upstreams: [Registry-1.Docker.io, "ghcr.io:443", "[::1]:5000", "10.0.0.1"]` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{Document: d}
	tests := []struct {
		hostport string
		want     bool
	}{
		{"registry-1.docker.io", true},
		{"REGISTRY-1.DOCKER.IO:443", true},
		{"registry-1.docker.io:5000", true},
		{"ghcr.io:443", true},
		{"GHCR.io:443", true},
		{"ghcr.io", false},
		{"ghcr.io:8443", false},
		{"[::1]:5000", true},
		{"[::1]:5001", false},
		{"10.0.0.1:80", true},
		{"10.0.0.2", false},
		{"evil.docker.io", false},
		{"registry-1.docker.io.evil.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := p.UpstreamAllowed(tt.hostport); got != tt.want {
			t.Errorf("UpstreamAllowed(%q) = %v, want %v", tt.hostport, got, tt.want)
		}
	}
	d.Upstreams = nil
	if !p.UpstreamAllowed("anything.example") {
		t.Error("no upstreams listed refused an upstream")
	}
}

func TestSignatureRulesAndExpired(t *testing.T) {
	a := newTestKey(t)
	pub, _ := MarshalPublicKey(a.pub)
	k := strings.ReplaceAll(string(pub), "\n", `\n`)
	d, err := Parse([]byte(header + `signatures:
  - {repositories: ["myteam/**"], mode: enforce, keys: ["` + k + `"]}
  - {repositories: ["**/app"], mode: warn, keys: ["` + k + `"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{Document: d}
	modes := func(repo string) []string {
		var m []string
		for _, r := range p.SignatureRules(repo) {
			m = append(m, r.Mode)
		}
		return m
	}
	if got := modes("myteam/app"); !slices.Equal(got, []string{"enforce", "warn"}) {
		t.Errorf("myteam/app: %v", got)
	}
	if got := modes("other/app"); !slices.Equal(got, []string{"warn"}) {
		t.Errorf("other/app: %v", got)
	}
	if got := modes("other/web"); got != nil {
		t.Errorf("other/web: %v", got)
	}
	if p.Expired(d.Expires) || !p.Expired(d.Expires.Add(time.Nanosecond)) {
		t.Error("Expired is not now > expires")
	}
}
