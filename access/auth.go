package access

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
)

// client is who is calling, as far as this request shows.
type client struct {
	// identities are the policy identity names the caller has.
	identities []string
	// subject names the caller for logs and tokens: the basic or token
	// user name, the certificate subject, or "" when anonymous.
	subject string
	// credentialed is true when the caller proved who it is (valid basic
	// credentials, a token, a verified client certificate), so a refusal
	// is 403 rather than a 401 asking it to log in.
	credentialed bool
	loopback     bool
}

// authError is a refusal that may ask the client to authenticate.
type authError struct {
	err        *oci.Error
	challenges []string
}

func (e *authError) Error() string        { return e.err.Error() }
func (e *authError) Unwrap() error        { return e.err }
func (e *authError) Challenges() []string { return e.challenges }

var _ oci.Challenger = (*authError)(nil)

// identify works out who r comes from under p. A request with bad
// credentials (wrong password, a token that does not verify) is refused
// outright rather than treated as anonymous, so the client hears that its
// credentials are wrong.
func (a *Control) identify(r *http.Request, p *policy.Policy) (client, error) {
	c := client{loopback: isLoopback(r.RemoteAddr)}
	caller := policy.Caller{Loopback: c.loopback}
	if subjects := a.certSubjects(r, p); len(subjects) > 0 {
		caller.CertSubjects = subjects
		c.subject = "cert:" + subjects[0]
		c.credentialed = true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		switch strings.ToLower(scheme) {
		case "basic":
			user, pass, ok := r.BasicAuth()
			if !ok {
				return c, errors.New("malformed basic credentials")
			}
			ids, err := a.passwords.check(p, r.RemoteAddr, user, pass)
			if err != nil {
				return c, err
			}
			caller.Identities = append(caller.Identities, ids...)
			c.subject, c.credentialed = user, true
		case "bearer":
			claims, err := a.tokens.verify(strings.TrimSpace(cred), serviceName(r), a.now(), 0)
			if err != nil {
				return c, err
			}
			if claims.Subject != "" && claims.Credential != credentialFingerprint(p, claims.Subject) {
				return c, fmt.Errorf("%w: the policy has changed the credentials it was issued for; log in again", errToken)
			}
			caller.Identities = append(caller.Identities, claims.Identities...)
			if claims.Subject != "" {
				c.subject, c.credentialed = claims.Subject, true
			}
		default:
			return c, fmt.Errorf("unsupported authorization scheme %q", truncateString(scheme, 16))
		}
	}
	c.identities = p.Identify(caller)
	return c, nil
}

// Authorize is the oci handler's Authorize hook: with no policy every
// request goes through; with one, the caller's identities must be allowed
// action on the repository's canonical name (the one policies name:
// docker.io/library/alpine however the client spelled it).
func (a *Control) Authorize(r *http.Request, repo oci.Repo, action string) error {
	p := a.Current()
	if p == nil {
		return nil
	}
	c, err := a.identify(r, p)
	if err != nil {
		a.denied(r, c, action, repo.Name, err.Error())
		if errors.Is(err, errTooManyPasswords) {
			return err
		}
		return a.unauthorized(r, repo.Name, action, "authentication failed: "+err.Error())
	}
	now := a.now()
	if p.Expired(now) {
		if over := a.graceOver(p, now); over {
			a.denied(r, c, action, repo.Name, "policy expired and its grace period is over")
			return oci.ErrDenied.WithMessage("policy expired: this node refuses every request until a new policy is applied")
		}
		if action == oci.ActionPush || action == oci.ActionDelete {
			a.denied(r, c, action, repo.Name, "policy expired")
			return oci.ErrDenied.WithMessage("policy expired: %s on %s refused; only cached content is served until a new policy is applied", action, repo.Name)
		}
	}
	if action == oci.ActionBase || repo.Name == "" {
		// The /v2/ check and the catalog: let in anyone the policy
		// allows something; the catalog is filtered per repository.
		if mayDoAnything(p, c.identities) {
			return nil
		}
		a.denied(r, c, action, repo.Name, "no rule allows this caller anything")
		if !c.credentialed {
			return a.unauthorized(r, "", action, "authentication required")
		}
		return oci.ErrDenied.WithMessage("no access to this registry for %s", c.subject)
	}
	name, err := a.canonicalName(repo, action)
	if err != nil {
		return err
	}
	d := p.Decide(c.identities, policy.Action(action), name)
	if d.Allowed {
		return nil
	}
	a.denied(r, c, action, name, d.Reason)
	if !c.credentialed {
		return a.unauthorized(r, repo.Name, action, fmt.Sprintf("authentication required to %s %s", action, name))
	}
	return oci.ErrDenied.WithMessage("%s on %s denied for %s", action, name, c.subject)
}

