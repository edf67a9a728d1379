package signature

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	dsseenc "github.com/shoal-dev/shoal/dsse"
	"sort"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// bundle is the part of a sigstore bundle (v0.1 to v0.3, protobuf JSON)
// Verify reads. With a key there is nothing in verificationMaterial to
// trust: no certificate chain, and offline no transparency log.
type bundle struct {
	MediaType        string `json:"mediaType"`
	DSSEEnvelope     *dsse  `json:"dsseEnvelope"`
	MessageSignature *struct {
		MessageDigest struct {
			Algorithm string `json:"algorithm"`
			Digest    string `json:"digest"`
		} `json:"messageDigest"`
		Signature string `json:"signature"`
	} `json:"messageSignature"`
}

type dsse struct {
	Payload     string `json:"payload"`
	PayloadType string `json:"payloadType"`
	Signatures  []struct {
		Sig   string `json:"sig"`
		KeyID string `json:"keyid"`
	} `json:"signatures"`
}

// statement is the part of an in-toto statement Verify reads.
type statement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

const (
	payloadTypeInToto = "application/vnd.in-toto+json"
	mediaTypeEmpty    = "application/vnd.oci.empty.v1+json"
)

// bundleForm checks the image's referrers for sigstore bundles. Every
// referrer is a candidate, whatever its artifactType (cosign issue #4422
// lists bundles as application/vnd.oci.empty.v1+json), but those that say
// they are bundles are tried first.
func (v *verification) bundleForm(ctx context.Context) (Result, bool) {
	descs, err := v.src.Referrers(ctx, v.image)
	if err != nil {
		v.fetchFailed(err)
		return Result{}, false
	}
	descs = append([]ocispec.Descriptor(nil), descs...)
	sort.SliceStable(descs, func(i, j int) bool { return bundleFirst(descs[i]) < bundleFirst(descs[j]) })
	if len(descs) > maxReferrers {
		v.fail(ReasonNoSignature, "referrers", fmt.Sprintf("only the first %d of %d referrers were read", maxReferrers, len(descs)))
		descs = descs[:maxReferrers]
	}
	for _, desc := range descs {
		if err := desc.Digest.Validate(); err != nil {
			v.fail(ReasonMalformed, "referrer", fmt.Sprintf("digest %q: %v", desc.Digest, err))
			continue
		}
		ref := desc.Digest.String()
		body, err := v.manifest(ctx, ref)
		if err != nil {
			v.fetchError("referrer "+ref, err)
			continue
		}
		var m signedManifest
		if err := json.Unmarshal(body, &m); err != nil {
			v.fail(ReasonMalformed, "referrer "+ref, "manifest is not JSON: "+err.Error())
			continue
		}
		if m.Subject == nil || m.Subject.Digest != v.image {
			// Not a referrer of the image after all: the registry listed it
			// wrongly.
			v.fail(ReasonMalformed, "referrer "+ref, "its subject is not the image")
			continue
		}
		if len(m.Layers) > maxLayers {
			v.fail(ReasonMalformed, "referrer "+ref, fmt.Sprintf("%d layers, more than %d", len(m.Layers), maxLayers))
			continue
		}
		for i, l := range m.Layers {
			if !isBundleMediaType(l.MediaType) {
				continue
			}
			where := fmt.Sprintf("referrer %s layer %d", ref, i)
			b, err := v.blob(ctx, l.Digest)
			if err != nil {
				v.fetchError(where, err)
				continue
			}
			if key, ok := v.checkBundle(ctx, where, b); ok {
				return v.verified(FormBundle, key, ref), true
			}
		}
	}
	return Result{}, false
}

func bundleFirst(d ocispec.Descriptor) int {
	switch {
	case strings.HasPrefix(d.ArtifactType, mediaTypeBundlePrefix):
		return 0
	case d.ArtifactType == "" || d.ArtifactType == mediaTypeEmpty:
		return 1
	}
	return 2
}

func isBundleMediaType(mt string) bool {
	return strings.HasPrefix(mt, mediaTypeBundlePrefix) && strings.HasSuffix(mt, "+json")
}

