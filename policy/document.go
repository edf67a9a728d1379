// Package policy is Shoal's signed access policy: the document an
// administrator writes and signs offline, the checks every node makes
// before it accepts one, and the decisions the node then enforces for
// clients, peers, upstreams and image signatures.
package policy

import (
	"time"
)

// Document is a policy as written, in YAML or JSON. Field names are the
// document's keys.
type Document struct {
	// Version only ever goes up: a node refuses a document whose version
	// is not above the one it holds.
	Version uint64 `json:"version"`
	// Network names the fleet, so a policy cannot be replayed into
	// another one.
	Network string    `json:"network"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	// Threshold is how many distinct root keys must have signed the
	// document (default 1).
	Threshold int `json:"threshold,omitempty"`

	Peers      Peers      `json:"peers"`
	Upstreams  []string   `json:"upstreams,omitempty"`
	Identities []Identity `json:"identities,omitempty"`
	// ClientCAs are PEM certificates that client certificates (mTLS) must
	// chain to for CertSubject identities to match.
	ClientCAs []string `json:"client_cas,omitempty"`
	Rules     []Rule   `json:"rules,omitempty"`
	// Signatures require images in matching repositories to be signed.
	Signatures []SignatureRule `json:"signatures,omitempty"`
	// Scanning says whose scan reports are trusted and which images a
	// report's findings keep out.
	Scanning *Scanning `json:"scanning,omitempty"`
}

// Peers says which libp2p peers belong to the fleet.
type Peers struct {
	// AnyWithSwarmKey admits every peer that can connect, i.e. holds the
	// fleet's swarm key.
	AnyWithSwarmKey bool `json:"any_with_swarm_key,omitempty"`
	// Allow lists peer IDs (12D3KooW…) that belong.
	Allow []string `json:"allow,omitempty"`
}

// Identity is a kind of caller the rules can name. A caller has every
// identity it matches.
type Identity struct {
	Name string `json:"name"`
	// Anonymous matches every caller, authenticated or not.
	Anonymous bool `json:"anonymous,omitempty"`
	// Loopback matches callers connecting from the node's own host.
	Loopback bool `json:"loopback,omitempty"`
	// Username and PasswordHash (bcrypt) match a caller presenting those
	// credentials, by basic auth or through the token endpoint. The
	// policy never holds a password in plain text.
	Username     string `json:"username,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
	// CertSubject matches a client certificate (mTLS) whose subject
	// common name or one of whose DNS, email or URI SANs equals it. The
	// certificate must chain to one of ClientCAs.
	CertSubject string `json:"cert_subject,omitempty"`
}

// Action is what a caller does to a repository.
type Action string

// The actions rules grant or deny.
const (
	Pull   Action = "pull"
	Push   Action = "push"
	Delete Action = "delete"
	List   Action = "list"
)

// Rule allows or denies identities actions on repositories. Deny beats
// allow, and anything no rule allows is denied once a policy is in force.
type Rule struct {
	// Effect is "allow" (the default) or "deny".
	Effect string `json:"effect,omitempty"`
	// Identities are identity names; "*" is every caller.
	Identities []string `json:"identities"`
	// Actions are pull, push, delete, list, or "*".
	Actions []Action `json:"actions"`
	// Repositories are globs over repository names as the node serves
	// them (docker.io/library/alpine, myteam/app): "*" matches within one
	// path segment, "**" across segments.
	Repositories []string `json:"repositories"`
}

// SignatureRule requires cosign signatures on images in matching
// repositories.
type SignatureRule struct {
	Repositories []string `json:"repositories"`
	// Mode is "enforce" (refuse unsigned images with DENIED) or "warn"
	// (serve them and log).
	Mode string `json:"mode"`
	// Keys are PEM public keys (ECDSA P-256 or ed25519); a signature by
	// any one of them is enough.
	Keys []string `json:"keys"`
}

// Scanning is the part of a policy about vulnerability reports.
type Scanning struct {
	// Scanners are the peer IDs (or PEM ed25519 keys) whose signed scan
	// reports are trusted.
	Scanners []string `json:"scanners,omitempty"`
	// MaxReportAge is how old a trusted report may be (e.g. "168h").
	MaxReportAge string `json:"max_report_age,omitempty"`
	// DatabaseKeys are PEM ed25519 keys trusted to sign imported
	// vulnerability databases.
	DatabaseKeys []string   `json:"database_keys,omitempty"`
	Gates        []ScanGate `json:"gates,omitempty"`
}

// ScanGate keeps images with findings out of matching repositories.
type ScanGate struct {
	Repositories []string `json:"repositories"`
	// Severity is the lowest refused: LOW, MEDIUM, HIGH or CRITICAL.
	Severity string `json:"severity"`
	// FixableOnly refuses only findings that have a fixed version.
	FixableOnly bool `json:"fixable_only,omitempty"`
	// Allow lists finding IDs let through until they expire.
	Allow []AllowedFinding `json:"allow,omitempty"`
	// Missing says what happens while no trusted report exists yet:
	// "allow", "warn" or "deny".
	Missing string `json:"missing,omitempty"`
}

// AllowedFinding lets a finding through a gate until Expires.
type AllowedFinding struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
	Reason  string    `json:"reason,omitempty"`
}
