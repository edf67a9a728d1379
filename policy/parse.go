package policy

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/bcrypt"
	"sigs.k8s.io/yaml"
)

// MaxDocumentSize bounds a policy document; one that fits in an envelope
// always fits.
const MaxDocumentSize = MaxEnvelopeSize

// Parse reads a policy document in YAML or JSON, refusing unknown and
// duplicate keys, and validates it. Errors wrap ErrInvalid and name the
// offending field.
func Parse(b []byte) (*Document, error) {
	if len(b) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: document is %d bytes, more than the %d allowed", ErrInvalid, len(b), MaxDocumentSize)
	}
	var d Document
	if err := yaml.UnmarshalStrict(b, &d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &d, nil
}

// Valid actions and effects.
var (
	validActions = map[Action]bool{Pull: true, Push: true, Delete: true, List: true, "*": true}
	validSevs    = map[string]bool{"LOW": true, "MEDIUM": true, "HIGH": true, "CRITICAL": true}
)

func (d *Document) validate() error {
	if d.Version == 0 {
		return errors.New("version: must be above 0")
	}
	if strings.TrimSpace(d.Network) == "" {
		return errors.New("network: must be set")
	}
	if d.Network != strings.TrimSpace(d.Network) {
		return errors.New("network: has leading or trailing space")
	}
	if d.Issued.IsZero() {
		return errors.New("issued: must be set")
	}
	if d.Expires.IsZero() {
		return errors.New("expires: must be set")
	}
	if !d.Expires.After(d.Issued) {
		return fmt.Errorf("expires: %s is not after issued %s", d.Expires.Format(time.RFC3339), d.Issued.Format(time.RFC3339))
	}
	if d.Threshold < 0 {
		return fmt.Errorf("threshold: %d is negative", d.Threshold)
	}
	if d.Threshold > MaxSignatures {
		return fmt.Errorf("threshold: %d is more than the %d signatures an envelope may carry", d.Threshold, MaxSignatures)
	}
	for i, id := range d.Peers.Allow {
		if _, err := peer.Decode(id); err != nil {
			return fmt.Errorf("peers.allow[%d]: %q is not a peer ID: %v", i, id, err)
		}
	}
	for i, u := range d.Upstreams {
		if err := validateUpstream(u); err != nil {
			return fmt.Errorf("upstreams[%d]: %q: %v", i, u, err)
		}
	}
	names := make(map[string]bool, len(d.Identities))
	for i, id := range d.Identities {
		if err := id.validate(); err != nil {
			return fmt.Errorf("identities[%d]: %v", i, err)
		}
		if names[id.Name] {
			return fmt.Errorf("identities[%d]: name %q is used twice", i, id.Name)
		}
		names[id.Name] = true
	}
	for i, ca := range d.ClientCAs {
		if err := validateCertificates(ca); err != nil {
			return fmt.Errorf("client_cas[%d]: %v", i, err)
		}
	}
	for i, r := range d.Rules {
		if err := r.validate(names); err != nil {
			return fmt.Errorf("rules[%d]: %v", i, err)
		}
	}
	for i, s := range d.Signatures {
		if err := s.validate(); err != nil {
			return fmt.Errorf("signatures[%d]: %v", i, err)
		}
	}
	if d.Scanning != nil {
		if err := d.Scanning.validate(); err != nil {
			return fmt.Errorf("scanning.%v", err)
		}
	}
	return nil
}

// RequiredSignatures is the document's threshold, 0 meaning 1.
func (d *Document) RequiredSignatures() int {
	if d.Threshold < 1 {
		return 1
	}
	return d.Threshold
}

func (id *Identity) validate() error {
	if id.Name == "" {
		return errors.New("name: must be set")
	}
	if id.Name == "*" {
		return errors.New(`name: "*" is reserved for "every caller" in rules`)
	}
	kinds := 0
	if id.Anonymous {
		kinds++
	}
	if id.Loopback {
		kinds++
	}
	if id.Username != "" || id.PasswordHash != "" {
		kinds++
	}
	if id.CertSubject != "" {
		kinds++
	}
	if kinds != 1 {
		return fmt.Errorf("%q: must be exactly one of anonymous, loopback, username+password_hash or cert_subject (has %d)", id.Name, kinds)
	}
	if id.Username != "" || id.PasswordHash != "" {
		if id.Username == "" {
			return fmt.Errorf("%q: password_hash without username", id.Name)
		}
		if strings.Contains(id.Username, ":") {
			return fmt.Errorf("%q: username contains ':', which basic auth cannot carry", id.Name)
		}
		if err := validateBcrypt(id.PasswordHash); err != nil {
			return fmt.Errorf("%q: password_hash: %v", id.Name, err)
		}
	}
	return nil
}

func validateBcrypt(h string) error {
	if h == "" {
		return errors.New("must be set (a bcrypt hash: shoal policy hash-password)")
	}
	if !strings.HasPrefix(h, "$2a$") && !strings.HasPrefix(h, "$2b$") && !strings.HasPrefix(h, "$2y$") {
		return errors.New(`not a bcrypt hash ("$2a$", "$2b$" or "$2y$"); never put a plain password in a policy`)
	}
	if len(h) != 60 {
		return fmt.Errorf("a bcrypt hash is 60 characters, this is %d", len(h))
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return err
	}
	return nil
}

