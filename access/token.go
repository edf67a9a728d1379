package access

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/policy"
)

// Registry bearer tokens: the node issues them at /v2/token (the docker
// token flow) and accepts them on the registry API. They are compact JWS
// (RFC 7515) with EdDSA (RFC 8037) over ed25519, written here rather than
// with a JWT library: the node only ever produces and checks its own
// tokens, with one fixed algorithm, so the code is a few lines and the
// usual JWT pitfalls (alg=none, algorithm confusion, key lookup by kid)
// cannot arise.

// tokenTTL is how long an issued token is good for.
const tokenTTL = 5 * time.Minute

// tokenKeyFile holds the node's token signing key, under the data dir.
const tokenKeyFile = "token.key"

// maxTokenBytes bounds a token taken from an Authorization header.
const maxTokenBytes = 8 << 10

// tokenHeader is the only JWS header this node writes or accepts.
var tokenHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT"}`))

// tokenClaims are what a token says: who the caller authenticated as
// (sub) and the policy identities that gave it, for which service (aud),
// and when it stops being good.
type tokenClaims struct {
	Issuer     string   `json:"iss,omitempty"`
	Subject    string   `json:"sub"`
	Audience   string   `json:"aud"`
	IssuedAt   int64    `json:"iat"`
	NotBefore  int64    `json:"nbf"`
	Expiry     int64    `json:"exp"`
	ID         string   `json:"jti,omitempty"`
	Identities []string `json:"identities"`
	// Credential fingerprints the policy's definition of the credentials
	// the token was issued for (see credentialFingerprint): a policy that
	// changes them ends the token.
	Credential string `json:"cred,omitempty"`
}

// tokenIssuer signs and checks the node's tokens.
type tokenIssuer struct {
	key    ed25519.PrivateKey
	pub    ed25519.PublicKey
	issuer string
}

// loadTokenKey reads the node's token key from path, creating it (mode
// 0600) on first start. Tokens survive a restart because the key does.
func loadTokenKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("%s: not a PEM PRIVATE KEY", path)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an ed25519 key", path)
		}
		return ek, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	// Write then rename, so a crash never leaves half a key behind.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token.key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, err
	}
	return priv, nil
}

func newTokenIssuer(key ed25519.PrivateKey, issuer string) *tokenIssuer {
	return &tokenIssuer{key: key, pub: key.Public().(ed25519.PublicKey), issuer: issuer}
}

// issue signs a token for subject with identities, for audience, good
// from now for tokenTTL.
func (t *tokenIssuer) issue(subject string, identities []string, audience, credential string, now time.Time) (string, error) {
	if identities == nil {
		identities = []string{}
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	c := tokenClaims{
		Issuer:     t.issuer,
		Subject:    subject,
		Audience:   audience,
		IssuedAt:   now.Unix(),
		NotBefore:  now.Unix(),
		Expiry:     now.Add(tokenTTL).Unix(),
		ID:         base64.RawURLEncoding.EncodeToString(id[:]),
		Identities: identities,
		Credential: credential,
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := tokenHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := ed25519.Sign(t.key, []byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// errToken is why a presented token was not accepted.
var errToken = errors.New("invalid bearer token")

// verify checks a token's header, signature, time window and audience,
// allowing skew of clock difference, and returns its claims.
func (t *tokenIssuer) verify(token, audience string, now time.Time, skew time.Duration) (*tokenClaims, error) {
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: too long", errToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a compact JWS", errToken)
	}
	// Only the exact header this node writes: no algorithm choice.
	if parts[0] != tokenHeader {
		hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil || !bytes.Equal(bytes.TrimSpace(hdr), []byte(`{"alg":"EdDSA","typ":"JWT"}`)) {
			return nil, fmt.Errorf("%w: unsupported header", errToken)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: malformed signature", errToken)
	}
	if !ed25519.Verify(t.pub, []byte(parts[0]+"."+parts[1]), sig) {
		return nil, fmt.Errorf("%w: bad signature (not issued by this node)", errToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: malformed payload", errToken)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: malformed claims", errToken)
	}
	switch {
	case now.After(time.Unix(c.Expiry, 0).Add(skew)):
		return nil, fmt.Errorf("%w: expired", errToken)
	case now.Add(skew).Before(time.Unix(c.NotBefore, 0)):
		return nil, fmt.Errorf("%w: not valid yet", errToken)
	case c.Audience != audience:
		return nil, fmt.Errorf("%w: issued for service %q, not %q", errToken, c.Audience, audience)
	}
	return &c, nil
}

// credentialFingerprint digests how policy p defines the credentials of
// user: every identity with that username, name, password hash and all.
// A token carries it, so that a policy that changes the user's password
// (or removes the user, or renames what its login grants) ends the
// tokens issued before, instead of leaving them good until they expire.
func credentialFingerprint(p *policy.Policy, user string) string {
	if p == nil || p.Document == nil || user == "" {
		return ""
	}
	var ids []policy.Identity
	for _, id := range p.Document.Identities {
		if id.Username == user {
			ids = append(ids, id)
		}
	}
	b, _ := json.Marshal(ids)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
