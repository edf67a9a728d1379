package access

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/policy"
)

func TestTokenRoundTrip(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	iss := newTokenIssuer(priv, "shoal")
	_, otherKey, _ := ed25519.GenerateKey(nil)
	other := newTokenIssuer(otherKey, "shoal")
	now := time.Unix(1_800_000_000, 0)
	tok, err := iss.issue("alice", []string{"alice"}, "svc", "", now)
	if err != nil {
		t.Fatal(err)
	}
	otherTok, err := other.issue("alice", []string{"alice"}, "svc", "", now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	tests := []struct {
		name string
		tok  string
		aud  string
		at   time.Time
		skew time.Duration
		ok   bool
	}{
		{name: "good", tok: tok, aud: "svc", at: now.Add(time.Minute), ok: true},
		{name: "good at the last second", tok: tok, aud: "svc", at: now.Add(tokenTTL), ok: true},
		{name: "expired", tok: tok, aud: "svc", at: now.Add(tokenTTL + time.Second)},
		{name: "expired within the skew", tok: tok, aud: "svc", at: now.Add(tokenTTL + time.Second), skew: time.Minute, ok: true},
		{name: "not yet", tok: tok, aud: "svc", at: now.Add(-time.Minute)},
		{name: "audience", tok: tok, aud: "other", at: now},
		{name: "forged", tok: forge(tok), aud: "svc", at: now},
		{name: "another node's key", tok: otherTok, aud: "svc", at: now},
		{name: "alg none", tok: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", aud: "svc", at: now},
		{name: "alg HS256 with the same signature", tok: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + parts[1] + "." + parts[2], aud: "svc", at: now},
		{name: "garbage", tok: "a.b", aud: "svc", at: now},
		{name: "too long", tok: tok + strings.Repeat("A", maxTokenBytes), aud: "svc", at: now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := iss.verify(tt.tok, tt.aud, tt.at, tt.skew)
			if (err == nil) != tt.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (c.Subject != "alice" || c.Identities[0] != "alice" || c.Issuer != "shoal") {
				t.Errorf("claims %+v", c)
			}
		})
	}
}

func TestTokenKey(t *testing.T) {
	// The key persists across restarts, readable only by the node.
	path := filepath.Join(t.TempDir(), tokenKeyFile)
	k1, err := loadTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := loadTokenKey(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("token key not kept: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("token key mode %v", st.Mode().Perm())
	}

	// So tokens one Control issued verify in the next on the same data dir.
	dir := t.TempDir()
	first := open(t, Config{DataDir: dir})
	tok, err := first.tokens.issue("alice", []string{"alice"}, "svc", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	if _, err := open(t, Config{DataDir: dir}).tokens.verify(tok, "svc", time.Now(), 0); err != nil {
		t.Errorf("a token from before the restart: %v", err)
	}

	// A token key file that is not one is an error, not replaced.
	for _, tt := range []struct{ name, content string }{
		{"not PEM", "hello"},
		{"another PEM type", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		{"not PKCS8", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tokenKeyFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if c, err := Open(Config{DataDir: dir}); err == nil {
				c.Close()
				t.Fatal("Open accepted a bad token key")
			}
			if b, _ := os.ReadFile(filepath.Join(dir, tokenKeyFile)); string(b) != tt.content {
				t.Error("the bad token key was overwritten")
			}
		})
	}
}

func TestHandleToken(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	root := newRootKey(t)
	now := time.Now().UTC().Truncate(time.Second)
	doc := &policy.Document{
		Version: 1, Network: "test", Issued: now.Add(-time.Minute), Expires: now.Add(time.Hour),
		Peers:      policy.Peers{AnyWithSwarmKey: true},
		Identities: []policy.Identity{{Name: "alice", Username: "alice", PasswordHash: string(hash)}},
		Rules:      []policy.Rule{{Identities: []string{"alice"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"**"}}},
	}
	guarded := open(t, Config{Roots: []ed25519.PublicKey{root.pub}, Policy: root.envelope(t, doc)})
	openNode := open(t, Config{})

	tests := []struct {
		name           string
		c              *Control
		query          string
		user, pass     string
		authorization  string
		want           int
		wantSubject    string
		wantIdentities []string
		wantAudience   string
	}{
		{name: "basic credentials", c: guarded, query: "?service=svc&scope=repository:x:pull", user: "alice", pass: "alice-pw",
			want: 200, wantSubject: "alice", wantIdentities: []string{"alice"}, wantAudience: "svc"},
		{name: "no credentials: anonymous, service defaults to the host", c: guarded, want: 200, wantAudience: "node.test:5000"},
		{name: "wrong password", c: guarded, user: "alice", pass: "nope", want: 401},
		{name: "account of someone else", c: guarded, query: "?account=bob", user: "alice", pass: "alice-pw", want: 403},
		{name: "account matching", c: guarded, query: "?account=alice", user: "alice", pass: "alice-pw",
			want: 200, wantSubject: "alice", wantIdentities: []string{"alice"}, wantAudience: "node.test:5000"},
		{name: "a bearer token is not a credential here", c: guarded, authorization: "Bearer abc", want: 401},
		{name: "open node: any credentials, anonymous token", c: openNode, user: "alice", pass: "whatever", want: 200, wantAudience: "node.test:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://node.test:5000/v2/token"+tt.query, nil)
			r.RemoteAddr = "192.0.2.10:40000"
			if tt.user != "" {
				r.SetBasicAuth(tt.user, tt.pass)
			}
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			w := httptest.NewRecorder()
			tt.c.HandleToken(w, r)
			if w.Code != tt.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body.String(), tt.want)
			}
			if w.Code == 401 && tt.user != "" && !slices.Contains(w.Header().Values("WWW-Authenticate"), `Basic realm="shoal"`) {
				t.Errorf("401 without a Basic challenge: %q", w.Header().Values("WWW-Authenticate"))
			}
			if w.Code != 200 {
				return
			}
			var got struct {
				Token       string `json:"token"`
				AccessToken string `json:"access_token"`
				ExpiresIn   int    `json:"expires_in"`
				IssuedAt    string `json:"issued_at"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Token == "" || got.Token != got.AccessToken || got.ExpiresIn != int(tokenTTL/time.Second) || got.IssuedAt == "" {
				t.Fatalf("token answer %s: %v", w.Body.String(), err)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			claims, err := tt.c.tokens.verify(got.Token, tt.wantAudience, time.Now(), 0)
			if err != nil {
				t.Fatalf("the token does not verify for %s: %v", tt.wantAudience, err)
			}
			if claims.Subject != tt.wantSubject || !slices.Equal(claims.Identities, tt.wantIdentities) && len(claims.Identities)+len(tt.wantIdentities) > 0 {
				t.Errorf("claims %+v, want subject %q identities %v", claims, tt.wantSubject, tt.wantIdentities)
			}
		})
	}
}
