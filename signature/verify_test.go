package signature

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestVerify(t *testing.T) {
	ec, ed, other := newECDSASigner(t), newEd25519Signer(t), newECDSASigner(t)
	elsewhere := digest.FromString("another image")
	tests := []struct {
		name string
		// sign attaches signatures to image in src.
		sign       func(t *testing.T, src *memSource, image digest.Digest)
		keys       []crypto.PublicKey
		wantForm   Form
		wantKey    int
		wantReason Reason
		wantDetail string
	}{
		{
			name:     "tag form, ECDSA P-256",
			sign:     func(t *testing.T, s *memSource, d digest.Digest) { s.signTag(t, d, tagSignature{by: ec}) },
			keys:     []crypto.PublicKey{ec.pub},
			wantForm: FormTag,
		},
		{
			name:     "tag form, ed25519",
			sign:     func(t *testing.T, s *memSource, d digest.Digest) { s.signTag(t, d, tagSignature{by: ed}) },
			keys:     []crypto.PublicKey{ed.pub},
			wantForm: FormTag,
		},
		{
			name:     "tag form, second of two keys",
			sign:     func(t *testing.T, s *memSource, d digest.Digest) { s.signTag(t, d, tagSignature{by: ed}) },
			keys:     []crypto.PublicKey{ec.pub, ed.pub},
			wantForm: FormTag, wantKey: 1,
		},
		{
			name: "tag form, one good layer among bad ones",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signTag(t, d, tagSignature{by: other}, tagSignature{by: ec})
			},
			keys:     []crypto.PublicKey{ec.pub},
			wantForm: FormTag,
		},
		{
			name:       "tag form, wrong key",
			sign:       func(t *testing.T, s *memSource, d digest.Digest) { s.signTag(t, d, tagSignature{by: other}) },
			keys:       []crypto.PublicKey{ec.pub, ed.pub},
			wantReason: ReasonUnknownKey, wantDetail: "does not verify with any of the 2 trusted keys",
		},
		{
			name:       "tag form, tampered payload",
			sign:       func(t *testing.T, s *memSource, d digest.Digest) { s.signTag(t, d, tagSignature{by: ec, tamper: true}) },
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonUnknownKey,
		},
		{
			name: "tag form, payload names another digest",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signTag(t, d, tagSignature{by: ec, names: elsewhere})
			},
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonWrongDigest, wantDetail: elsewhere.String(),
		},
		{
			name: "tag form, wrong payload type",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signTag(t, d, tagSignature{by: ec, typ: "atomic container signature"})
			},
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonMalformed, wantDetail: "payload type",
		},
		{
			name: "tag form, signature not base64",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signTag(t, d, tagSignature{by: ec, rawSig: "%%%"})
			},
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonMalformed,
		},
		{
			name:       "tag form, no simple-signing layer",
			sign:       func(t *testing.T, s *memSource, d digest.Digest) { s.signTag(t, d, tagSignature{noLayer: true}) },
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonMalformed,
		},
		{
			name:       "no signature",
			sign:       func(t *testing.T, s *memSource, d digest.Digest) {},
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonNoSignature,
		},
		{
			name:       "no keys",
			sign:       func(t *testing.T, s *memSource, d digest.Digest) { s.signTag(t, d, tagSignature{by: ec}) },
			wantReason: ReasonUnknownKey,
		},
		{
			name:     "bundle form, ECDSA DSSE",
			sign:     func(t *testing.T, s *memSource, d digest.Digest) { s.signBundle(t, d, bundleSignature{by: ec}) },
			keys:     []crypto.PublicKey{ec.pub},
			wantForm: FormBundle,
		},
		{
			name:     "bundle form, ed25519 DSSE",
			sign:     func(t *testing.T, s *memSource, d digest.Digest) { s.signBundle(t, d, bundleSignature{by: ed}) },
			keys:     []crypto.PublicKey{ed.pub},
			wantForm: FormBundle,
		},
		{
			name: "bundle form, listed with the empty artifactType (cosign #4422)",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signBundle(t, d, bundleSignature{by: ec, artifactType: "application/vnd.oci.empty.v1+json"})
			},
			keys:     []crypto.PublicKey{ec.pub},
			wantForm: FormBundle,
		},
		{
			name: "bundle form, ECDSA message signature",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signBundle(t, d, bundleSignature{by: ec, message: true})
			},
			keys:     []crypto.PublicKey{ec.pub},
			wantForm: FormBundle,
		},
		{
			name: "bundle form, ed25519 message signature",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signBundle(t, d, bundleSignature{by: ed, message: true})
			},
			keys:     []crypto.PublicKey{ed.pub},
			wantForm: FormBundle,
		},
		{
			name:       "bundle form, wrong key",
			sign:       func(t *testing.T, s *memSource, d digest.Digest) { s.signBundle(t, d, bundleSignature{by: other}) },
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonUnknownKey,
		},
		{
			name: "bundle form, statement names another digest",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signBundle(t, d, bundleSignature{by: ec, names: elsewhere})
			},
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonWrongDigest, wantDetail: elsewhere.String(),
		},
		{
			name: "bundle form, an attestation is not a signature",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signBundle(t, d, bundleSignature{by: ec, predicate: "https://slsa.dev/provenance/v1"})
			},
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonNoSignature, wantDetail: "attestation",
		},
		{
			name: "strongest reason wins across forms",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signTag(t, d, tagSignature{by: other})
				s.signBundle(t, d, bundleSignature{by: ec, names: elsewhere})
			},
			keys:       []crypto.PublicKey{ec.pub},
			wantReason: ReasonWrongDigest,
		},
		{
			name: "bad tag form, good bundle form",
			sign: func(t *testing.T, s *memSource, d digest.Digest) {
				s.signTag(t, d, tagSignature{by: other})
				s.signBundle(t, d, bundleSignature{by: ed})
			},
			keys:     []crypto.PublicKey{ec.pub, ed.pub},
			wantForm: FormBundle, wantKey: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newMemSource()
			image := src.putImage(t, tt.name)
			tt.sign(t, src, image)
			res, err := Verify(context.Background(), src, image, tt.keys)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.wantForm != "" {
				if !res.Verified || res.Form != tt.wantForm || res.Key != tt.wantKey {
					t.Fatalf("got %+v, want verified by key %d in form %s", res, tt.wantKey, tt.wantForm)
				}
				if res.KeyID != KeyID(tt.keys[tt.wantKey]) {
					t.Errorf("KeyID = %s", res.KeyID)
				}
				return
			}
			if res.Verified {
				t.Fatalf("verified: %+v", res)
			}
			if res.Reason != tt.wantReason {
				t.Errorf("reason = %q (%s), want %q", res.Reason, res.Detail, tt.wantReason)
			}
			if !strings.Contains(res.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", res.Detail, tt.wantDetail)
			}
		})
	}
}

