package policy

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoal-dev/shoal/dsse"
	"io"
)

// PayloadType is the DSSE payload type of a Shoal policy document.
const PayloadType = "application/vnd.shoal.policy.v1"

// Envelope limits: a policy is a few kilobytes; the bounds keep a hostile
// envelope (from a peer or the API) from costing memory or signature checks.
const (
	MaxEnvelopeSize = 1 << 20
	MaxSignatures   = 64
)

// Signature is one DSSE signature. KeyID is a hint (KeyID of the signing
// key); Sig is base64 in JSON.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// Envelope is a DSSE envelope (https://github.com/secure-systems-lab/dsse)
// over the exact policy document bytes: no canonicalisation, so what was
// signed is what is parsed.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// envelopeJSON is the wire form, decoded by hand so that both base64
// alphabets the DSSE spec allows (standard and URL-safe) are accepted.
type envelopeJSON struct {
	PayloadType *string         `json:"payloadType"`
	Payload     *string         `json:"payload"`
	Signatures  []signatureJSON `json:"signatures"`
}

type signatureJSON struct {
	KeyID string  `json:"keyid"`
	Sig   *string `json:"sig"`
}

// ParseEnvelope decodes a DSSE envelope strictly: at most MaxEnvelopeSize
// bytes, one JSON object and nothing after it, no unknown fields, a
// payload type and a payload, 1 to MaxSignatures signatures each with a
// sig. It checks no signature: that is Verifier.Verify's job.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxEnvelopeSize {
		return nil, fmt.Errorf("envelope is %d bytes, more than the %d allowed", len(b), MaxEnvelopeSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var raw envelopeJSON
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("envelope is not a DSSE JSON object: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("envelope has data after its JSON object")
	}
	if raw.PayloadType == nil || *raw.PayloadType == "" {
		return nil, errors.New("envelope has no payloadType")
	}
	if raw.Payload == nil {
		return nil, errors.New("envelope has no payload")
	}
	payload, err := decodeBase64(*raw.Payload)
	if err != nil {
		return nil, fmt.Errorf("envelope payload: %w", err)
	}
	if len(payload) == 0 {
		return nil, errors.New("envelope payload is empty")
	}
	if len(raw.Signatures) == 0 {
		return nil, errors.New("envelope has no signatures")
	}
	if len(raw.Signatures) > MaxSignatures {
		return nil, fmt.Errorf("envelope has %d signatures, more than the %d allowed", len(raw.Signatures), MaxSignatures)
	}
	e := &Envelope{PayloadType: *raw.PayloadType, Payload: payload, Signatures: make([]Signature, 0, len(raw.Signatures))}
	for i, s := range raw.Signatures {
		if s.Sig == nil {
			return nil, fmt.Errorf("envelope signature %d has no sig", i)
		}
		sig, err := decodeBase64(*s.Sig)
		if err != nil {
			return nil, fmt.Errorf("envelope signature %d: %w", i, err)
		}
		e.Signatures = append(e.Signatures, Signature{KeyID: s.KeyID, Sig: sig})
	}
	return e, nil
}

// decodeBase64 accepts standard or URL-safe base64, padded or not, as
// the DSSE spec allows. The signatures cover the decoded bytes, so the
// spelling does not matter to what is verified.
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// Sign adds a signature by priv over dsse.PAE(PayloadType, Payload), replacing
// an earlier signature by the same key, so signing twice never adds a
// second signature by one key.
func (e *Envelope) Sign(priv ed25519.PrivateKey) {
	id := KeyID(priv.Public().(ed25519.PublicKey))
	sig := Signature{KeyID: id, Sig: ed25519.Sign(priv, dsse.PAE(e.PayloadType, e.Payload))}
	for i := range e.Signatures {
		if e.Signatures[i].KeyID == id {
			e.Signatures[i] = sig
			return
		}
	}
	e.Signatures = append(e.Signatures, sig)
}

// Marshal encodes the envelope as JSON, payload and signatures in standard
// base64.
func (e *Envelope) Marshal() []byte {
	out := *e
	if out.Signatures == nil {
		out.Signatures = []Signature{}
	}
	if out.Payload == nil {
		out.Payload = []byte{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		// Strings and byte slices always encode.
		panic("policy: encoding envelope: " + err.Error())
	}
	return b
}
