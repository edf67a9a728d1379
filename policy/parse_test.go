package policy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

const header = "version: 1\nnetwork: prod\nissued: 2026-06-01T00:00:00Z\nexpires: 2026-07-01T00:00:00Z\n"

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func TestParse(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, _ := MarshalPublicKey(edPriv.Public().(ed25519.PublicKey))
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	pemOf := func(k any) string {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fleet CA"}, NotBefore: t0, NotAfter: t0.Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p256.PublicKey, p256)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	_, lpPub, _ := crypto.GenerateEd25519Key(rand.Reader)
	pid, _ := peer.IDFromPublicKey(lpPub)
	hash := bcryptHash(t, "s3cret")

	tests := []struct {
		name    string
		doc     string
		wantErr string // "" = valid
	}{
		{"minimal", header, ""},
		{"json", `{"version":1,"network":"prod","issued":"2026-06-01T00:00:00Z","expires":"2026-07-01T00:00:00Z"}`, ""},
		{"full", header + `threshold: 2
peers:
  allow: [` + pid.String() + `]
upstreams: [registry-1.docker.io, "ghcr.io:443", "[::1]:5000"]
identities:
  - {name: everyone, anonymous: true}
  - {name: local, loopback: true}
  - {name: ci, username: ci, password_hash: "` + hash + `"}
  - {name: nodes, cert_subject: node.fleet.example}
client_cas:
  - |
` + indent(caPEM, "    ") + `
rules:
  - {identities: ["*"], actions: [pull], repositories: ["docker.io/**"]}
  - {effect: deny, identities: [ci], actions: ["*"], repositories: ["secret/*"]}
signatures:
  - repositories: ["myteam/**"]
    mode: enforce
    keys:
      - |
` + indent(pemOf(&p256.PublicKey), "        ") + `
      - |
` + indent(string(edPEM), "        ") + `
scanning:
  scanners: [` + pid.String() + `]
  max_report_age: 168h
  database_keys:
    - |
` + indent(string(edPEM), "      ") + `
  gates:
    - repositories: ["**"]
      severity: HIGH
      missing: warn
      allow: [{id: CVE-2023-4911, expires: 2026-08-01T00:00:00Z}]
`, ""},
		{"unknown key", header + "colour: blue\n", "unknown field"},
		{"duplicate key", header + "version: 2\n", "already set"},
		{"not yaml", "{", "ErrInvalid"},
		{"version 0", strings.Replace(header, "version: 1", "version: 0", 1), "version: must be above 0"},
		{"no network", strings.Replace(header, "network: prod", "network: ''", 1), "network: must be set"},
		{"no issued", "version: 1\nnetwork: prod\nexpires: 2026-07-01T00:00:00Z\n", "issued: must be set"},
		{"no expires", "version: 1\nnetwork: prod\nissued: 2026-07-01T00:00:00Z\n", "expires: must be set"},
		{"expires before issued", strings.Replace(header, "2026-07-01", "2026-05-01", 1), "is not after issued"},
		{"negative threshold", header + "threshold: -1\n", "threshold: -1 is negative"},
		{"bad peer id", header + "peers: {allow: [not-a-peer]}\n", "peers.allow[0]"},
		{"upstream url", header + "upstreams: [https://ghcr.io]\n", "not a URL"},
		{"upstream bad port", header + "upstreams: [ghcr.io:99999]\n", "port"},
		{"identity no name", header + "identities: [{anonymous: true}]\n", "name: must be set"},
		{"identity named *", header + "identities: [{name: '*', anonymous: true}]\n", "reserved"},
		{"identity twice", header + "identities: [{name: a, anonymous: true}, {name: a, loopback: true}]\n", `name "a" is used twice`},
		{"identity no kind", header + "identities: [{name: a}]\n", "exactly one of"},
		{"identity two kinds", header + "identities: [{name: a, anonymous: true, loopback: true}]\n", "exactly one of"},
		{"username without hash", header + "identities: [{name: a, username: ci}]\n", "password_hash: must be set"},
		{"hash without username", header + "identities: [{name: a, password_hash: '" + hash + "'}]\n", "without username"},
		{"plain password", header + "identities: [{name: a, username: ci, password_hash: hunter2}]\n", "not a bcrypt hash"},
		{"truncated bcrypt", header + "identities: [{name: a, username: ci, password_hash: '" + hash[:50] + "'}]\n", "60 characters"},
		{"rule unknown identity", header + "rules: [{identities: [ghost], actions: [pull], repositories: ['**']}]\n", `"ghost" is not a defined identity`},
		{"rule no identities", header + "rules: [{actions: [pull], repositories: ['**']}]\n", "identities: must name"},
		{"rule bad action", header + "rules: [{identities: ['*'], actions: [read], repositories: ['**']}]\n", `"read" is not pull`},
		{"rule bad effect", header + "rules: [{effect: permit, identities: ['*'], actions: [pull], repositories: ['**']}]\n", `"permit" is not "allow" or "deny"`},
		{"rule no repositories", header + "rules: [{identities: ['*'], actions: [pull]}]\n", "at least one glob"},
		{"rule bad glob", header + "rules: [{identities: ['*'], actions: [pull], repositories: ['a/**b']}]\n", "whole segment"},
		{"rule glob with ?", header + "rules: [{identities: ['*'], actions: [pull], repositories: ['a?']}]\n", "not allowed"},
		{"client ca not pem", header + "client_cas: [nope]\n", "client_cas[0]"},
		{"signature mode", header + "signatures: [{repositories: ['**'], mode: audit, keys: ['" + strings.ReplaceAll(string(edPEM), "\n", "\\n") + "']}]\n", `"audit" is not "enforce" or "warn"`},
		{"signature no keys", header + "signatures: [{repositories: ['**'], mode: warn}]\n", "keys: must list"},
		{"signature P-384 key", header + "signatures:\n  - repositories: ['**']\n    mode: warn\n    keys:\n      - |\n" + indent(pemOf(&p384.PublicKey), "        ") + "\n", "only P-256"},
		{"gate severity", header + "scanning: {gates: [{repositories: ['**'], severity: SEVERE}]}\n", "SEVERE"},
		{"gate missing", header + "scanning: {gates: [{repositories: ['**'], severity: LOW, missing: block}]}\n", `"block"`},
		{"scanner bad", header + "scanning: {scanners: [bob]}\n", "neither a peer ID"},
		{"report age", header + "scanning: {max_report_age: week}\n", "max_report_age"},
		{"database key not ed25519", header + "scanning:\n  database_keys:\n    - |\n" + indent(pemOf(&p256.PublicKey), "      ") + "\n", "not ed25519"},
		{"allowed finding without expiry", header + "scanning: {gates: [{repositories: ['**'], severity: LOW, allow: [{id: CVE-1}]}]}\n", "expires: must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if d.Version != 1 || d.Network != "prod" {
					t.Fatalf("parsed %+v", d)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error saying %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, does not wrap ErrInvalid", err)
			}
			if tt.wantErr != "ErrInvalid" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseFullDocumentFields(t *testing.T) {
	d, err := Parse([]byte(header + "threshold: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.RequiredSignatures() != 1 {
		t.Fatalf("threshold 0 requires %d signatures, want 1", d.RequiredSignatures())
	}
	if !d.Issued.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("issued = %s", d.Issued)
	}
}
