package gate

import (
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/signature"
)

// The states of an image's last signature check.
const (
	// SignatureVerified: every rule that applied found a signature by
	// one of its keys.
	SignatureVerified = "verified"
	// SignatureUnsigned: a rule found no signature at all.
	SignatureUnsigned = "unsigned"
	// SignatureFailed: a rule found signatures, and none verified.
	SignatureFailed = "failed"
	// SignatureUnavailable: the signatures could not be fetched.
	SignatureUnavailable = "unavailable"
)

// maxSignatureChecks bounds the checks remembered; past it the oldest
// goes.
const maxSignatureChecks = 4096

// SignatureCheck is the outcome of the last signature check of an image
// in a repository, for people looking at the node (the page, shoal
// status). It decides nothing: every request is checked afresh.
type SignatureCheck struct {
	// Repository is the repository's key, Digest the image checked.
	Repository string
	Digest     digest.Digest
	// State is one of the Signature* states.
	State string
	// Rule names the rule (its repository globs) that decided: the
	// first that was not met, else every rule that applied.
	Rule string
	// Mode is the deciding rule's mode when one was not met: enforce
	// (the image was refused) or warn (served).
	Mode string
	// Reason says why a rule was not met, or which signatures verified.
	Reason string
	At     time.Time
}

// outcome folds the rules' answers into one check.
type outcome struct {
	check    SignatureCheck
	rules    []string // the rules met
	verified []string // how each was met
}

func newOutcome(repo repository.Name, d digest.Digest, at time.Time) *outcome {
	return &outcome{check: SignatureCheck{Repository: repo.Key(), Digest: d, State: SignatureVerified, At: at}}
}

// met notes a rule met by res.
func (o *outcome) met(rule string, res signature.Result) {
	o.rules = append(o.rules, rule)
	o.verified = append(o.verified, rule+": "+res.String())
}

// failed notes a rule not met; the first decides the state.
func (o *outcome) failed(rule, mode, why string, res signature.Result, fetchErr error) {
	if o.check.State != SignatureVerified {
		return
	}
	switch {
	case fetchErr != nil:
		o.check.State = SignatureUnavailable
	case res.Reason == signature.ReasonNoSignature:
		o.check.State = SignatureUnsigned
	default:
		o.check.State = SignatureFailed
	}
	o.check.Rule, o.check.Mode, o.check.Reason = rule, mode, why
}

func (o *outcome) result() SignatureCheck {
	if o.check.State == SignatureVerified {
		o.check.Rule, o.check.Reason = strings.Join(o.rules, "; "), strings.Join(o.verified, "; ")
	}
	return o.check
}

// record keeps c as its image's last check in its repository.
func (s *Signatures) record(c SignatureCheck) {
	key := c.Repository + "\x00" + c.Digest.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checks == nil {
		s.checks = map[string]SignatureCheck{}
	}
	if _, ok := s.checks[key]; !ok && len(s.checks) >= maxSignatureChecks {
		var oldest string
		for k, old := range s.checks {
			if oldest == "" || old.At.Before(s.checks[oldest].At) {
				oldest = k
			}
		}
		delete(s.checks, oldest)
	}
	s.checks[key] = c
}

// Checks are the last signature checks of image d, one per repository
// it was checked in, by repository. None when no rule applied to it (or
// it was not served since the node started).
func (s *Signatures) Checks(d digest.Digest) []SignatureCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SignatureCheck
	for _, c := range s.checks {
		if c.Digest == d {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b SignatureCheck) int { return strings.Compare(a.Repository, b.Repository) })
	return out
}
