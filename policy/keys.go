package policy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Key file names WriteKeyPair uses.
const (
	PrivateKeyFile = "policy.key"
	PublicKeyFile  = "policy.pub"
)

// maxKeyFile bounds what ReadPrivateKey and ReadPublicKey read: a PEM
// ed25519 key is about 120 bytes.
const maxKeyFile = 64 << 10

// GenerateKey makes a new ed25519 policy signing key.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// WriteKeyPair writes dir/policy.key (PKCS#8 "PRIVATE KEY", mode 0600) and
// dir/policy.pub (PKIX "PUBLIC KEY", mode 0644). It refuses to overwrite an
// existing private key, so a second keygen cannot destroy a root key.
func WriteKeyPair(dir string, pub ed25519.PublicKey, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize || len(pub) != ed25519.PublicKeySize {
		return errors.New("policy: not an ed25519 key pair")
	}
	if !pub.Equal(priv.Public()) {
		return errors.New("policy: public key does not belong to the private key")
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("policy: encoding private key: %w", err)
	}
	pubPEM, err := MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	keyPath := filepath.Join(dir, PrivateKeyFile)
	// O_EXCL: never replace a key that may be the only copy of a root.
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	_, werr := f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(keyPath)
		return fmt.Errorf("policy: writing %s: %w", keyPath, werr)
	}
	if err := os.WriteFile(filepath.Join(dir, PublicKeyFile), pubPEM, 0o644); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return nil
}

// MarshalPublicKey encodes an ed25519 public key as a PKIX "PUBLIC KEY" PEM
// block, the form policy.pub and the policy's key lists use.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("policy: not an ed25519 public key")
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("policy: encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ReadPrivateKey reads a PKCS#8 "PRIVATE KEY" PEM file holding an ed25519 key.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	block, err := singlePEM(b, "PRIVATE KEY")
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", path, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("policy: %s: a %T, not an ed25519 key", path, k)
	}
	return priv, nil
}

// ReadPublicKey reads a PKIX "PUBLIC KEY" PEM file holding an ed25519 key.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", path, err)
	}
	return pub, nil
}

// ParsePublicKey decodes one PKIX "PUBLIC KEY" PEM block holding an ed25519 key.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	k, err := parsePEMPublicKey(b)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %s key, not ed25519", keyKind(k))
	}
	return pub, nil
}

// KeyID names a policy key: the hex sha256 of its 32 raw bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// shortKeyID is a key ID cut for messages, like a short git hash.
func shortKeyID(id string) string {
	if len(id) > 12 {
		return id[:12] + "…"
	}
	return id
}

// parseSignerKey decodes a PEM public key an image signature may be made
// with: ECDSA P-256 or ed25519.
func parseSignerKey(s string) (any, error) {
	k, err := parsePEMPublicKey([]byte(s))
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA key on %s, only P-256 is accepted", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("a %s key, only ECDSA P-256 or ed25519 are accepted", keyKind(k))
}

func parsePEMPublicKey(b []byte) (any, error) {
	block, err := singlePEM(b, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// singlePEM decodes exactly one PEM block of the given type, with nothing
// but whitespace around it: text before or after a key is a sign of a
// pasting mistake, and a second key would be silently ignored.
func singlePEM(b []byte, typ string) (*pem.Block, error) {
	block, rest := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("no PEM %q block", typ)
	}
	if block.Type != typ {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, typ)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	return block, nil
}

func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "ed25519"
	}
	return fmt.Sprintf("%T", k)
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("policy: reading %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("policy: %s: larger than %d bytes, not a key", path, maxKeyFile)
	}
	return b, nil
}
