package policy

import (
	"bytes"
	"crypto/ed25519"
	"github.com/shoal-dev/shoal/dsse"
	"strings"
	"testing"
)

func TestPAE(t *testing.T) {
	// The example from the DSSE spec (protocol.md).
	got := dsse.PAE("http://example.com/HelloWorld", []byte("hello world"))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if string(got) != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	if got := dsse.PAE("", nil); string(got) != "DSSEv1 0  0 " {
		t.Fatalf("PAE of empties = %q", got)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	e := &Envelope{PayloadType: PayloadType, Payload: []byte("version: 1\n")}
	e.Sign(a.priv)
	e.Sign(b.priv)
	e.Sign(a.priv) // replaces a's signature, does not add one
	if len(e.Signatures) != 2 {
		t.Fatalf("%d signatures, want 2", len(e.Signatures))
	}
	got, err := ParseEnvelope(e.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.PayloadType != e.PayloadType || !bytes.Equal(got.Payload, e.Payload) || len(got.Signatures) != 2 {
		t.Fatalf("round trip: %+v", got)
	}
	for i, s := range got.Signatures {
		k := map[string]ed25519.PublicKey{a.id: a.pub, b.id: b.pub}[s.KeyID]
		if k == nil || !ed25519.Verify(k, dsse.PAE(PayloadType, got.Payload), s.Sig) {
			t.Fatalf("signature %d does not verify after a round trip", i)
		}
	}
}

func TestParseEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"good", `{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"k","sig":"eA=="}]}`, ""},
		{"trailing space", `{"payloadType":"t","payload":"eA==","signatures":[{"sig":"eA=="}]}` + "\n\n", ""},
		{"unpadded url-safe", `{"payloadType":"t","payload":"-_8","signatures":[{"sig":"eA"}]}`, ""},
		{"unknown field", `{"payloadType":"t","payload":"eA==","signatures":[{"sig":"eA=="}],"x":1}`, "unknown field"},
		{"unknown signature field", `{"payloadType":"t","payload":"eA==","signatures":[{"sig":"eA==","cert":""}]}`, "unknown field"},
		{"two objects", `{"payloadType":"t","payload":"eA==","signatures":[{"sig":"eA=="}]}{}`, "data after"},
		{"no payload type", `{"payload":"eA==","signatures":[{"sig":"eA=="}]}`, "no payloadType"},
		{"no payload", `{"payloadType":"t","signatures":[{"sig":"eA=="}]}`, "no payload"},
		{"empty payload", `{"payloadType":"t","payload":"","signatures":[{"sig":"eA=="}]}`, "payload is empty"},
		{"payload not base64", `{"payloadType":"t","payload":"!!","signatures":[{"sig":"eA=="}]}`, "not base64"},
		{"no signatures", `{"payloadType":"t","payload":"eA==","signatures":[]}`, "no signatures"},
		{"signature without sig", `{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"k"}]}`, "has no sig"},
		{"too many signatures", `{"payloadType":"t","payload":"eA==","signatures":[` + strings.Repeat(`{"sig":"eA=="},`, MaxSignatures) + `{"sig":"eA=="}]}`, "more than the 64 allowed"},
		{"too big", `{"payloadType":"t","payload":"` + strings.Repeat("A", MaxEnvelopeSize) + `","signatures":[{"sig":"eA=="}]}`, "bytes, more than"},
		{"not json", `version: 1`, "not a DSSE JSON object"},
		{"array", `[]`, "not a DSSE JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEnvelope([]byte(tt.in))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("accepted, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("err = %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}
