package scan

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/shoal-dev/shoal/dsse"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
)

// The signed form of a report: an in-toto Statement v1 about the image
// digest, with cosign's vulnerability predicate carrying the Report, in a
// DSSE envelope signed by the scanning node's libp2p key.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://cosign.sigstore.dev/attestation/vuln/v1"
	// PayloadType is the DSSE payload type of the statement.
	PayloadType = "application/vnd.in-toto+json"
	// ScannerURI names Shoal as the scanner in the predicate.
	ScannerURI = "https://github.com/shoal-dev/shoal"
	// DBURI names the vulnerability database in the predicate; its
	// version is the encoded database's digest.
	DBURI = "shoal-vulndb"

	// ReportArtifactType is the artifactType of the OCI referrer that
	// holds a signed report; its one layer is the envelope.
	ReportArtifactType = "application/vnd.shoal.scan.v1+json"
	// EnvelopeMediaType is the media type of that layer.
	EnvelopeMediaType = "application/vnd.dsse.envelope.v1+json"

	// MaxEnvelope bounds an envelope VerifyReport reads.
	MaxEnvelope = 8 << 20
)

// Report is one scan of one image (platform manifest) digest against one
// DB version.
type Report struct {
	Image     digest.Digest `json:"image"`
	Platform  string        `json:"platform,omitempty"`
	DB        digest.Digest `json:"db"` // digest of the encoded DB
	DBUpdated time.Time     `json:"db_updated"`
	Scanner   string        `json:"scanner"` // peer ID of the scanning node
	// ScannerVersion is the scanning node's Shoal version.
	ScannerVersion string    `json:"scanner_version,omitempty"`
	Started        time.Time `json:"started"`
	Finished       time.Time `json:"finished"`
	OS             OSRelease `json:"os"`
	Packages       int       `json:"packages"`
	Findings       []Finding `json:"findings"`
}

// Worst is the report's most severe finding; ok is false when it has
// none. Findings are ranked by severity, then by ID.
func (r *Report) Worst() (f Finding, ok bool) {
	for _, c := range r.Findings {
		if !ok || c.Severity.Rank() > f.Severity.Rank() || (c.Severity.Rank() == f.Severity.Rank() && c.ID < f.ID) {
			f, ok = c, true
		}
	}
	return f, ok
}

// Counts is how many findings the report has per severity.
func (r *Report) Counts() map[Severity]int {
	out := map[Severity]int{}
	for _, f := range r.Findings {
		out[f.Severity.Normal()]++
	}
	return out
}

// statement is an in-toto Statement v1 with cosign's vuln predicate.
type statement struct {
	Type          string        `json:"_type"`
	Subject       []subject     `json:"subject"`
	PredicateType string        `json:"predicateType"`
	Predicate     vulnPredicate `json:"predicate"`
}

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// vulnPredicate is https://cosign.sigstore.dev/attestation/vuln/v1.
type vulnPredicate struct {
	Invocation struct {
		Parameters any    `json:"parameters,omitempty"`
		URI        string `json:"uri,omitempty"`
		EventID    string `json:"event_id,omitempty"`
		BuilderID  string `json:"builder.id,omitempty"`
	} `json:"invocation"`
	Scanner struct {
		URI     string `json:"uri"`
		Version string `json:"version,omitempty"`
		DB      struct {
			URI     string `json:"uri"`
			Version string `json:"version"`
		} `json:"db"`
		Result *Report `json:"result"`
	} `json:"scanner"`
	Metadata struct {
		ScanStartedOn  time.Time `json:"scanStartedOn"`
		ScanFinishedOn time.Time `json:"scanFinishedOn"`
	} `json:"metadata"`
}

// envelope is a DSSE envelope.
type envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"`
	Signatures  []signature `json:"signatures"`
}

type signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// SignReport signs r with key (the scanning node's libp2p ed25519 key)
// and returns the DSSE envelope. r.Scanner must be the key's peer ID; it
// is set to it when empty.
func SignReport(r *Report, key crypto.PrivKey) ([]byte, error) {
	if key == nil {
		return nil, errors.New("scan: no signing key")
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("scan: reports are signed with ed25519 keys, not %s", key.Type())
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if r.Scanner == "" {
		r.Scanner = id.String()
	}
	if r.Scanner != id.String() {
		return nil, fmt.Errorf("scan: the report names scanner %s but the key is %s's", r.Scanner, id)
	}
	if err := r.Image.Validate(); err != nil || r.Image.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("scan: the report's image %q is not a sha256 digest", r.Image)
	}
	st := statement{
		Type:          StatementType,
		Subject:       []subject{{Name: r.Image.String(), Digest: map[string]string{"sha256": r.Image.Encoded()}}},
		PredicateType: PredicateType,
	}
	st.Predicate.Scanner.URI = ScannerURI
	st.Predicate.Scanner.Version = r.ScannerVersion
	st.Predicate.Scanner.DB.URI = DBURI
	st.Predicate.Scanner.DB.Version = r.DB.String()
	st.Predicate.Scanner.Result = r
	st.Predicate.Metadata.ScanStartedOn = r.Started.UTC()
	st.Predicate.Metadata.ScanFinishedOn = r.Finished.UTC()
	payload, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(dsse.PAE(PayloadType, payload))
	if err != nil {
		return nil, fmt.Errorf("scan: signing the report: %w", err)
	}
	return json.Marshal(envelope{
		PayloadType: PayloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []signature{{KeyID: id.String(), Sig: base64.StdEncoding.EncodeToString(sig)}},
	})
}

// ErrBadReport marks an envelope that is not a validly signed report.
var ErrBadReport = errors.New("scan: bad report")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadReport, fmt.Sprintf(format, args...))
}

// VerifyReport checks a signed report: a DSSE envelope of an in-toto
// statement with the vuln predicate, signed by the peer its keyid names
// (the public key comes from the peer ID itself), whose subject is the
// report's image and whose scanner is the signer. It returns the report
// and the signer; whether the signer is trusted is the caller's decision.
func VerifyReport(b []byte) (*Report, peer.ID, error) {
	if len(b) > MaxEnvelope {
		return nil, "", bad("envelope of %d bytes", len(b))
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, "", bad("envelope: %v", err)
	}
	if env.PayloadType != PayloadType {
		return nil, "", bad("payload type %q", env.PayloadType)
	}
	payload, err := decodeB64(env.Payload)
	if err != nil {
		return nil, "", bad("payload: %v", err)
	}
	signed := dsse.PAE(env.PayloadType, payload)
	var signer peer.ID
	var why []string
	for _, s := range env.Signatures {
		id, err := peer.Decode(s.KeyID)
		if err != nil {
			why = append(why, fmt.Sprintf("keyid %q is not a peer ID", s.KeyID))
			continue
		}
		pub, err := id.ExtractPublicKey()
		if err != nil {
			why = append(why, fmt.Sprintf("peer ID %s carries no public key", id))
			continue
		}
		if pub.Type() != crypto.Ed25519 {
			why = append(why, fmt.Sprintf("peer %s's key is %s, not ed25519", id, pub.Type()))
			continue
		}
		sig, err := decodeB64(s.Sig)
		if err != nil {
			why = append(why, "signature not base64")
			continue
		}
		if ok, err := pub.Verify(signed, sig); err != nil || !ok {
			why = append(why, fmt.Sprintf("signature by %s does not verify", id))
			continue
		}
		signer = id
		break
	}
	if signer == "" {
		if len(why) == 0 {
			return nil, "", bad("no signatures")
		}
		return nil, "", bad("no valid signature: %v", why)
	}
	var st statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, "", bad("statement: %v", err)
	}
	if st.Type != StatementType {
		return nil, "", bad("statement type %q", st.Type)
	}
	if st.PredicateType != PredicateType {
		return nil, "", bad("predicate type %q", st.PredicateType)
	}
	r := st.Predicate.Scanner.Result
	if r == nil {
		return nil, "", bad("the predicate carries no result")
	}
	if err := r.Image.Validate(); err != nil {
		return nil, "", bad("the report's image %q: %v", r.Image, err)
	}
	if len(st.Subject) != 1 || st.Subject[0].Digest["sha256"] != r.Image.Encoded() || r.Image.Algorithm() != digest.SHA256 {
		return nil, "", bad("the statement's subject is not the report's image %s", r.Image)
	}
	if r.Scanner != signer.String() {
		return nil, "", bad("the report names scanner %s but %s signed it", r.Scanner, signer)
	}
	if st.Predicate.Scanner.DB.Version != r.DB.String() {
		return nil, "", bad("the predicate's database %q is not the report's %s", st.Predicate.Scanner.DB.Version, r.DB)
	}
	return r, signer, nil
}

func decodeB64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.URLEncoding.DecodeString(s)
}
