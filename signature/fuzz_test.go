package signature

import (
	"context"
	"crypto"
	"testing"
)

// FuzzVerifyBundle feeds arbitrary bundle bytes to the referrer path: it
// must never panic, and never verify without a valid signature.
func FuzzVerifyBundle(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA"}]}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAA"},"signature":"AAAA"}}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte(`[]`))
	ec := newECDSASigner(f)
	ed := newEd25519Signer(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		src := newMemSource()
		image := src.putImage(t, "fuzz")
		v := &verification{src: src, image: image, keys: []crypto.PublicKey{ec.pub, ed.pub}, best: Result{Reason: ReasonNoSignature}}
		if _, ok := v.checkBundle(context.Background(), "fuzz", raw); ok {
			t.Fatalf("verified %q", raw)
		}
	})
}

// FuzzVerifyTag feeds arbitrary payload bytes, signed by a trusted key,
// to the tag path: it must never panic, and verify only a payload naming
// the image with cosign's type.
func FuzzVerifyTag(f *testing.F) {
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"}}`))
	f.Add([]byte(`{"critical":null}`))
	f.Add([]byte(`x`))
	ec := newECDSASigner(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		src := newMemSource()
		image := src.putImage(t, "fuzz")
		l := src.putBlob(payload)
		l.MediaType = MediaTypeSimpleSigning
		l.Annotations = map[string]string{AnnotationSignature: b64(ec.sign(payload))}
		src.putManifest(t, map[string]any{"schemaVersion": 2, "layers": []any{l}}, SignatureTag(image))
		res, _ := Verify(context.Background(), src, image, []crypto.PublicKey{ec.pub})
		if res.Verified && !containsAll(string(payload), image.String(), CosignSignatureType) {
			t.Fatalf("verified %q", payload)
		}
	})
}
