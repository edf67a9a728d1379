package access

import (
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/policy"
)

// A token dies when a later policy changes the credentials it was issued
// for (issue 10, finding 6); a policy that leaves them alone keeps it
// good until it expires.
func TestTokenDiesWithItsCredentials(t *testing.T) {
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	root := newRootKey(t)
	now := time.Now().UTC().Truncate(time.Second)
	doc := func(version uint64, alicePW string, extra ...policy.Identity) *policy.Document {
		return &policy.Document{
			Version: version, Network: "test", Issued: now.Add(-time.Minute), Expires: now.Add(time.Hour),
			Identities: append([]policy.Identity{{Name: "alice", Username: "alice", PasswordHash: alicePW}}, extra...),
			Rules:      []policy.Rule{{Identities: []string{"alice"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"**"}}},
		}
	}
	first, second := hash("first"), hash("second")
	c := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, Policy: root.envelope(t, doc(1, first))})

	token := func(pw string) string {
		r := httptest.NewRequest(http.MethodGet, "http://node.test/v2/token?service=node.test", nil)
		r.SetBasicAuth("alice", pw)
		w := httptest.NewRecorder()
		c.HandleToken(w, r)
		if w.Code != 200 {
			t.Fatalf("token: %d %s", w.Code, w.Body.String())
		}
		var body struct{ Token string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return body.Token
	}
	accepted := func(tok string) bool {
		r := httptest.NewRequest(http.MethodGet, "http://node.test/v2/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, err := c.identify(r, c.Current())
		return err == nil
	}
	apply := func(d *policy.Document) {
		if _, err := c.Apply(root.envelope(t, d), "test"); err != nil {
			t.Fatal(err)
		}
	}

	old := token("first")
	if !accepted(old) {
		t.Fatal("a fresh token was refused")
	}
	apply(doc(2, second)) // alice's password changes
	if accepted(old) {
		t.Fatal("a token issued for alice's old password still works after the policy changed it")
	}
	current := token("second")
	apply(doc(3, second, policy.Identity{Name: "bob", Username: "bob", PasswordHash: first})) // alice untouched
	if !accepted(current) {
		t.Fatal("a policy that left alice alone killed her token")
	}
	anon := func() string {
		r := httptest.NewRequest(http.MethodGet, "http://node.test/v2/token?service=node.test", nil)
		w := httptest.NewRecorder()
		c.HandleToken(w, r)
		var body struct{ Token string }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return body.Token
	}()
	apply(doc(4, first))
	if !accepted(anon) {
		t.Fatal("an anonymous token died with a credential it was not issued for")
	}
}
