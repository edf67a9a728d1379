package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	sigsig "github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/policy"
)

// The strings cosign writes, spelled out here rather than taken from
// package signature, so that a typo there cannot hide on both sides.
const (
	cosignSimpleSigningType = "application/vnd.dev.cosign.simplesigning.v1+json"
	cosignSignatureAnnot    = "dev.cosignproject.cosign/signature"
	ociEmptyType            = "application/vnd.oci.empty.v1+json"
	cosignSignPredicate     = "https://sigstore.dev/cosign/sign/v1"
)

// startSigningNode starts a node in-process whose signed policy lets
// anyone pull and push anything, and requires, in enforce mode, a
// signature by trusted on signed/**. It returns the node's registry
// host (127.0.0.1:port).
func startSigningNode(t *testing.T, trusted crypto.PublicKey) string {
	t.Helper()
	dir := t.TempDir()
	rootPub, rootPriv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.WriteKeyPair(dir, rootPub, rootPriv); err != nil {
		t.Fatal(err)
	}
	// cosign.pub as cosign generate-key-pair writes it.
	keyPEM, err := cryptoutils.MarshalPublicKeyToPEM(trusted)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	doc, err := json.Marshal(policy.Document{
		Version: 1, Network: "interop", Issued: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour),
		Identities: []policy.Identity{{Name: "anyone", Anonymous: true}},
		Rules:      []policy.Rule{{Identities: []string{"anyone"}, Actions: []policy.Action{"*"}, Repositories: []string{"**"}}},
		Signatures: []policy.SignatureRule{{Repositories: []string{"signed/**"}, Mode: "enforce", Keys: []string{string(keyPEM)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: doc}
	env.Sign(rootPriv)
	root, err := policy.ReadPublicKey(filepath.Join(dir, "policy.pub"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{
		DataDir:     filepath.Join(dir, "data"),
		PolicyRoots: []ed25519.PublicKey{root},
		Policy:      env.Marshal(),
	}, "interop-test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushRandom pushes a random runnable image as tag and returns its
// reference by digest and its descriptor.
func pushRandom(t *testing.T, tag name.Tag) (name.Digest, v1.Descriptor) {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing %s: %v", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(d.String()), v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}
}

// pushLegacySignature signs image as cosign (v1, v2, or v3 with
// --new-bundle-format=false) does: a simple-signing payload made by
// sigstore/sigstore's payload.Cosign, signed by signer, as the one layer
// of an image tagged sha256-<hex>.sig with the base64 signature in the
// layer's annotation.
func pushLegacySignature(t *testing.T, image name.Digest, signer sigsig.Signer) {
	t.Helper()
	p, err := json.Marshal(payload.Cosign{Image: image})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.SignMessage(strings.NewReader(string(p)))
	if err != nil {
		t.Fatal(err)
	}
	// cosign's empty.Signatures(): an OCI manifest with an OCI config.
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	sigImg, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(p, cosignSimpleSigningType),
		Annotations: map[string]string{cosignSignatureAnnot: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(image.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	tag := image.Context().Tag(h.Algorithm + "-" + h.Hex + ".sig")
	if err := remote.Write(tag, sigImg, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing the signature %s: %v", tag, err)
	}
}

// rawManifest is a manifest pushed as its exact bytes.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// pushBundleSignature signs image as cosign v3 does by default: a
// sigstore-go bundle (v0.3) of a DSSE envelope holding an in-toto
// statement of cosign's sign predicate about the image, pushed as an OCI
// 1.1 referrer whose subject is the image. It returns the bundle.
func pushBundleSignature(t *testing.T, image name.Digest, subject v1.Descriptor, kp sign.Keypair) *sgbundle.Bundle {
	t.Helper()
	pred, err := structpb.NewStruct(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := protojson.Marshal(&intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: image.Context().Name(), Digest: map[string]string{"sha256": subject.Digest.Hex}}},
		PredicateType: cosignSignPredicate,
		Predicate:     pred,
	})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: st, PayloadType: "application/vnd.in-toto+json"}, kp, sign.BundleOptions{Context: t.Context()})
	if err != nil {
		t.Fatal(err)
	}
	bundleJSON, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	bundleType, err := sgbundle.MediaTypeString("0.3")
	if err != nil {
		t.Fatal(err)
	}

	// As cosign's WriteAttestationNewBundleFormat: an empty config, the
	// bundle as the one layer, the image as subject, pushed by digest.
	opts := []remote.Option{remote.WithContext(t.Context())}
	config := static.NewLayer([]byte("{}"), ociEmptyType)
	layer := static.NewLayer(bundleJSON, types.MediaType(bundleType))
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(image.Context(), l, opts...); err != nil {
			t.Fatal(err)
		}
	}
	descOf := func(l v1.Layer) v1.Descriptor {
		d, _ := l.Digest()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		return v1.Descriptor{MediaType: mt, Digest: d, Size: size}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  bundleType,
		Config:        descOf(config),
		Layers:        []v1.Descriptor{descOf(layer)},
		Subject:       &subject,
		Annotations: map[string]string{
			"org.opencontainers.image.created":  time.Now().UTC().Format(time.RFC3339),
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": cosignSignPredicate,
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	target := image.Context().Digest(digest.FromBytes(raw).String())
	if err := remote.Put(target, rawManifest(raw), opts...); err != nil {
		t.Fatalf("pushing the bundle referrer %s: %v", target, err)
	}
	b, err := sgbundle.NewBundle(pb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pullOK pulls ref completely (manifest, config, layers, all checked
// against their digests) and says that it is the image want.
func pullOK(t *testing.T, ref name.Reference, want v1.Hash) {
	t.Helper()
	desc, err := remote.Get(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if desc.Digest != want {
		t.Fatalf("pulling %s: digest %s, want %s", ref, desc.Digest, want)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
}

// pullDenied says that pulling ref is refused with 403 DENIED, by a
// message that names the rule's glob and reason, both as
// go-containerregistry reports it and in the raw OCI error body.
func pullDenied(t *testing.T, ref name.Reference, reason string) {
	t.Helper()
	_, err := remote.Get(ref, remote.WithContext(t.Context()))
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("pulling %s: %v, want a registry error", ref, err)
	}
	if terr.StatusCode != http.StatusForbidden || len(terr.Errors) == 0 || terr.Errors[0].Code != transport.DeniedErrorCode {
		t.Fatalf("pulling %s: status %d, errors %+v; want 403 DENIED", ref, terr.StatusCode, terr.Errors)
	}
	for _, s := range []string{`"signed/**"`, reason} {
		if !strings.Contains(terr.Errors[0].Message, s) {
			t.Errorf("pulling %s: message %q does not say %q", ref, terr.Errors[0].Message, s)
		}
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet,
		"http://"+ref.Context().RegistryStr()+"/v2/"+ref.Context().RepositoryStr()+"/manifests/"+ref.Identifier(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", string(types.OCIManifestSchema1)+", "+string(types.DockerManifestSchema2))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: status %d, body not an OCI error: %v", req.URL, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusForbidden || len(body.Errors) == 0 || body.Errors[0].Code != "DENIED" ||
		!strings.Contains(body.Errors[0].Message, `"signed/**"`) {
		t.Errorf("GET %s: %d %+v; want 403 DENIED naming signed/**", req.URL, resp.StatusCode, body.Errors)
	}
}

// TestNodeEnforcesRealSignatures runs a node whose policy requires
// signatures on signed/** and checks that it serves images signed with
// the real sigstore libraries, in both of cosign's forms, and refuses
// unsigned images and images signed by another key.
func TestNodeEnforcesRealSignatures(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sigsig.LoadECDSASignerVerifier(ec, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	trusted := keyPair{name: "ECDSA P-256", pub: &ec.PublicKey, signer: signer, algorithm: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256}
	// Another key, generated by sigstore's own code for each form.
	strangerSigner, _, err := sigsig.NewDefaultECDSASignerVerifier()
	if err != nil {
		t.Fatal(err)
	}
	strangerKeypair, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}

	host := startSigningNode(t, trusted.pub)
	tag := func(s string) name.Tag {
		tg, err := name.NewTag(host+"/"+s, name.Insecure, name.StrictValidation)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}

	// Everything is pushed and signed before the first pull, so no
	// refusal is remembered for an image that is signed later.
	legacyGood, _ := pushRandom(t, tag("signed/app:good"))
	pushLegacySignature(t, legacyGood, trusted.signer)
	bad, _ := pushRandom(t, tag("signed/app:bad"))
	legacyStranger, _ := pushRandom(t, tag("signed/app:stranger"))
	pushLegacySignature(t, legacyStranger, strangerSigner)

	bundleGood, bundleGoodDesc := pushRandom(t, tag("signed/app2:good"))
	b := pushBundleSignature(t, bundleGood, bundleGoodDesc, newSigstoreKeypair(t, trusted))
	// sigstore-go itself accepts the bundle with the trusted key.
	sigstoreAccepts(t, b, trusted, digest.Digest(bundleGood.DigestStr()))
	bundleStranger, bundleStrangerDesc := pushRandom(t, tag("signed/app2:stranger"))
	pushBundleSignature(t, bundleStranger, bundleStrangerDesc, strangerKeypair)

	// Outside signed/**, nothing is required.
	free, _ := pushRandom(t, tag("free/app:v1"))

	hash := func(d name.Digest) v1.Hash {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	t.Run("legacy .sig signature by tag", func(t *testing.T) { pullOK(t, tag("signed/app:good"), hash(legacyGood)) })
	t.Run("legacy .sig signature by digest", func(t *testing.T) { pullOK(t, legacyGood, hash(legacyGood)) })
	t.Run("bundle referrer by tag", func(t *testing.T) { pullOK(t, tag("signed/app2:good"), hash(bundleGood)) })
	t.Run("bundle referrer by digest", func(t *testing.T) { pullOK(t, bundleGood, hash(bundleGood)) })
	t.Run("no rule", func(t *testing.T) { pullOK(t, tag("free/app:v1"), hash(free)) })

	t.Run("unsigned by tag", func(t *testing.T) { pullDenied(t, tag("signed/app:bad"), "no signature found") })
	t.Run("unsigned by digest", func(t *testing.T) { pullDenied(t, bad, "no signature found") })
	t.Run("legacy signature by another key", func(t *testing.T) {
		pullDenied(t, tag("signed/app:stranger"), "not signed by a trusted key")
	})
	t.Run("bundle signature by another key", func(t *testing.T) {
		pullDenied(t, tag("signed/app2:stranger"), "not signed by a trusted key")
	})

	// The signatures themselves stay readable, as cosign verify needs.
	t.Run("signature artifacts are served", func(t *testing.T) {
		h := hash(legacyGood)
		if _, err := remote.Get(tag("signed/app:"+h.Algorithm+"-"+h.Hex+".sig"), remote.WithContext(t.Context())); err != nil {
			t.Errorf("the .sig manifest: %v", err)
		}
		idx, err := remote.Referrers(bundleGood, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("referrers: %v", err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != 1 {
			t.Fatalf("referrers of %s: %+v, want the one bundle", bundleGood, im.Manifests)
		}
		if _, err := remote.Get(bundleGood.Context().Digest(im.Manifests[0].Digest.String()), remote.WithContext(t.Context())); err != nil {
			t.Errorf("the bundle referrer: %v", err)
		}
	})
}