// FilterCatalog is the oci handler's FilterCatalog hook: the caller sees
// the repositories it may pull or list.
func (a *Control) FilterCatalog(r *http.Request, names []string) []string {
	p := a.Current()
	if p == nil {
		return names
	}
	c, err := a.identify(r, p)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(names))
	for _, name := range names {
		if p.Decide(c.identities, policy.List, name).Allowed || p.Decide(c.identities, policy.Pull, name).Allowed {
			out = append(out, name)
		}
	}
	return out
}

// canonicalName is the name a policy uses for repo: its key.
func (a *Control) canonicalName(repo oci.Repo, action string) (string, error) {
	r, err := a.cfg.Resolve(repo, action == oci.ActionPush || action == oci.ActionDelete)
	if err != nil {
		return "", err
	}
	return r.Key(), nil
}

// mayDoAnything says whether some allow rule names one of identities.
func mayDoAnything(p *policy.Policy, identities []string) bool {
	for _, rule := range p.Document.Rules {
		if rule.Effect == "deny" {
			continue
		}
		for _, id := range rule.Identities {
			if id == "*" || slices.Contains(identities, id) {
				return true
			}
		}
	}
	return false
}

// unauthorized is a 401 that starts the token flow for repo (the name as
// the client sent it, so its token cache keys match).
func (a *Control) unauthorized(r *http.Request, repo, action, msg string) error {
	bearer := fmt.Sprintf(`Bearer realm="%s",service="%s"`, a.tokenRealm(r), serviceName(r))
	if repo != "" && action != oci.ActionBase {
		bearer += fmt.Sprintf(`,scope="repository:%s:%s"`, repo, scopeActions(action))
	}
	return &authError{
		err:        oci.ErrUnauthorized.WithMessage("%s", msg),
		challenges: []string{bearer, `Basic realm="shoal"`},
	}
}

// scopeActions is the docker scope action list for action: clients ask
// for pull,push when they push.
func scopeActions(action string) string {
	switch action {
	case oci.ActionPush:
		return "pull,push"
	case oci.ActionList:
		return "pull"
	}
	return action
}

// denied counts and logs a refusal.
func (a *Control) denied(r *http.Request, c client, action, repo, reason string) {
	label := action
	if label == oci.ActionBase {
		label = "base"
	}
	a.deniedTotal.WithLabelValues(label).Inc()
	a.log.Warn("access denied",
		"action", label, "repository", repo,
		"subject", c.subject, "identities", c.identities,
		"remote_addr", r.RemoteAddr, "reason", reason)
}

// tokenRealm is the URL of this node's token endpoint as the client
// reaches the node.
func (a *Control) tokenRealm(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/v2/token"
}

// serviceName is the token service (audience): the host the client uses.
func serviceName(r *http.Request) string { return r.Host }

// isLoopback is true for a connection from 127.0.0.0/8 or ::1. Proxy
// headers are never trusted for this.
func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// HandleToken is GET /v2/token: the docker token endpoint. Basic
// credentials are checked against the policy; without them the token
// carries no identities (the caller stays anonymous). scope is accepted
// but does not limit the token: every request is decided against the
// current policy.
func (a *Control) HandleToken(w http.ResponseWriter, r *http.Request) {
	p := a.Current()
	q := r.URL.Query()
	service := q.Get("service")
	if service == "" {
		service = serviceName(r)
	}
	var subject string
	var ids []string
	if user, pass, ok := r.BasicAuth(); ok {
		if p == nil {
			// An open node has no users: any credentials get an
			// anonymous token, as a registry without auth would.
			user = ""
		} else {
			got, err := a.passwords.check(p, r.RemoteAddr, user, pass)
			if errors.Is(err, errTooManyPasswords) {
				a.denied(r, client{subject: user, loopback: isLoopback(r.RemoteAddr)}, "token", q.Get("scope"), "too many password checks")
				oci.WriteError(w, err)
				return
			}
			if err != nil {
				a.denied(r, client{subject: user, loopback: isLoopback(r.RemoteAddr)}, "token", q.Get("scope"), "invalid username or password")
				w.Header().Add("WWW-Authenticate", `Basic realm="shoal"`)
				oci.WriteError(w, oci.ErrUnauthorized.WithMessage("invalid username or password for %q", user))
				return
			}
			ids = got
		}
		subject = user
	} else if r.Header.Get("Authorization") != "" {
		oci.WriteError(w, oci.ErrUnauthorized.WithMessage("the token endpoint takes basic credentials or none"))
		return
	}
	if acct := q.Get("account"); acct != "" && subject != "" && acct != subject {
		oci.WriteError(w, oci.ErrDenied.WithMessage("account %q does not match the credentials given", acct))
		return
	}
	now := a.now()
	tok, err := a.tokens.issue(subject, ids, service, credentialFingerprint(p, subject), now)
	if err != nil {
		a.log.Error("issuing a token", "err", err)
		oci.WriteError(w, err)
		return
	}
	a.log.Debug("token issued", "subject", subject, "identities", ids, "service", service, "scope", q["scope"], "remote_addr", r.RemoteAddr)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}{tok, tok, int(tokenTTL / time.Second), now.UTC().Format(time.RFC3339)})
}

