package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A nil *Policy is no policy: an open node. Every method below treats it
// so (everything allowed, nothing required), matching the node, where no
// held policy means an open node.

// Caller is what a node knows about whoever sent a request.
type Caller struct {
	// Loopback: the connection comes from the node's own host.
	Loopback bool
	// Username and Password are basic credentials presented; they are
	// checked against the identities' bcrypt hashes (results cached).
	Username string
	Password string
	// Identities are identity names already established, from a token
	// this node issued. Names the policy no longer defines are dropped.
	Identities []string
	// CertSubjects are the CN and SANs of a client certificate the node
	// has verified against the policy's ClientCAs.
	CertSubjects []string
}

// Identify returns every identity name the caller has, in the policy's
// order: anonymous identities always, loopback ones for a loopback
// caller, username ones whose password matches, cert_subject ones whose
// subject the certificate carries, and established ones the policy
// still defines.
func (p *Policy) Identify(c Caller) []string {
	if p == nil || p.Document == nil {
		return nil
	}
	var authed []string
	if c.Username != "" {
		authed, _ = p.Authenticate(c.Username, c.Password)
	}
	var names []string
	for _, id := range p.Document.Identities {
		has := id.Anonymous ||
			(id.Loopback && c.Loopback) ||
			(id.CertSubject != "" && slices.Contains(c.CertSubjects, id.CertSubject)) ||
			slices.Contains(c.Identities, id.Name) ||
			slices.Contains(authed, id.Name)
		if has {
			names = append(names, id.Name)
		}
	}
	return names
}

// Authenticate returns the names of the identities whose username and
// bcrypt password hash match, and whether there was any. Results, good
// and bad, are cached in memory for a few minutes, so a pull's many
// requests pay for bcrypt once.
func (p *Policy) Authenticate(username, password string) ([]string, bool) {
	if p == nil || p.Document == nil || username == "" {
		return nil, false
	}
	check := func() ([]string, bool) { return checkCredentials(p.Document.Identities, username, password) }
	if p.creds == nil {
		return check()
	}
	names, ok := p.creds.lookup(username, password, time.Now(), check)
	return slices.Clone(names), ok
}

// Decision is the outcome of Decide.
type Decision struct {
	Allowed bool
	// Rule is the index in Document.Rules of the deciding rule, -1 when
	// none applied (the default deny) or there is no policy.
	Rule   int
	Reason string
}

// Decide says whether callers with identities may do a to repo. A rule
// applies when it names one of the identities (or "*"), the action (or
// "*") and a glob matching repo. Any applying deny rule denies; otherwise
// any applying allow rule allows; otherwise the answer is no. Actions
// other than pull, push, delete and list are always denied.
func (p *Policy) Decide(identities []string, a Action, repo string) Decision {
	if p == nil || p.Document == nil {
		return Decision{Allowed: true, Rule: -1, Reason: "no policy in force"}
	}
	if a == "*" || !validActions[a] {
		return Decision{Rule: -1, Reason: fmt.Sprintf("unknown action %q", a)}
	}
	allow := -1
	for i, r := range p.Document.Rules {
		if !r.applies(identities, a, repo) {
			continue
		}
		if r.Effect == "deny" {
			return Decision{Rule: i, Reason: fmt.Sprintf("rule %d denies %s on %q", i, a, repo)}
		}
		if allow < 0 {
			allow = i
		}
	}
	if allow >= 0 {
		return Decision{Allowed: true, Rule: allow, Reason: fmt.Sprintf("rule %d allows %s on %q", allow, a, repo)}
	}
	who := "no identity"
	if len(identities) > 0 {
		who = strings.Join(identities, ", ")
	}
	return Decision{Rule: -1, Reason: fmt.Sprintf("no rule allows %s on %q for %s", a, repo, who)}
}

func (r *Rule) applies(identities []string, a Action, repo string) bool {
	who := slices.Contains(r.Identities, "*")
	for _, id := range identities {
		if who {
			break
		}
		who = slices.Contains(r.Identities, id)
	}
	if !who || !(slices.Contains(r.Actions, a) || slices.Contains(r.Actions, "*")) {
		return false
	}
	return matchAny(r.Repositories, repo)
}

func matchAny(globs []string, repo string) bool {
	for _, g := range globs {
		if Match(g, repo) {
			return true
		}
	}
	return false
}

// PeerAllowed says whether the libp2p peer id belongs to the fleet:
// Peers.AnyWithSwarmKey, or id listed in Peers.Allow (compared as decoded
// peer IDs, so any valid spelling of one ID matches).
func (p *Policy) PeerAllowed(id string) bool {
	if p == nil || p.Document == nil || p.Document.Peers.AnyWithSwarmKey {
		return true
	}
	want, err := peer.Decode(id)
	if err != nil {
		return false
	}
	for _, a := range p.Document.Peers.Allow {
		if got, err := peer.Decode(a); err == nil && got == want {
			return true
		}
	}
	return false
}

// UpstreamAllowed says whether the node may fetch from the upstream
// registry at hostport ("host" or "host:port"). An entry "host" allows
// that host on any port, an entry "host:port" only that port; names are
// compared case-insensitively. No upstreams listed allows every
// upstream the node is configured with.
func (p *Policy) UpstreamAllowed(hostport string) bool {
	if p == nil || p.Document == nil || len(p.Document.Upstreams) == 0 {
		return true
	}
	host, port, err := splitHostPort(hostport)
	if err != nil || host == "" {
		return false
	}
	for _, u := range p.Document.Upstreams {
		uh, up, err := splitHostPort(u)
		if err != nil || !strings.EqualFold(strings.TrimSuffix(uh, "."), strings.TrimSuffix(host, ".")) {
			continue
		}
		if up == "" || up == port {
			return true
		}
	}
	return false
}

// SignatureRules returns the signature rules with a glob matching repo.
func (p *Policy) SignatureRules(repo string) []SignatureRule {
	if p == nil || p.Document == nil {
		return nil
	}
	var out []SignatureRule
	for _, s := range p.Document.Signatures {
		if matchAny(s.Repositories, repo) {
			out = append(out, s)
		}
	}
	return out
}

// Expired reports whether now is past the document's expiry. The node
// then stops new upstream fetches and, for its grace period, serves only
// cached content this policy allowed.
func (p *Policy) Expired(now time.Time) bool {
	if p == nil || p.Document == nil {
		return false
	}
	return now.After(p.Document.Expires)
}
