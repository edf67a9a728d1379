package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/policy"
)

func runPolicy(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newPolicyCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func policyYAML(version int, threshold int, expires time.Time) string {
	return fmt.Sprintf(`version: %d
network: prod
issued: %s
expires: %s
threshold: %d
identities:
  - {name: everyone, anonymous: true}
rules:
  - {identities: ["*"], actions: [pull], repositories: ["**"]}
`, version, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), expires.UTC().Format(time.RFC3339), threshold)
}

func TestPolicyKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := filepath.Join(dir, "k1"), filepath.Join(dir, "k2")
	for _, k := range []string{k1, k2} {
		out, _, err := runPolicy(t, "", "keygen", "--out", k)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "key ID ") {
			t.Fatalf("keygen output %q names no key ID", out)
		}
		fi, err := os.Stat(filepath.Join(k, "policy.key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("policy.key: %v %v", fi, err)
		}
	}
	if _, _, err := runPolicy(t, "", "keygen", "--out", k1); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	pub1, pub2 := filepath.Join(k1, "policy.pub"), filepath.Join(k2, "policy.pub")
	id1 := keyIDOf(t, pub1)
	id2 := keyIDOf(t, pub2)

	doc := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(doc, []byte(policyYAML(3, 2, time.Now().Add(24*time.Hour))), 0o644); err != nil {
		t.Fatal(err)
	}
	signedPath := filepath.Join(dir, "policy.signed")
	if _, _, err := runPolicy(t, "", "sign", "--key", filepath.Join(k1, "policy.key"), "--out", signedPath, doc); err != nil {
		t.Fatal(err)
	}

	// One signature of a threshold-2 policy: verify says no, with exit 1.
	_, _, err := runPolicy(t, "", "verify", "--root", pub1, "--root", pub2, signedPath)
	var exit *exitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !errors.Is(err, policy.ErrSignature) || !strings.Contains(err.Error(), "1 of 2") {
		t.Fatalf("verify of a half-signed policy: %v", err)
	}

	// The second key holder signs the envelope in place.
	out, _, err := runPolicy(t, "", "sign", "--key", filepath.Join(k2, "policy.key"), "--out", signedPath, signedPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "holds 2 signature(s)") {
		t.Fatalf("sign output %q", out)
	}
	// Signing again with the same key does not add a signature.
	if out, _, err = runPolicy(t, "", "sign", "--key", filepath.Join(k2, "policy.key"), "--out", signedPath, signedPath); err != nil || !strings.Contains(out, "holds 2 signature(s)") {
		t.Fatalf("re-sign: %v %q", err, out)
	}

	out, _, err = runPolicy(t, "", "verify", "--root", pub1, "--root", pub2, "--network", "prod", signedPath)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	for _, want := range []string{"version:   3", "network:   prod", "expires:", "signed by: " + id1, "signed by: " + id2} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}

	tests := []struct {
		name    string
		args    []string
		wantErr error
	}{
		{"another network", []string{"--root", pub1, "--root", pub2, "--network", "staging"}, policy.ErrNetwork},
		{"one root only", []string{"--root", pub1}, policy.ErrSignature},
		{"min threshold", []string{"--root", pub1, "--root", pub2, "--min-threshold", "3"}, policy.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runPolicy(t, "", append(append([]string{"verify"}, tt.args...), signedPath)...)
			if !errors.As(err, &exit) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want an exit error wrapping %v", err, tt.wantErr)
			}
		})
	}
}

