package policy

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestVerify(t *testing.T) {
	a, b, c, outsider := newTestKey(t), newTestKey(t), newTestKey(t), newTestKey(t)
	roots := []ed25519.PublicKey{a.pub, b.pub, c.pub}
	doc1 := testDoc(1, "prod", 1)
	doc2 := testDoc(1, "prod", 2)
	issued, expires := t0.Add(-time.Hour), t0.Add(30*24*time.Hour)

	forged := func() []byte {
		e := &Envelope{PayloadType: PayloadType, Payload: doc1}
		e.Sign(a.priv)
		e.Payload = bytes.Replace(e.Payload, []byte("[pull]"), []byte("[push]"), 1)
		return e.Marshal()
	}
	twice := func() []byte {
		e := &Envelope{PayloadType: PayloadType, Payload: doc2}
		e.Sign(a.priv)
		e.Signatures = append(e.Signatures, e.Signatures[0])
		return e.Marshal()
	}
	// A signature made by a but labelled as b's: the keyid is only a hint
	// and must not let a count as b.
	mislabelled := func() []byte {
		e := &Envelope{PayloadType: PayloadType, Payload: doc2}
		e.Sign(a.priv)
		e.Sign(a.priv)
		s := e.Signatures[0]
		s.KeyID = b.id
		e.Signatures = append(e.Signatures, s)
		return e.Marshal()
	}
	noKeyID := func() []byte {
		e := &Envelope{PayloadType: PayloadType, Payload: doc2}
		e.Sign(a.priv)
		e.Sign(b.priv)
		e.Signatures[0].KeyID = ""
		e.Signatures[1].KeyID = ""
		return e.Marshal()
	}
	otherType := func() []byte {
		e := &Envelope{PayloadType: "application/vnd.in-toto+json", Payload: doc1}
		e.Sign(a.priv)
		return e.Marshal()
	}

	tests := []struct {
		name     string
		verifier Verifier
		envelope []byte
		now      time.Time
		wantErr  error
		wantText string // in the error, or nothing when wantErr is nil
		signers  []string
	}{
		{name: "one root, threshold 1", envelope: signed(doc1, a), signers: []string{a.id}},
		{name: "two roots, threshold 2", envelope: signed(doc2, b, a), signers: []string{b.id, a.id}},
		{name: "three roots, threshold 2", envelope: signed(doc2, a, b, c), signers: []string{a.id, b.id, c.id}},
		{name: "outsider ignored when the threshold is met", envelope: signed(doc1, outsider, a), signers: []string{a.id}},
		{name: "signatures without keyid are tried against every root", envelope: noKeyID(), signers: []string{a.id, b.id}},
		{name: "payload altered after signing", envelope: forged(), wantErr: ErrSignature, wantText: "does not verify"},
		{name: "untrusted key", envelope: signed(doc1, outsider), wantErr: ErrSignature, wantText: "key " + outsider.id[:12] + "… is not a root"},
		{name: "too few distinct keys", envelope: signed(doc2, a), wantErr: ErrSignature, wantText: "1 of 2 required root keys signed"},
		{name: "one key signing twice counts once", envelope: twice(), wantErr: ErrSignature, wantText: "1 of 2 required root keys signed (key " + a.id[:12] + "… signed twice)"},
		{name: "a keyid naming another root does not count for it", envelope: mislabelled(), wantErr: ErrSignature, wantText: "signature by key " + b.id[:12] + "… does not verify"},
		{name: "root plus outsider below threshold 2", envelope: signed(doc2, a, outsider), wantErr: ErrSignature, wantText: "is not a root"},
		{name: "MinThreshold beats the document's threshold", verifier: Verifier{MinThreshold: 2}, envelope: signed(doc1, a), wantErr: ErrSignature, wantText: "1 of 2 required"},
		{name: "no roots configured", verifier: Verifier{Roots: []ed25519.PublicKey{}}, envelope: signed(doc1, a), wantErr: ErrSignature, wantText: "no root keys are configured"},
		{name: "expired", envelope: signed(doc1, a), now: expires.Add(DefaultSkew + time.Second), wantErr: ErrExpired, wantText: "expired at"},
		{name: "expired but within the clock skew", envelope: signed(doc1, a), now: expires.Add(DefaultSkew), signers: []string{a.id}},
		{name: "expired with no skew allowed", verifier: Verifier{Skew: -1}, envelope: signed(doc1, a), now: expires.Add(time.Second), wantErr: ErrExpired, wantText: "expired at"},
		{name: "issued in the future", envelope: signed(doc1, a), now: issued.Add(-DefaultSkew - time.Second), wantErr: ErrExpired, wantText: "not valid yet"},
		{name: "issued in the future within the skew", envelope: signed(doc1, a), now: issued.Add(-DefaultSkew), signers: []string{a.id}},
		{name: "another network", verifier: Verifier{Network: "staging"}, envelope: signed(doc1, a), wantErr: ErrNetwork, wantText: `for network "prod", this node is in "staging"`},
		{name: "network checked before expiry", verifier: Verifier{Network: "staging"}, envelope: signed(doc1, a), now: expires.Add(time.Hour), wantErr: ErrNetwork},
		{name: "signatures checked before network", verifier: Verifier{Network: "staging"}, envelope: signed(doc1, outsider), wantErr: ErrSignature},
		{name: "wrong payload type", envelope: otherType(), wantErr: ErrInvalid, wantText: "payload type"},
		{name: "not an envelope", envelope: []byte("version: 1"), wantErr: ErrInvalid, wantText: "not a DSSE JSON object"},
		{name: "signed invalid document", envelope: signed([]byte("version: 0\nnetwork: prod\n"), a), wantErr: ErrInvalid, wantText: "version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.verifier
			if v.Roots == nil {
				v.Roots = roots
			}
			now := tt.now
			if now.IsZero() {
				now = t0
			}
			p, err := v.Verify(tt.envelope, now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Fatalf("err = %q, want it to say %q", err, tt.wantText)
				}
				if p != nil {
					t.Fatal("a refused envelope returned a policy")
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if strings.Join(p.Signers, ",") != strings.Join(tt.signers, ",") {
				t.Errorf("Signers = %v, want %v", p.Signers, tt.signers)
			}
			if !bytes.Equal(p.Envelope, tt.envelope) {
				t.Error("Envelope is not the envelope as received")
			}
			e, _ := ParseEnvelope(tt.envelope)
			if p.Digest != digest.FromBytes(e.Payload) {
				t.Errorf("Digest = %s, want the payload's sha256", p.Digest)
			}
		})
	}
}

func TestDigestIgnoresSignatures(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	v := Verifier{Roots: []ed25519.PublicKey{a.pub, b.pub}}
	doc := testDoc(3, "prod", 1)
	p1, err := v.Verify(signed(doc, a), t0)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := v.Verify(signed(doc, a, b), t0)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Digest != p2.Digest {
		t.Fatalf("digests differ: %s, %s", p1.Digest, p2.Digest)
	}
}

func TestVerifyAcceptsURLSafeBase64(t *testing.T) {
	a := newTestKey(t)
	doc := testDoc(1, "prod", 1)
	e := &Envelope{PayloadType: PayloadType, Payload: doc}
	e.Sign(a.priv)
	var raw map[string]any
	if err := json.Unmarshal(e.Marshal(), &raw); err != nil {
		t.Fatal(err)
	}
	raw["payload"] = strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(raw["payload"].(string)), "=")
	b, _ := json.Marshal(raw)
	if _, err := (&Verifier{Roots: []ed25519.PublicKey{a.pub}}).Verify(b, t0); err != nil {
		t.Fatal(err)
	}
}
