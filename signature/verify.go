// Package signature verifies cosign signatures on images, offline, with
// public keys: the legacy form (a manifest tagged sha256-<hex>.sig whose
// layers are simple-signing payloads) and the cosign v3 form (an OCI 1.1
// referrer of the image holding a sigstore bundle). It reads what a
// registry holds through a Source and knows nothing about storage or HTTP.
//
// A signature covers exactly the manifest digest it names. For a
// multi-platform image, a signature on the index covers the index; a
// platform manifest fetched by its own digest needs a signature on that
// digest (`cosign sign --recursive` makes both).
package signature

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Source reads what a registry holds for one repository.
type Source interface {
	// Manifest returns the bytes of the manifest ref names: a tag or a
	// digest.
	Manifest(ctx context.Context, ref string) ([]byte, error)
	// Blob opens blob d.
	Blob(ctx context.Context, d digest.Digest) (io.ReadCloser, error)
	// Referrers lists the manifests whose subject is d.
	Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error)
}

// ErrNotFound is what a Source's errors wrap when the registry does not
// hold the thing asked for. Any other error means it could not be asked.
var ErrNotFound = errors.New("signature: not found")

// Form is how a signature is stored.
type Form string

// The forms Verify checks.
const (
	// FormTag is the legacy cosign form: manifest sha256-<hex>.sig with
	// simple-signing layers.
	FormTag Form = "cosign-tag"
	// FormBundle is the cosign v3 form: an OCI 1.1 referrer holding a
	// sigstore bundle.
	FormBundle Form = "sigstore-bundle"
)

// Reason says why no signature verified.
type Reason string

// The reasons, strongest first: Verify reports the strongest it met.
const (
	// ReasonWrongDigest: a trusted key signed a payload naming another
	// image.
	ReasonWrongDigest Reason = "signature payload names another digest"
	// ReasonUnknownKey: signatures exist but none verifies with a trusted
	// key.
	ReasonUnknownKey Reason = "not signed by a trusted key"
	// ReasonMalformed: something that should hold a signature could not be
	// read.
	ReasonMalformed Reason = "malformed signature"
	// ReasonNoSignature: nothing that looks like a signature.
	ReasonNoSignature Reason = "no signature found"
)

func (r Reason) rank() int {
	switch r {
	case ReasonWrongDigest:
		return 3
	case ReasonUnknownKey:
		return 2
	case ReasonMalformed:
		return 1
	}
	return 0
}

// Result is what Verify found.
type Result struct {
	Verified bool
	// Form, Key (an index into the keys given), KeyID and Signature (the
	// digest of the signature manifest, or the tag for FormTag) say what
	// verified.
	Form      Form
	Key       int
	KeyID     string
	Signature string
	// Reason and Detail say why nothing verified.
	Reason Reason
	Detail string
}

func (r Result) String() string {
	if r.Verified {
		return fmt.Sprintf("verified (%s %s, key %s)", r.Form, r.Signature, r.KeyID)
	}
	if r.Detail != "" {
		return string(r.Reason) + ": " + r.Detail
	}
	return string(r.Reason)
}

// Limits on what one verification reads, so a hostile registry cannot make
// it read without end.
const (
	maxManifestBytes = 4 << 20
	maxPayloadBytes  = 1 << 20
	maxLayers        = 32
	maxReferrers     = 64
	maxDetails       = 4
)

// Media types and annotations of the cosign formats.
const (
	MediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	AnnotationSignature    = "dev.cosignproject.cosign/signature"
	MediaTypeBundle        = "application/vnd.dev.sigstore.bundle.v0.3+json"
	mediaTypeBundlePrefix  = "application/vnd.dev.sigstore.bundle"
	// CosignSignatureType is critical.type of a legacy payload.
	CosignSignatureType = "cosign container image signature"
	// CosignSignPredicate is the in-toto predicate type of a cosign v3
	// image signature.
	CosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"
)

// SignatureTag is the legacy cosign tag for image d: sha256-<hex>.sig.
func SignatureTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// IsCosignTag says whether tag is one of cosign's legacy companion tags
// (.sig, .att, .sbom): those manifests are signatures, not images.
func IsCosignTag(tag string) bool {
	if !strings.HasPrefix(tag, "sha256-") && !strings.HasPrefix(tag, "sha512-") {
		return false
	}
	return strings.HasSuffix(tag, ".sig") || strings.HasSuffix(tag, ".att") || strings.HasSuffix(tag, ".sbom")
}

