package node

import (
	"crypto/ed25519"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/policy"
)

// rules are upstream rules from NAME=URL specs, as --upstream gives them.
func rules(t testing.TB, specs ...string) []upstream.Rule {
	t.Helper()
	var out []upstream.Rule
	for _, s := range specs {
		name, raw, _ := strings.Cut(s, "=")
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, upstream.Rule{Name: name, URL: u})
	}
	return out
}

// rootKeys reads policy root public keys from files.
func rootKeys(t testing.TB, files ...string) []ed25519.PublicKey {
	t.Helper()
	var out []ed25519.PublicKey
	for _, f := range files {
		k, err := policy.ReadPublicKey(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// readFile is a file's bytes.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