// A signature covers the digest it names: an index's signature does not
// cover its platform manifests, and the other way round.
func TestVerifyMultiPlatform(t *testing.T) {
	ec := newECDSASigner(t)
	src := newMemSource()
	amd, arm := src.putImage(t, "amd64"), src.putImage(t, "arm64")
	index, _ := src.putManifest(t, ocispec.Index{Versioned: specsV2, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: amd, Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: arm, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}},
	}}, "")
	src.signTag(t, index, tagSignature{by: ec})
	src.signTag(t, amd, tagSignature{by: ec}) // as `cosign sign --recursive` would
	keys := []crypto.PublicKey{ec.pub}
	for _, c := range []struct {
		d    digest.Digest
		want bool
	}{{index, true}, {amd, true}, {arm, false}} {
		res, err := Verify(context.Background(), src, c.d, keys)
		if err != nil || res.Verified != c.want {
			t.Errorf("%s: %+v, %v; want verified=%v", c.d, res, err, c.want)
		}
	}
}

func TestVerifySourceErrors(t *testing.T) {
	ec := newECDSASigner(t)
	src := newMemSource()
	image := src.putImage(t, "x")
	src.fail = errors.New("upstream unavailable")
	res, err := Verify(context.Background(), src, image, []crypto.PublicKey{ec.pub})
	if err == nil || res.Verified {
		t.Fatalf("got %+v, %v; want an error", res, err)
	}

	// A signature served with bytes that do not match the digest it was
	// asked by counts as malformed, not as missing.
	src = newMemSource()
	image = src.putImage(t, "y")
	src.signBundle(t, image, bundleSignature{by: ec})
	ref := src.referrers[image][0].Digest.String()
	src.manifests[ref] = append(src.manifests[ref], ' ')
	res, err = Verify(context.Background(), src, image, []crypto.PublicKey{ec.pub})
	if err != nil || res.Verified || res.Reason != ReasonMalformed {
		t.Fatalf("got %+v, %v; want malformed", res, err)
	}
}

func TestParsePublicKey(t *testing.T) {
	ec, ed := newECDSASigner(t), newEd25519Signer(t)
	pemOf := func(k crypto.PublicKey) string {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	keys, err := ParsePublicKeys([]string{pemOf(ec.pub), pemOf(ed.pub)})
	if err != nil || len(keys) != 2 || KeyID(keys[0]) != KeyID(ec.pub) || KeyID(keys[1]) != KeyID(ed.pub) {
		t.Fatalf("got %v, %v", keys, err)
	}
	for name, bad := range map[string]string{
		"empty":       "",
		"private key": strings.Replace(pemOf(ec.pub), "PUBLIC KEY", "PRIVATE KEY", 2),
		"two blocks":  pemOf(ec.pub) + pemOf(ed.pub),
		"garbage":     "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
	} {
		if _, err := ParsePublicKey([]byte(bad)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestIsCosignTag(t *testing.T) {
	d := digest.FromString("x")
	for tag, want := range map[string]bool{
		SignatureTag(d):                   true,
		"sha256-" + d.Encoded() + ".att":  true,
		"sha256-" + d.Encoded() + ".sbom": true,
		"sha256-" + d.Encoded():           false, // the referrers fallback index
		"latest":                          false,
		"v1.sig":                          false,
	} {
		if got := IsCosignTag(tag); got != want {
			t.Errorf("IsCosignTag(%q) = %v", tag, got)
		}
	}
	if SignatureTag(d) != "sha256-"+d.Encoded()+".sig" {
		t.Errorf("SignatureTag = %s", SignatureTag(d))
	}
}
