package access

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
)

// Every wrong password cost a bcrypt check, unauthenticated and without
// limit, and so did every right one (issue 10, finding 9). A credential
// verified recently is not hashed again, and password checks that cost a
// hash are rate-limited per client address.
func TestPasswordChecks(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	root := newRootKey(t)
	doc := fleetDoc(1)
	doc.Identities = []policy.Identity{{Name: "alice", Username: "alice", PasswordHash: string(h)}}
	doc.Rules = []policy.Rule{{Identities: []string{"alice"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"**"}}}
	// A clock that stands still: with a real one, a slow machine (bcrypt
	// under -race) refills the limiter while the test runs.
	t0 := time.Now()
	c := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, Policy: root.envelope(t, doc), Now: func() time.Time { return t0 }})
	req := func(addr, pass string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://node.test/v2/", nil)
		r.RemoteAddr = addr
		r.SetBasicAuth("alice", pass)
		return r
	}

	// The right password, many times: hashed once.
	for range 20 {
		if _, err := c.identify(req("192.0.2.1:1", "right"), c.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.passwords.hashed.Load(); n != 1 {
		t.Fatalf("the right password was hashed %d times for 20 requests, want 1", n)
	}

	// Wrong passwords from one address: refused as wrong until the limit,
	// then refused as too many without hashing.
	var wrong, limited int
	for range 100 {
		_, err := c.identify(req("192.0.2.2:1", "wrong"), c.Current())
		var oe *oci.Error
		switch {
		case errors.As(err, &oe) && oe.Code == oci.ErrTooManyRequests.Code:
			limited++
		case err != nil:
			wrong++
		default:
			t.Fatal("a wrong password was accepted")
		}
	}
	if limited == 0 || wrong > passwordBurst {
		t.Fatalf("100 wrong passwords from one address: %d checked, %d limited; want at most %d checked", wrong, limited, passwordBurst)
	}
	// Another address is not held back by the first, and the right
	// password, already verified, is not limited.
	if _, err := c.identify(req("192.0.2.3:1", "wrong"), c.Current()); err == nil || errors.Is(err, oci.ErrTooManyRequests) {
		t.Fatalf("another address: %v", err)
	}
	if _, err := c.identify(req("192.0.2.2:1", "right"), c.Current()); err != nil {
		t.Fatalf("a verified credential from the limited address: %v", err)
	}
}
