package policy

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/shoal-dev/shoal/dsse"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Why a policy is refused. Errors from Verify and Store.Accept wrap one
// of these and say why in their text.
var (
	ErrSignature = errors.New("policy: signatures do not meet the threshold")
	ErrNetwork   = errors.New("policy: for another network")
	// ErrExpired: outside its validity window — expired, or issued in
	// the future beyond the allowed clock skew.
	ErrExpired      = errors.New("policy: expired")
	ErrRollback     = errors.New("policy: version not above the one held")
	ErrEquivocation = errors.New("policy: same version with other content")
	ErrInvalid      = errors.New("policy: invalid document")
)

// DefaultSkew is the clock skew Verify allows when Verifier.Skew is 0.
const DefaultSkew = 5 * time.Minute

// Policy is a verified, accepted document.
type Policy struct {
	Document *Document
	// Digest is the sha256 of the payload bytes: two envelopes of one
	// document (say, with signatures added) have one digest.
	Digest digest.Digest
	// Envelope is the envelope as received, to pass on to peers.
	Envelope []byte
	// Signers are the key IDs of the distinct root keys whose signatures
	// verified, in the order their signatures appear in the envelope.
	Signers []string

	// creds caches bcrypt results. It is nil in a Policy built by hand,
	// which then pays bcrypt on every Authenticate.
	creds *credentialCache
}

func newPolicy(doc *Document, envelope []byte, payload []byte, signers []string) *Policy {
	return &Policy{
		Document: doc,
		Digest:   digest.FromBytes(payload),
		Envelope: append([]byte(nil), envelope...),
		Signers:  signers,
		creds:    newCredentialCache(),
	}
}

// Verifier checks an envelope against the trusted root keys.
type Verifier struct {
	Roots []ed25519.PublicKey
	// Network pins the fleet; "" = not pinned yet (the Store pins the
	// network of the first accepted policy).
	Network string
	// Skew is the clock skew allowed on issued and expires: 0 means
	// DefaultSkew, a negative value none.
	Skew time.Duration
	// MinThreshold is the fewest distinct root keys accepted whatever
	// threshold the document itself states (0 = 1). A document names its
	// own threshold, so without a floor here one stolen root key could
	// sign a policy that says "threshold: 1".
	MinThreshold int
}

func (v *Verifier) skew() time.Duration {
	switch {
	case v.Skew == 0:
		return DefaultSkew
	case v.Skew < 0:
		return 0
	}
	return v.Skew
}

// Verify checks, in order: the envelope is well formed; its payload type
// is PayloadType; at least one root key signed it; the payload is a valid
// document; the distinct root keys whose signatures verify are at least
// the document's threshold (and MinThreshold) — a key signing twice counts
// once, unknown keys and bad signatures are ignored but reported; the
// network matches; and now is within [issued-skew, expires+skew].
func (v *Verifier) Verify(envelope []byte, now time.Time) (*Policy, error) {
	return v.verify(envelope, now, true)
}

// verify is Verify, with the time checks optional: a Store reopening a
// policy it already accepted keeps it after expiry (the grace period is
// the node's decision, made with Policy.Expired).
func (v *Verifier) verify(envelope []byte, now time.Time, checkTime bool) (*Policy, error) {
	env, err := ParseEnvelope(envelope)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if env.PayloadType != PayloadType {
		return nil, fmt.Errorf("%w: payload type is %q, want %q", ErrInvalid, env.PayloadType, PayloadType)
	}
	signers, notes := v.signers(env)
	if len(signers) == 0 {
		// Refuse before parsing: an unauthenticated payload gets no
		// further than this.
		return nil, fmt.Errorf("%w: no root key signed it%s", ErrSignature, notesSuffix(notes))
	}
	doc, err := Parse(env.Payload)
	if err != nil {
		return nil, err
	}
	need := max(doc.RequiredSignatures(), v.MinThreshold, 1)
	if len(signers) < need {
		return nil, fmt.Errorf("%w: %d of %d required root keys signed%s", ErrSignature, len(signers), need, notesSuffix(notes))
	}
	if v.Network != "" && doc.Network != v.Network {
		return nil, fmt.Errorf("%w: policy is for network %q, this node is in %q", ErrNetwork, doc.Network, v.Network)
	}
	if checkTime {
		skew := v.skew()
		if now.After(doc.Expires.Add(skew)) {
			return nil, fmt.Errorf("%w: version %d expired at %s (now %s, clock skew allowed %s)", ErrExpired, doc.Version, doc.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
		}
		if doc.Issued.After(now.Add(skew)) {
			return nil, fmt.Errorf("%w: version %d is not valid yet: issued %s, now %s (clock skew allowed %s)", ErrExpired, doc.Version, doc.Issued.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
		}
	}
	return newPolicy(doc, envelope, env.Payload, signers), nil
}

// signers returns the IDs of the distinct root keys with a verifying
// signature, and notes on every signature that did not count.
func (v *Verifier) signers(env *Envelope) ([]string, []string) {
	var notes []string
	roots := make(map[string]ed25519.PublicKey, len(v.Roots))
	var order []string
	for _, r := range v.Roots {
		if len(r) != ed25519.PublicKeySize {
			notes = append(notes, "a configured root key is not a 32-byte ed25519 key")
			continue
		}
		id := KeyID(r)
		if _, dup := roots[id]; !dup {
			order = append(order, id)
		}
		roots[id] = r
	}
	if len(roots) == 0 {
		return nil, append(notes, "no root keys are configured")
	}
	msg := dsse.PAE(env.PayloadType, env.Payload)
	seen := make(map[string]int)
	var signers []string
	for i, s := range env.Signatures {
		// The keyid is only a hint: a signature with none is tried
		// against every root, one with an unknown keyid against none.
		var candidates []string
		switch {
		case s.KeyID == "":
			candidates = order
		case roots[s.KeyID] != nil:
			candidates = []string{s.KeyID}
		default:
			notes = append(notes, fmt.Sprintf("key %s is not a root", shortKeyID(s.KeyID)))
			continue
		}
		verified := ""
		if len(s.Sig) == ed25519.SignatureSize {
			for _, id := range candidates {
				if ed25519.Verify(roots[id], msg, s.Sig) {
					verified = id
					break
				}
			}
		}
		if verified == "" {
			if s.KeyID == "" {
				notes = append(notes, fmt.Sprintf("signature %d (no keyid) does not verify under any root", i))
			} else {
				notes = append(notes, fmt.Sprintf("signature by key %s does not verify", shortKeyID(s.KeyID)))
			}
			continue
		}
		seen[verified]++
		if seen[verified] == 1 {
			signers = append(signers, verified)
		}
	}
	for _, id := range signers {
		if n := seen[id]; n > 1 {
			times := "twice"
			if n > 2 {
				times = fmt.Sprintf("%d times", n)
			}
			notes = append(notes, fmt.Sprintf("key %s signed %s", shortKeyID(id), times))
		}
	}
	return signers, notes
}

func notesSuffix(notes []string) string {
	if len(notes) == 0 {
		return ""
	}
	return " (" + strings.Join(notes, "; ") + ")"
}
