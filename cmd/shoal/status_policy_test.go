package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/policy"
)

// TestStatusUnderAPolicy runs `shoal status` against a real node with a
// policy in force: the node and policy tables print for anyone, and the
// images table lists what the caller's docker credentials for the node
// may list: nothing anonymously, alice's repository with her login.
func TestStatusUnderAPolicy(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runPolicy(t, "", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	doc := filepath.Join(dir, "p.yaml")
	os.WriteFile(doc, []byte(fmt.Sprintf(`version: 4
network: prod
issued: %s
expires: %s
peers: {allow: [12D3KooWReZK24uVqda5uvy4XWFSgZ8BekrMH2B5hC7c7vcR4Fsq, 12D3KooWNmXeimwCVhYz5kguw9vdFj35t59iqCmMs5NT8MoQgBDB]}
identities:
  - {name: anyone, anonymous: true}
  - {name: alice, username: alice, password_hash: '%s'}
rules:
  - {identities: [anyone], actions: [pull], repositories: ["docker.io/**"]}
  - {identities: [alice], actions: ["*"], repositories: ["team/**"]}
`, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), expires.Format(time.RFC3339), hash)), 0o644)
	signed := filepath.Join(dir, "p.signed")
	if _, _, err := runPolicy(t, "", "sign", "--key", filepath.Join(dir, "policy.key"), "--out", signed, doc); err != nil {
		t.Fatal(err)
	}
	envelope, _ := os.ReadFile(signed)
	root, err := policy.ReadPublicKey(filepath.Join(dir, "policy.pub"))
	if err != nil {
		t.Fatal(err)
	}
	base := testNode(t, node.Config{Upstreams: rules(t, "docker.io=http://127.0.0.1:1"), TagTTL: time.Minute, PolicyRoots: []ed25519.PublicKey{root}, Policy: envelope})
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(testRef(t, base, "team/app:1"), img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-pw"})); err != nil {
		t.Fatal(err)
	}

	aliceConfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))
	os.WriteFile(filepath.Join(aliceConfig, "config.json"), []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, base.Host, auth)), 0o600)
	common := []string{
		"version 4",
		"network prod",
		"expires " + expires.Format(time.RFC3339) + " (in 47h",
		"signers " + keyIDOf(t, filepath.Join(dir, "policy.pub")),
		"membership 2 listed peer(s)",
	}
	for _, tt := range []struct {
		name         string
		dockerConfig string
		want         []string
		notWant      []string
	}{
		{name: "anonymous", dockerConfig: t.TempDir(), want: append([]string{"IMAGES: 0"}, common...), notWant: []string{"team/app"}},
		{name: "alice", dockerConfig: aliceConfig, want: append([]string{"IMAGES: 1", "team/app 1 " + shortDigest(hashOf(t, img))}, common...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DOCKER_CONFIG", tt.dockerConfig)
			out, _, err := runShoal(t, "status", "--node", base.String())
			if err != nil {
				t.Fatal(err)
			}
			out = oneSpace(out)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}
