package signature

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParsePublicKey reads one PEM "PUBLIC KEY" block (PKIX, as `cosign
// generate-key-pair` writes cosign.pub): an ECDSA P-256 or an ed25519 key.
func ParsePublicKey(pemText []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(pemText)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	if err := checkKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

// ParsePublicKeys parses every PEM key of a signature rule, in order.
func ParsePublicKeys(pems []string) ([]crypto.PublicKey, error) {
	keys := make([]crypto.PublicKey, 0, len(pems))
	for i, p := range pems {
		k, err := ParsePublicKey([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// checkKey accepts the key types cosign verifies with by default that
// this package supports.
func checkKey(k crypto.PublicKey) error {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA key on %s: only P-256 is supported", k.Curve.Params().Name)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("unsupported key type %T: want ECDSA P-256 or ed25519", k)
}

// KeyID names a key in results and logs: the first 16 hex digits of the
// sha256 of its PKIX DER encoding.
func KeyID(k crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "invalid"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// verifyMessage checks sig over message with k: ECDSA P-256 signatures
// are ASN.1 DER over sha256(message), ed25519 signatures are over the
// message itself (cosign's defaults for both key types).
func verifyMessage(k crypto.PublicKey, message, sig []byte) bool {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		sum := sha256.Sum256(message)
		return ecdsa.VerifyASN1(k, sum[:], sig)
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize && ed25519.Verify(k, message, sig)
	}
	return false
}

// verifyDigest checks an ECDSA signature over a sha256 digest computed
// elsewhere. ed25519 signs whole messages, so it cannot be checked here.
func verifyDigest(k crypto.PublicKey, sum, sig []byte) bool {
	e, ok := k.(*ecdsa.PublicKey)
	return ok && len(sum) == sha256.Size && ecdsa.VerifyASN1(e, sum, sig)
}
