// Package signaturetest signs images as cosign does, for the tests of
// the packages that check signatures through a registry (gate, node).
package signaturetest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/signature"
)

// Signer signs as cosign does with a key of its kind.
type Signer struct {
	Public crypto.PublicKey
	Sign   func([]byte) []byte
}

// PEM is the signer's public key as a policy names it.
func (s Signer) PEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.Public)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// NewECDSA is a P-256 signer, cosign's default key.
func NewECDSA(t testing.TB) Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Signer{Public: &k.PublicKey, Sign: func(m []byte) []byte {
		sum := sha256.Sum256(m)
		sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
		if err != nil {
			panic(err)
		}
		return sig
	}}
}

// NewEd25519 is an ed25519 signer.
func NewEd25519(t testing.TB) Signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Signer{Public: pub, Sign: func(m []byte) []byte { return ed25519.Sign(priv, m) }}
}

// SimpleSigning is the payload of a legacy cosign signature (a layer of
// the image's .sig tag) naming image as reference.
func SimpleSigning(reference string, image digest.Digest) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":%q},"optional":null}`,
		reference, image, signature.CosignSignatureType)
}

// Bundle is a cosign v3 signature of image (named name): a sigstore
// bundle holding a DSSE envelope of an in-toto statement, signed by s.
func Bundle(t testing.TB, name string, image digest.Digest, s Signer) []byte {
	t.Helper()
	stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`,
		name, image.Encoded(), signature.CosignSignPredicate)
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(stmt), stmt)
	bundle, err := json.Marshal(map[string]any{
		"mediaType":            signature.MediaTypeBundle,
		"verificationMaterial": map[string]any{"publicKey": map[string]any{"hint": "test"}},
		"dsseEnvelope": map[string]any{
			"payload": base64.StdEncoding.EncodeToString(stmt), "payloadType": payloadType,
			"signatures": []any{map[string]any{"sig": base64.StdEncoding.EncodeToString(s.Sign(pae))}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}
