package node

import (
	"crypto/ed25519"
	"os"
	"testing"

	"github.com/shoal-dev/shoal/policy"
)

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
