package signature

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// simpleSigning is the part of a cosign simple-signing payload Verify
// reads. critical.identity.docker-reference is ignored, as the format
// says it is to be.
type simpleSigning struct {
	Critical struct {
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// tagForm checks the legacy cosign signature manifest of the image.
func (v *verification) tagForm(ctx context.Context) (Result, bool) {
	tag := SignatureTag(v.image)
	body, err := v.manifest(ctx, tag)
	if err != nil {
		v.fetchError(tag, err)
		return Result{}, false
	}
	var m signedManifest
	if err := json.Unmarshal(body, &m); err != nil {
		v.fail(ReasonMalformed, tag, "manifest is not JSON: "+err.Error())
		return Result{}, false
	}
	if len(m.Layers) > maxLayers {
		v.fail(ReasonMalformed, tag, fmt.Sprintf("%d layers, more than %d", len(m.Layers), maxLayers))
		return Result{}, false
	}
	found := false
	for i, l := range m.Layers {
		if l.MediaType != MediaTypeSimpleSigning {
			continue
		}
		found = true
		where := fmt.Sprintf("%s layer %d", tag, i)
		sig, err := base64.StdEncoding.DecodeString(l.Annotations[AnnotationSignature])
		if err != nil || len(sig) == 0 {
			v.fail(ReasonMalformed, where, "no base64 "+AnnotationSignature+" annotation")
			continue
		}
		payload, err := v.blob(ctx, l.Digest)
		if err != nil {
			v.fetchError(where, err)
			continue
		}
		key := -1
		for k := range v.keys {
			if verifyMessage(v.keys[k], payload, sig) {
				key = k
				break
			}
		}
		if key < 0 {
			v.fail(ReasonUnknownKey, where, fmt.Sprintf("signature does not verify with any of the %d trusted keys", len(v.keys)))
			continue
		}
		// Only now that the payload is known to be signed is it read.
		var p simpleSigning
		if err := json.Unmarshal(payload, &p); err != nil {
			v.fail(ReasonMalformed, where, "payload is not JSON: "+err.Error())
			continue
		}
		if p.Critical.Type != CosignSignatureType {
			v.fail(ReasonMalformed, where, fmt.Sprintf("payload type %q, want %q", p.Critical.Type, CosignSignatureType))
			continue
		}
		if p.Critical.Image.DockerManifestDigest != v.image.String() {
			v.fail(ReasonWrongDigest, where, fmt.Sprintf("payload names %s", p.Critical.Image.DockerManifestDigest))
			continue
		}
		return v.verified(FormTag, key, tag), true
	}
	if !found {
		v.fail(ReasonMalformed, tag, "no "+MediaTypeSimpleSigning+" layer")
	}
	return Result{}, false
}
