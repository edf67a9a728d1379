package signature

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	dsseenc "github.com/shoal-dev/shoal/dsse"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// memSource is a registry repository in memory.
type memSource struct {
	manifests map[string][]byte
	blobs     map[digest.Digest][]byte
	referrers map[digest.Digest][]ocispec.Descriptor
	// fail, when set, is what every call returns.
	fail error
	// calls counts Source calls.
	calls int
}

func newMemSource() *memSource {
	return &memSource{manifests: map[string][]byte{}, blobs: map[digest.Digest][]byte{}, referrers: map[digest.Digest][]ocispec.Descriptor{}}
}

func (s *memSource) Manifest(_ context.Context, ref string) ([]byte, error) {
	s.calls++
	if s.fail != nil {
		return nil, s.fail
	}
	b, ok := s.manifests[ref]
	if !ok {
		return nil, fmt.Errorf("manifest %s: %w", ref, ErrNotFound)
	}
	return b, nil
}

func (s *memSource) Blob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	s.calls++
	if s.fail != nil {
		return nil, s.fail
	}
	b, ok := s.blobs[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memSource) Referrers(_ context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	s.calls++
	if s.fail != nil {
		return nil, s.fail
	}
	return s.referrers[d], nil
}

// putManifest stores a manifest by digest (and tag) and returns its digest.
func (s *memSource) putManifest(t *testing.T, v any, tag string) (digest.Digest, []byte) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	s.manifests[d.String()] = b
	if tag != "" {
		s.manifests[tag] = b
	}
	return d, b
}

func (s *memSource) putBlob(b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	s.blobs[d] = b
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

var specsV2 = specs.Versioned{SchemaVersion: 2}

var emptyConfig = ocispec.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: digest.FromBytes([]byte("{}")), Size: 2}

// putImage stores a small image manifest and returns its digest.
func (s *memSource) putImage(t *testing.T, name string) digest.Digest {
	t.Helper()
	layer := s.putBlob([]byte("layer of " + name))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	cfg := s.putBlob([]byte(`{"architecture":"amd64","os":"linux"}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	d, _ := s.putManifest(t, ocispec.Manifest{
		Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer},
	}, "")
	return d
}

// signer signs as cosign does with a key of its kind.
type signer struct {
	pub  crypto.PublicKey
	sign func(message []byte) []byte
}

func newECDSASigner(t testing.TB) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{pub: &k.PublicKey, sign: func(m []byte) []byte {
		sum := sha256.Sum256(m)
		sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}}
}

func newEd25519Signer(t testing.TB) signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{pub: pub, sign: func(m []byte) []byte { return ed25519.Sign(priv, m) }}
}

// simpleSigningPayload is a cosign payload as `cosign sign` writes it.
func simpleSigningPayload(named digest.Digest, typ string) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":"registry.example/signed/app"},"image":{"docker-manifest-digest":%q},"type":%q},"optional":null}`, named, typ)
}

// tagSignature describes one legacy signature to attach.
type tagSignature struct {
	by      signer
	names   digest.Digest // what the payload names; the image when ""
	typ     string        // critical.type; cosign's when ""
	tamper  bool          // change the payload after signing
	rawSig  string        // annotation value instead of the signature
	noLayer bool          // a manifest without a simple-signing layer
}

// signTag attaches legacy cosign signatures to image under its .sig tag.
func (s *memSource) signTag(t *testing.T, image digest.Digest, sigs ...tagSignature) {
	t.Helper()
	var layers []ocispec.Descriptor
	for _, ts := range sigs {
		if ts.noLayer {
			l := s.putBlob([]byte("not a signature"))
			l.MediaType = "application/octet-stream"
			layers = append(layers, l)
			continue
		}
		names, typ := ts.names, ts.typ
		if names == "" {
			names = image
		}
		if typ == "" {
			typ = CosignSignatureType
		}
		payload := simpleSigningPayload(names, typ)
		sig := base64.StdEncoding.EncodeToString(ts.by.sign(payload))
		if ts.rawSig != "" {
			sig = ts.rawSig
		}
		if ts.tamper {
			payload = bytes.Replace(payload, []byte("registry.example"), []byte("registry.evil.xx"), 1)
		}
		l := s.putBlob(payload)
		l.MediaType = MediaTypeSimpleSigning
		l.Annotations = map[string]string{AnnotationSignature: sig}
		layers = append(layers, l)
	}
	s.blobs[emptyConfig.Digest] = []byte("{}")
	s.putManifest(t, ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: emptyConfig, Layers: layers}, SignatureTag(image))
}

// bundleSignature describes one cosign v3 bundle referrer to attach.
type bundleSignature struct {
	by           signer
	names        digest.Digest // the statement's subject; the image when ""
	predicate    string        // CosignSignPredicate when ""
	artifactType string        // the referrer's artifactType; MediaTypeBundle when ""
	message      bool          // a messageSignature bundle instead of DSSE
}

// signBundle attaches a cosign v3 signature bundle to image as a referrer.
func (s *memSource) signBundle(t *testing.T, image digest.Digest, bs bundleSignature) {
	t.Helper()
	names, predicate, artifactType := bs.names, bs.predicate, bs.artifactType
	if names == "" {
		names = image
	}
	if predicate == "" {
		predicate = CosignSignPredicate
	}
	if artifactType == "" {
		artifactType = MediaTypeBundle
	}
	var content map[string]any
	if bs.message {
		sum := sha256.Sum256(s.manifests[names.String()])
		// ECDSA signs sha256(manifest), which is the digest; ed25519 the bytes.
		sig := bs.by.sign(s.manifests[names.String()])
		content = map[string]any{"messageSignature": map[string]any{
			"messageDigest": map[string]any{"algorithm": "SHA2_256", "digest": base64.StdEncoding.EncodeToString(sum[:])},
			"signature":     base64.StdEncoding.EncodeToString(sig),
		}}
	} else {
		stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/signed/app","digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`, names.Encoded(), predicate)
		sig := bs.by.sign(dsseenc.PAE(payloadTypeInToto, stmt))
		content = map[string]any{"dsseEnvelope": map[string]any{
			"payload":     base64.StdEncoding.EncodeToString(stmt),
			"payloadType": payloadTypeInToto,
			"signatures":  []map[string]any{{"sig": base64.StdEncoding.EncodeToString(sig)}},
		}}
	}
	content["mediaType"] = MediaTypeBundle
	content["verificationMaterial"] = map[string]any{"publicKey": map[string]any{"hint": KeyID(bs.by.pub)}}
	raw, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	l := s.putBlob(raw)
	l.MediaType = MediaTypeBundle
	s.blobs[emptyConfig.Digest] = []byte("{}")
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: image, Size: int64(len(s.manifests[image.String()]))}
	d, b := s.putManifest(t, ocispec.Manifest{
		Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: MediaTypeBundle,
		Config: emptyConfig, Layers: []ocispec.Descriptor{l}, Subject: &subject,
	}, "")
	s.referrers[image] = append(s.referrers[image], ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: int64(len(b)), ArtifactType: artifactType,
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