// Verify looks for a signature of image by any of keys, in the tag form
// and then among the image's referrers, and stops at the first that
// verifies. A signature verifies when its bytes verify with a key AND its
// signed payload names image. The error is non-nil only when nothing
// verified and something could not be fetched (the Source failed other
// than with ErrNotFound, or ctx ended), so the answer might differ once
// it can be; Result then still says what was found.
func Verify(ctx context.Context, src Source, image digest.Digest, keys []crypto.PublicKey) (Result, error) {
	if err := image.Validate(); err != nil {
		return Result{Reason: ReasonMalformed, Detail: "image digest: " + err.Error()}, nil
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return Result{}, err
		}
	}
	v := &verification{src: src, image: image, keys: keys, best: Result{Reason: ReasonNoSignature}}
	if r, ok := v.tagForm(ctx); ok {
		return r, nil
	}
	if r, ok := v.bundleForm(ctx); ok {
		return r, nil
	}
	res := v.best
	if len(v.details) > 0 {
		res.Detail = strings.Join(v.details, "; ")
		if v.more > 0 {
			res.Detail += fmt.Sprintf(" (and %d more)", v.more)
		}
	}
	if v.fetchErr != nil {
		return res, v.fetchErr
	}
	return res, nil
}

// verification is one Verify call's state.
type verification struct {
	src   Source
	image digest.Digest
	keys  []crypto.PublicKey

	best     Result
	details  []string
	more     int
	fetchErr error
}

// fail records why one candidate did not verify.
func (v *verification) fail(reason Reason, where, why string) {
	if reason.rank() > v.best.Reason.rank() {
		v.best.Reason = reason
	}
	if len(v.details) < maxDetails {
		v.details = append(v.details, where+": "+why)
	} else {
		v.more++
	}
}

// fetchFailed records a Source failure. Not-found is no failure: the
// signature simply is not there.
func (v *verification) fetchFailed(err error) {
	if errors.Is(err, ErrNotFound) {
		return
	}
	if v.fetchErr == nil {
		v.fetchErr = err
	}
}

func (v *verification) verified(form Form, key int, sig string) Result {
	return Result{Verified: true, Form: form, Key: key, KeyID: KeyID(v.keys[key]), Signature: sig}
}

// manifest fetches ref and, when ref is a digest, checks the bytes
// against it.
func (v *verification) manifest(ctx context.Context, ref string) ([]byte, error) {
	body, err := v.src.Manifest(ctx, ref)
	if err != nil {
		return nil, err
	}
	if len(body) > maxManifestBytes {
		return nil, malformedError{fmt.Errorf("manifest %s is %d bytes", ref, len(body))}
	}
	if d, err := digest.Parse(ref); err == nil && d.Algorithm().FromBytes(body) != d {
		return nil, malformedError{fmt.Errorf("manifest %s does not match its digest", ref)}
	}
	return body, nil
}

// blob reads blob d, bounded, and checks it against d.
func (v *verification) blob(ctx context.Context, d digest.Digest) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, malformedError{fmt.Errorf("layer digest %q: %w", d, err)}
	}
	rc, err := v.src.Blob(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPayloadBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayloadBytes {
		return nil, malformedError{fmt.Errorf("blob %s is over %d bytes", d, maxPayloadBytes)}
	}
	if d.Algorithm().FromBytes(b) != d {
		return nil, malformedError{fmt.Errorf("blob %s does not match its digest", d)}
	}
	return b, nil
}

// malformedError is content that arrived but is not what it claims.
type malformedError struct{ error }

// fetchError records err from fetching something of candidate where:
// content that arrived malformed counts against the candidate, anything
// else is a fetch failure.
func (v *verification) fetchError(where string, err error) {
	var me malformedError
	if errors.As(err, &me) {
		v.fail(ReasonMalformed, where, me.Error())
		return
	}
	v.fetchFailed(err)
}

// signedManifest is the part of a signature manifest Verify reads.
type signedManifest struct {
	MediaType string               `json:"mediaType"`
	Subject   *ocispec.Descriptor  `json:"subject"`
	Layers    []ocispec.Descriptor `json:"layers"`
}