func (r *Rule) validate(names map[string]bool) error {
	switch r.Effect {
	case "", "allow", "deny":
	default:
		return fmt.Errorf(`effect: %q is not "allow" or "deny"`, r.Effect)
	}
	if len(r.Identities) == 0 {
		return errors.New(`identities: must name at least one identity (or "*")`)
	}
	for _, n := range r.Identities {
		if n != "*" && !names[n] {
			return fmt.Errorf("identities: %q is not a defined identity", n)
		}
	}
	if len(r.Actions) == 0 {
		return errors.New(`actions: must list at least one of pull, push, delete, list or "*"`)
	}
	for _, a := range r.Actions {
		if !validActions[a] {
			return fmt.Errorf(`actions: %q is not pull, push, delete, list or "*"`, a)
		}
	}
	return validateGlobs("repositories", r.Repositories)
}

func (s *SignatureRule) validate() error {
	if err := validateGlobs("repositories", s.Repositories); err != nil {
		return err
	}
	if s.Mode != "enforce" && s.Mode != "warn" {
		return fmt.Errorf(`mode: %q is not "enforce" or "warn"`, s.Mode)
	}
	if len(s.Keys) == 0 {
		return errors.New("keys: must list at least one PEM public key")
	}
	for i, k := range s.Keys {
		if _, err := parseSignerKey(k); err != nil {
			return fmt.Errorf("keys[%d]: %v", i, err)
		}
	}
	return nil
}

func (s *Scanning) validate() error {
	for i, sc := range s.Scanners {
		if strings.Contains(sc, "-----BEGIN") {
			if _, err := ParsePublicKey([]byte(sc)); err != nil {
				return fmt.Errorf("scanners[%d]: %v", i, err)
			}
		} else if _, err := peer.Decode(sc); err != nil {
			return fmt.Errorf("scanners[%d]: %q is neither a peer ID nor a PEM ed25519 key: %v", i, sc, err)
		}
	}
	if s.MaxReportAge != "" {
		d, err := time.ParseDuration(s.MaxReportAge)
		if err != nil {
			return fmt.Errorf("max_report_age: %v", err)
		}
		if d <= 0 {
			return fmt.Errorf("max_report_age: %s is not positive", s.MaxReportAge)
		}
	}
	for i, k := range s.DatabaseKeys {
		if _, err := ParsePublicKey([]byte(k)); err != nil {
			return fmt.Errorf("database_keys[%d]: %v", i, err)
		}
	}
	for i, g := range s.Gates {
		if err := validateGlobs("repositories", g.Repositories); err != nil {
			return fmt.Errorf("gates[%d].%v", i, err)
		}
		if !validSevs[g.Severity] {
			return fmt.Errorf("gates[%d].severity: %q is not LOW, MEDIUM, HIGH or CRITICAL", i, g.Severity)
		}
		switch g.Missing {
		case "", "allow", "warn", "deny":
		default:
			return fmt.Errorf(`gates[%d].missing: %q is not "allow", "warn" or "deny"`, i, g.Missing)
		}
		for j, a := range g.Allow {
			if a.ID == "" {
				return fmt.Errorf("gates[%d].allow[%d].id: must be set", i, j)
			}
			if a.Expires.IsZero() {
				return fmt.Errorf("gates[%d].allow[%d].expires: must be set", i, j)
			}
		}
	}
	return nil
}

func validateGlobs(field string, globs []string) error {
	if len(globs) == 0 {
		return fmt.Errorf("%s: must list at least one glob", field)
	}
	for _, g := range globs {
		if err := ValidateGlob(g); err != nil {
			return fmt.Errorf("%s: %q: %v", field, g, err)
		}
	}
	return nil
}

// validateCertificates checks a client_cas entry: one or more PEM
// CERTIFICATE blocks, each a parseable X.509 certificate, and nothing else.
func validateCertificates(s string) error {
	rest := []byte(s)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block is %q, want \"CERTIFICATE\"", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return errors.New("no PEM CERTIFICATE block")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return errors.New("data after the PEM certificates")
	}
	return nil
}

// ClientCertPool returns the document's client CAs as a pool for
// tls.Config.ClientCAs, or nil when there are none.
func (d *Document) ClientCertPool() *x509.CertPool {
	if len(d.ClientCAs) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, ca := range d.ClientCAs {
		pool.AppendCertsFromPEM([]byte(ca))
	}
	return pool
}

// validateUpstream accepts "host" or "host:port" (IPv6 in brackets), no
// scheme or path: the allowlist is of registries, not URLs.
func validateUpstream(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if strings.Contains(s, "://") {
		return errors.New(`a host or host:port, not a URL (drop the "https://")`)
	}
	if strings.ContainsAny(s, "/?#@ \t") {
		return errors.New("a host or host:port, with no path, user or spaces")
	}
	host, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not 1-65535", port)
		}
	}
	return nil
}

// splitHostPort splits "host", "host:port", "[v6]" or "[v6]:port"; a bare
// IPv6 address (two or more colons) is a host with no port.
func splitHostPort(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("unclosed '['")
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", errors.New("junk after ']'")
		}
		return host, rest[1:], nil
	}
	if strings.Count(s, ":") == 1 {
		h, p, err := net.SplitHostPort(s)
		return h, p, err
	}
	return s, "", nil
}
