package interop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shoal-dev/shoal/signature"
)

// repo is one repository of a registry, in memory.
type repo struct {
	manifests map[string][]byte
	blobs     map[digest.Digest][]byte
	referrers map[digest.Digest][]ocispec.Descriptor
}

func newRepo() *repo {
	return &repo{manifests: map[string][]byte{}, blobs: map[digest.Digest][]byte{}, referrers: map[digest.Digest][]ocispec.Descriptor{}}
}

func (r *repo) Manifest(_ context.Context, ref string) ([]byte, error) {
	if b, ok := r.manifests[ref]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("manifest %s: %w", ref, signature.ErrNotFound)
}

func (r *repo) Blob(_ context.Context, d digest.Digest) (io.ReadCloser, error) {
	if b, ok := r.blobs[d]; ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return nil, fmt.Errorf("blob %s: %w", d, signature.ErrNotFound)
}

func (r *repo) Referrers(_ context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	return r.referrers[d], nil
}

func (r *repo) blob(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	r.blobs[d] = b
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

func (r *repo) manifest(t *testing.T, m ocispec.Manifest, tag string) ocispec.Descriptor {
	t.Helper()
	m.Versioned = specs.Versioned{SchemaVersion: 2}
	m.MediaType = ocispec.MediaTypeImageManifest
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	r.manifests[d.String()] = b
	if tag != "" {
		r.manifests[tag] = b
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(b)), ArtifactType: m.ArtifactType}
}

func (r *repo) image(t *testing.T) ocispec.Descriptor {
	cfg := r.blob(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := r.blob(ocispec.MediaTypeImageLayerGzip, []byte(fmt.Sprintf("%s %d", t.Name(), len(r.manifests))))
	return r.manifest(t, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}}, "")
}

func (r *repo) emptyConfig() ocispec.Descriptor {
	return r.blob("application/vnd.oci.empty.v1+json", []byte("{}"))
}

// keyPair is a signing key as cosign would load it from cosign.key,
// through sigstore/sigstore's signers.
type keyPair struct {
	name   string
	pub    crypto.PublicKey
	signer sigsig.SignerVerifier
	// algorithm is the same key's type for sigstore-go.
	algorithm protocommon.PublicKeyDetails
}

