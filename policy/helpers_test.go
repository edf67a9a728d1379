package policy

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// t0 is the tests' "now": fixed, so no test depends on the clock.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type testKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	id   string
}

func newTestKey(t testing.TB) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{pub, priv, KeyID(pub)}
}

// testDoc is a minimal valid document as YAML, with version, network and
// threshold filled in and the validity window around t0.
func testDoc(version uint64, network string, threshold int) []byte {
	return fmt.Appendf(nil, `version: %d
network: %s
issued: %s
expires: %s
threshold: %d
peers:
  any_with_swarm_key: true
identities:
  - name: everyone
    anonymous: true
rules:
  - identities: ["*"]
    actions: [pull]
    repositories: ["**"]
`, version, network, t0.Add(-time.Hour).Format(time.RFC3339), t0.Add(30*24*time.Hour).Format(time.RFC3339), threshold)
}

// signed wraps payload in an envelope signed by keys, in order.
func signed(payload []byte, keys ...testKey) []byte {
	e := &Envelope{PayloadType: PayloadType, Payload: payload}
	for _, k := range keys {
		e.Sign(k.priv)
	}
	return e.Marshal()
}

func bcryptHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}