// checkBundle verifies one bundle's signature with the keys and that what
// it signs names the image, and returns the key that verified.
func (v *verification) checkBundle(ctx context.Context, where string, raw []byte) (int, bool) {
	var b bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		v.fail(ReasonMalformed, where, "bundle is not JSON: "+err.Error())
		return 0, false
	}
	if !strings.HasPrefix(b.MediaType, mediaTypeBundlePrefix) {
		v.fail(ReasonMalformed, where, fmt.Sprintf("bundle media type %q", b.MediaType))
		return 0, false
	}
	switch {
	case b.DSSEEnvelope != nil:
		return v.checkDSSE(where, b.DSSEEnvelope)
	case b.MessageSignature != nil:
		ms := b.MessageSignature
		sig, err1 := decodeBase64(ms.Signature)
		sum, err2 := decodeBase64(ms.MessageDigest.Digest)
		if err1 != nil || err2 != nil || len(sig) == 0 {
			v.fail(ReasonMalformed, where, "message signature is not base64")
			return 0, false
		}
		return v.checkMessageSignature(ctx, where, ms.MessageDigest.Algorithm, sum, sig)
	}
	v.fail(ReasonMalformed, where, "bundle holds neither a DSSE envelope nor a message signature")
	return 0, false
}

func (v *verification) checkDSSE(where string, env *dsse) (int, bool) {
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		v.fail(ReasonMalformed, where, "DSSE payload is not base64")
		return 0, false
	}
	pae := dsseenc.PAE(env.PayloadType, payload)
	key := -1
	for _, s := range env.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil || len(sig) == 0 {
			continue
		}
		for k := range v.keys {
			if verifyMessage(v.keys[k], pae, sig) {
				key = k
				break
			}
		}
		if key >= 0 {
			break
		}
	}
	if key < 0 {
		v.fail(ReasonUnknownKey, where, fmt.Sprintf("none of %d DSSE signatures verifies with any of the %d trusted keys", len(env.Signatures), len(v.keys)))
		return 0, false
	}
	// Only now that the payload is known to be signed is it read.
	if env.PayloadType != payloadTypeInToto {
		v.fail(ReasonMalformed, where, fmt.Sprintf("DSSE payload type %q, want %q", env.PayloadType, payloadTypeInToto))
		return 0, false
	}
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		v.fail(ReasonMalformed, where, "in-toto statement is not JSON: "+err.Error())
		return 0, false
	}
	if st.PredicateType != CosignSignPredicate {
		// An attestation (SBOM, provenance…) by a trusted key says
		// something about the image; it is not a signature of it.
		v.fail(ReasonNoSignature, where, fmt.Sprintf("an attestation (%s), not a signature", st.PredicateType))
		return 0, false
	}
	var named []string
	for _, s := range st.Subject {
		if got, ok := s.Digest[v.image.Algorithm().String()]; ok && strings.EqualFold(got, v.image.Encoded()) {
			return key, true
		}
		for alg, hexSum := range s.Digest {
			named = append(named, alg+":"+hexSum)
		}
	}
	v.fail(ReasonWrongDigest, where, fmt.Sprintf("statement names %s", strings.Join(named, ", ")))
	return 0, false
}

// checkMessageSignature verifies a signature over the image manifest
// itself (what `cosign sign-blob` or sigstore-go makes of the manifest
// bytes).
func (v *verification) checkMessageSignature(ctx context.Context, where, alg string, sum, sig []byte) (int, bool) {
	// ECDSA signs the sha256 digest, which the bundle carries: the
	// signature can be checked before knowing whether the digest is the
	// image's.
	if alg == "SHA2_256" && len(sum) == sha256.Size {
		for k := range v.keys {
			if verifyDigest(v.keys[k], sum, sig) {
				if v.image.Algorithm() != digest.SHA256 || hex.EncodeToString(sum) != v.image.Encoded() {
					v.fail(ReasonWrongDigest, where, "message digest names sha256:"+hex.EncodeToString(sum))
					return 0, false
				}
				return k, true
			}
		}
	}
	// ed25519 signs the whole message, and then the bundle's digest field
	// is not one (sigstore-go leaves the algorithm unset and puts the
	// message there): the signature is checked over the image manifest's
	// own bytes, which binds it to the image.
	if v.hasEd25519() {
		body, err := v.manifest(ctx, v.image.String())
		if err != nil {
			v.fetchError(where, err)
			return 0, false
		}
		for k := range v.keys {
			if _, ok := v.keys[k].(ed25519.PublicKey); ok && verifyMessage(v.keys[k], body, sig) {
				return k, true
			}
		}
	}
	v.fail(ReasonUnknownKey, where, fmt.Sprintf("message signature does not verify with any of the %d trusted keys", len(v.keys)))
	return 0, false
}

func (v *verification) hasEd25519() bool {
	for _, k := range v.keys {
		if _, ok := k.(ed25519.PublicKey); ok {
			return true
		}
	}
	return false
}

// decodeBase64 reads protobuf JSON bytes, which may be standard or URL
// base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}
