package policy

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// The seed corpus is in testdata/fuzz/FuzzParse and FuzzParseEnvelope.

// FuzzParse: Parse never panics, and whatever it accepts is a document
// that satisfies its own invariants.
func FuzzParse(f *testing.F) {
	f.Add(testDoc(1, "prod", 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		if d.Version == 0 || d.Network == "" || !d.Expires.After(d.Issued) || d.RequiredSignatures() < 1 {
			t.Fatalf("accepted an invalid document: %+v", d)
		}
		for _, r := range d.Rules {
			for _, g := range r.Repositories {
				if ValidateGlob(g) != nil {
					t.Fatalf("accepted an invalid glob %q", g)
				}
			}
		}
	})
}

// FuzzParseEnvelope: ParseEnvelope never panics, what it accepts
// survives Marshal and ParseEnvelope unchanged, and Verify (which runs
// the whole chain on it) never panics either.
func FuzzParseEnvelope(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(bytes.NewReader(make([]byte, 64)))
	e := &Envelope{PayloadType: PayloadType, Payload: testDoc(1, "prod", 1)}
	e.Sign(priv)
	f.Add(e.Marshal())
	v := Verifier{Roots: []ed25519.PublicKey{pub}}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		again, err := ParseEnvelope(e.Marshal())
		if err != nil {
			t.Fatalf("re-parsing a marshalled envelope: %v", err)
		}
		if again.PayloadType != e.PayloadType || !bytes.Equal(again.Payload, e.Payload) || len(again.Signatures) != len(e.Signatures) {
			t.Fatal("round trip changed the envelope")
		}
		v.Verify(b, t0)
	})
}