func TestPolicyVerifyExpired(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runPolicy(t, "", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "p.yaml")
	os.WriteFile(doc, []byte(policyYAML(1, 1, time.Now().Add(-10*time.Minute))), 0o644)
	signedPath := filepath.Join(dir, "p.signed")
	_, stderr, err := runPolicy(t, "", "sign", "--key", filepath.Join(dir, "policy.key"), "--out", signedPath, doc)
	if err != nil || !strings.Contains(stderr, "expired") {
		t.Fatalf("sign of an expired policy: %v, stderr %q", err, stderr)
	}
	_, _, err = runPolicy(t, "", "verify", "--root", filepath.Join(dir, "policy.pub"), signedPath)
	var exit *exitError
	if !errors.As(err, &exit) || !errors.Is(err, policy.ErrExpired) {
		t.Fatalf("err = %v, want an exit error wrapping ErrExpired", err)
	}
}

func TestPolicySignRefusesInvalid(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runPolicy(t, "", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"invalid document": "version: 0\nnetwork: prod\n",
		"broken envelope":  `{"payloadType": "x", "payload": 1}`,
		"other envelope":   `{"payloadType":"application/vnd.in-toto+json","payload":"eA==","signatures":[{"sig":"eA=="}]}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(dir, "in")
			os.WriteFile(in, []byte(content), 0o644)
			out := filepath.Join(dir, "out")
			if _, _, err := runPolicy(t, "", "sign", "--key", filepath.Join(dir, "policy.key"), "--out", out, in); err == nil {
				t.Fatal("signed")
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("wrote an envelope")
			}
		})
	}
}

func TestPolicyApply(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runPolicy(t, "", "keygen", "--out", dir); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "p.yaml")
	os.WriteFile(doc, []byte(policyYAML(1, 1, time.Now().Add(time.Hour))), 0o644)
	signedPath := filepath.Join(dir, "p.signed")
	if _, _, err := runPolicy(t, "", "sign", "--key", filepath.Join(dir, "policy.key"), "--out", signedPath, doc); err != nil {
		t.Fatal(err)
	}
	envelope, _ := os.ReadFile(signedPath)

	var got []byte
	var status int
	var answer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Path != "/shoal/v1/policy" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request shape", http.StatusTeapot)
			return
		}
		got, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()

	status, answer = 200, `{"version":1,"digest":"sha256:abc"}`
	out, _, err := runPolicy(t, "", "apply", "--node", srv.URL+"/", signedPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, envelope) {
		t.Fatal("the node did not receive the envelope bytes")
	}
	if strings.TrimSpace(out) != answer {
		t.Fatalf("printed %q, want the node's answer", out)
	}

	status, answer = 409, `{"errors":[{"code":"DENIED","message":"policy: version not above the one held: version 1 is below version 2 held"}]}`
	_, _, err = runPolicy(t, "", "apply", "--node", srv.URL, signedPath)
	if err == nil || !strings.Contains(err.Error(), "version 1 is below version 2 held") {
		t.Fatalf("err = %v, want the node's message", err)
	}

	if _, _, err := runPolicy(t, "", "apply", "--node", srv.URL, doc); err == nil || !strings.Contains(err.Error(), "not a signed policy") {
		t.Fatalf("applying an unsigned document: %v", err)
	}
}

func TestPolicyHashPassword(t *testing.T) {
	out, _, err := runPolicy(t, "s3cret pass\n", "hash-password", "--cost", "4")
	if err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out)
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("s3cret pass")) != nil {
		t.Fatalf("%q is not the hash of the password", h)
	}
	d, err := policy.Parse([]byte("version: 1\nnetwork: n\nissued: 2026-01-01T00:00:00Z\nexpires: 2026-02-01T00:00:00Z\nidentities: [{name: ci, username: ci, password_hash: '" + h + "'}]\n"))
	if err != nil || d.Identities[0].PasswordHash != h {
		t.Fatalf("the hash does not go into a policy: %v", err)
	}
	for _, in := range []string{"", "\n", strings.Repeat("x", 73) + "\n"} {
		if _, _, err := runPolicy(t, in, "hash-password"); err == nil {
			t.Errorf("hashed %q", in)
		}
	}
}

func keyIDOf(t *testing.T, path string) string {
	t.Helper()
	pub, err := policy.ReadPublicKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return policy.KeyID(pub)
}