func keyPairs(t *testing.T) []keyPair {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecsv, err := sigsig.LoadECDSASignerVerifier(ec, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edsv, err := sigsig.LoadED25519SignerVerifier(ed)
	if err != nil {
		t.Fatal(err)
	}
	return []keyPair{
		{name: "ECDSA P-256", pub: &ec.PublicKey, signer: ecsv, algorithm: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256},
		{name: "ed25519", pub: ed.Public(), signer: edsv, algorithm: protocommon.PublicKeyDetails_PKIX_ED25519},
	}
}

// sigstoreKeypair is a sign.Keypair over an existing key, so that the
// bundle is signed with the key the test trusts.
type sigstoreKeypair struct {
	kp keyPair
	*sign.EphemeralKeypair
}

func (k sigstoreKeypair) GetPublicKey() crypto.PublicKey { return k.kp.pub }

func (k sigstoreKeypair) SignData(ctx context.Context, data []byte) ([]byte, []byte, error) {
	sig, err := k.kp.signer.SignMessage(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	// As sign.EphemeralKeypair does: the digest, except for pure ed25519,
	// which signs the data itself.
	if _, ok := k.kp.pub.(ed25519.PublicKey); ok {
		return sig, data, nil
	}
	sum := digest.FromBytes(data)
	raw, _ := hex.DecodeString(sum.Encoded())
	return sig, raw, nil
}

func newSigstoreKeypair(t *testing.T, kp keyPair) sign.Keypair {
	eph, err := sign.NewEphemeralKeypair(&sign.EphemeralKeypairOptions{Algorithm: kp.algorithm})
	if err != nil {
		t.Fatal(err)
	}
	return sigstoreKeypair{kp: kp, EphemeralKeypair: eph}
}

// signLegacy attaches a cosign legacy signature: the payload made by
// sigstore/sigstore's payload.Cosign, signed by its signer.
func signLegacy(t *testing.T, r *repo, image digest.Digest, kp keyPair) {
	t.Helper()
	ref, err := name.NewDigest("registry.example/signed/app@" + image.String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload.Cosign{Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := kp.signer.SignMessage(bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	l := r.blob(signature.MediaTypeSimpleSigning, p)
	l.Annotations = map[string]string{signature.AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}
	r.manifest(t, ocispec.Manifest{Config: r.emptyConfig(), Layers: []ocispec.Descriptor{l}}, signature.SignatureTag(image))
}

// signBundle attaches a cosign v3 signature: a sigstore-go bundle of an
// in-toto statement about image (or, with plain, of the manifest bytes),
// as a referrer. It returns the bundle.
func signBundle(t *testing.T, r *repo, image ocispec.Descriptor, kp keyPair, plain bool) *sgbundle.Bundle {
	t.Helper()
	var content sign.Content
	if plain {
		content = &sign.PlainData{Data: r.manifests[image.Digest.String()]}
	} else {
		pred, _ := structpb.NewStruct(map[string]any{})
		st, err := protojson.Marshal(&intoto.Statement{
			Type:          intoto.StatementTypeUri,
			Subject:       []*intoto.ResourceDescriptor{{Name: "registry.example/signed/app", Digest: map[string]string{"sha256": image.Digest.Encoded()}}},
			PredicateType: signature.CosignSignPredicate,
			Predicate:     pred,
		})
		if err != nil {
			t.Fatal(err)
		}
		content = &sign.DSSEData{Data: st, PayloadType: "application/vnd.in-toto+json"}
	}
	pb, err := sign.Bundle(content, newSigstoreKeypair(t, kp), sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	l := r.blob(signature.MediaTypeBundle, raw)
	desc := r.manifest(t, ocispec.Manifest{
		ArtifactType: signature.MediaTypeBundle, Config: r.emptyConfig(), Layers: []ocispec.Descriptor{l}, Subject: &image,
	}, "")
	// As cosign issue #4422 shows some registries list it.
	desc.ArtifactType = "application/vnd.oci.empty.v1+json"
	r.referrers[image.Digest] = append(r.referrers[image.Digest], desc)
	b, err := sgbundle.NewBundle(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sigstoreAccepts checks b with sigstore-go's own verifier and key, so
// the fixture is known to be a valid bundle and not only one this
// package likes.
func sigstoreAccepts(t *testing.T, b *sgbundle.Bundle, kp keyPair, image digest.Digest) {
	t.Helper()
	v, err := sigsig.LoadVerifier(kp.pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
	})
	sv, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := hex.DecodeString(image.Encoded())
	if _, err := sv.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", sum), verify.WithKey())); err != nil {
		t.Fatalf("sigstore-go does not accept its own bundle: %v", err)
	}
}

func TestRealSignatures(t *testing.T) {
	pairs := keyPairs(t)
	for i, kp := range pairs {
		other := pairs[(i+1)%len(pairs)]
		for _, form := range []string{"legacy", "bundle-dsse", "bundle-message"} {
			t.Run(kp.name+"/"+form, func(t *testing.T) {
				r := newRepo()
				image := r.image(t)
				switch form {
				case "legacy":
					signLegacy(t, r, image.Digest, kp)
				case "bundle-dsse":
					sigstoreAccepts(t, signBundle(t, r, image, kp, false), kp, image.Digest)
				case "bundle-message":
					b := signBundle(t, r, image, kp, true)
					if _, ok := kp.pub.(*ecdsa.PublicKey); ok {
						sigstoreAccepts(t, b, kp, image.Digest)
					}
				}
				res, err := signature.Verify(context.Background(), r, image.Digest, []crypto.PublicKey{kp.pub})
				if err != nil || !res.Verified {
					t.Fatalf("with the signing key: %v, %v", res, err)
				}
				res, err = signature.Verify(context.Background(), r, image.Digest, []crypto.PublicKey{other.pub})
				if err != nil || res.Verified || res.Reason != signature.ReasonUnknownKey {
					t.Fatalf("with another key: %v, %v; want %q", res, err, signature.ReasonUnknownKey)
				}
				// And the signature covers that image only.
				res, err = signature.Verify(context.Background(), r, r.image(t).Digest, []crypto.PublicKey{kp.pub})
				if err != nil || res.Verified {
					t.Fatalf("another image: %v, %v", res, err)
				}
			})
		}
	}
}