// clientCAs is the pool of a policy's client CAs, built once per policy.
type clientCAs struct {
	mu     sync.Mutex
	digest string
	pool   *x509.CertPool
	// verified caches certificate subjects by certificate fingerprint for
	// the current pool; bounded, and dropped with the pool.
	verified map[[32]byte][]string
}

const maxVerifiedCerts = 4096

// pool returns p's client CA pool, nil when it names none.
func (c *clientCAs) poolFor(p *policy.Policy) *x509.CertPool {
	if p == nil || len(p.Document.ClientCAs) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.digest == p.Digest.String() {
		return c.pool
	}
	pool := x509.NewCertPool()
	for _, pemCA := range p.Document.ClientCAs {
		pool.AppendCertsFromPEM([]byte(pemCA))
	}
	c.digest, c.pool, c.verified = p.Digest.String(), pool, map[[32]byte][]string{}
	return pool
}

// certSubjects verifies the client certificate of r, if any, against the
// current policy's client CAs and returns its CN and SANs. It checks on
// every request (with a cache), so a connection made under an older
// policy gets no identity the new one does not grant.
func (a *Control) certSubjects(r *http.Request, p *policy.Policy) []string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	pool := a.cas.poolFor(p)
	if pool == nil {
		return nil
	}
	leaf := r.TLS.PeerCertificates[0]
	fp := sha256.Sum256(leaf.Raw)
	a.cas.mu.Lock()
	subjects, ok := a.cas.verified[fp]
	a.cas.mu.Unlock()
	if ok && time.Now().Before(leaf.NotAfter) {
		return subjects
	}
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		a.log.Warn("client certificate not trusted by the policy", "subject", leaf.Subject.String(), "remote_addr", r.RemoteAddr, "err", err)
		return nil
	}
	subjects = certNames(leaf)
	a.cas.mu.Lock()
	if a.cas.pool == pool {
		if len(a.cas.verified) >= maxVerifiedCerts {
			clear(a.cas.verified)
		}
		a.cas.verified[fp] = subjects
	}
	a.cas.mu.Unlock()
	return subjects
}

// certNames are a certificate's common name and DNS, email and URI SANs.
func certNames(c *x509.Certificate) []string {
	var names []string
	if c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	names = append(names, c.DNSNames...)
	names = append(names, c.EmailAddresses...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// withClientCerts makes a server TLS config ask for client certificates
// and verify them, at handshake, against the client CAs of the policy in
// force at that moment, so a new policy's CAs apply without a restart.
// With no client CAs a presented certificate is accepted and ignored.
func (a *Control) withClientCerts(base *tls.Config) *tls.Config {
	cfg := base.Clone()
	prev := cfg.GetConfigForClient
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := cfg
		if prev != nil {
			pc, err := prev(hello)
			if err != nil {
				return nil, err
			}
			if pc != nil {
				c = pc
			}
		}
		c = c.Clone()
		c.GetConfigForClient = nil
		if pool := a.cas.poolFor(a.Current()); pool != nil {
			c.ClientCAs = pool
			c.ClientAuth = tls.VerifyClientCertIfGiven
		} else {
			c.ClientAuth = tls.RequestClientCert
		}
		return c, nil
	}
	return cfg
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// MayPull says whether the caller of r may pull repository repo (a key)
// under the policy in force, for endpoints outside the registry API that
// show what a repository holds (scan reports). An open node lets
// everyone.
func (a *Control) MayPull(r *http.Request, repo string) bool {
	p := a.Current()
	if p == nil {
		return true
	}
	if p.Expired(a.now()) && a.graceOver(p, a.now()) {
		return false
	}
	c, err := a.identify(r, p)
	if err != nil {
		return false
	}
	return p.Decide(c.identities, policy.Pull, repo).Allowed
}
