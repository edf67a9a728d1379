package access

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/repository"
)

// DefaultPolicyGrace is how long after its policy expires a node still
// serves cached content the policy allowed.
const DefaultPolicyGrace = 72 * time.Hour

// expiredAlarmEvery is how often an expired policy is logged as an error.
const expiredAlarmEvery = time.Minute

// maxPolicyBody bounds PUT /shoal/v1/policy (the envelope parser bounds
// it again).
const maxPolicyBody = 1 << 20

// Config is what access control is made of.
type Config struct {
	// DataDir holds the token key and the policy store (<DataDir>/policy).
	DataDir string
	// Roots are the keys trusted to sign policies; with none the node is
	// open: every request is allowed and no policy is accepted.
	Roots []ed25519.PublicKey
	// Policy is a signed policy envelope to start with (nil for none);
	// one older than the policy held is logged and ignored.
	Policy []byte
	// Network pins the policy network ("" = the first accepted policy's).
	Network string
	// OpenNetwork says that the node's p2p host takes connections from
	// any peer that can reach it: it is in a fleet with no swarm key.
	// There a policy whose peers.any_with_swarm_key admits "every peer
	// that can connect" would admit every peer on the network, so it is
	// refused.
	OpenNetwork bool
	// Grace is how long cached content stays served after the policy
	// expires (0 = DefaultPolicyGrace).
	Grace time.Duration
	// Now replaces time.Now for the policy's expiry and tokens (tests).
	Now func() time.Time
	// TLSCert and TLSKey are the files of the HTTPS key pair, "" without
	// TLS; they are reloaded when they change.
	TLSCert, TLSKey string
	// Resolve maps a client's repository onto the one policies name.
	Resolve func(repo oci.Repo, write bool) (repository.Name, error)
	// UpstreamHost is the host[:port] an upstream rule fetches from, for
	// the policy's upstream allow-list; false for no such rule.
	UpstreamHost func(rule string) (string, bool)
	// Metrics are registered here.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// Control is the node's access control: the durable store of the
// accepted policy (nil on an open node), who watches it, and what
// enforcement needs (identities, tokens, client certificates, TLS).
type Control struct {
	cfg Config
	log *slog.Logger
	// store is nil when no root is configured: an open node.
	store  *policy.Store
	grace  time.Duration
	now    func() time.Time
	tokens *tokenIssuer
	// passwords checks basic credentials, remembering recent ones.
	passwords *passwordChecker
	certs     *certReloader // nil without TLS

	mu       sync.Mutex
	watchers []func(*policy.Policy)

	cas         clientCAs
	deniedTotal *prometheus.CounterVec

	// stop ends the expiry alarm; done is closed when it has ended (nil
	// when it never started).
	stop chan struct{}
	done chan struct{}
}

// Open sets up access control: the TLS key pair, the token key, the
// policy store verified against the roots, the starting policy, the
// metrics, and the expiry alarm. The data dir must exist.
func Open(cfg Config) (*Control, error) {
	c := &Control{cfg: cfg, log: cfg.Logger, grace: cfg.Grace, now: cfg.Now, stop: make(chan struct{})}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.grace <= 0 {
		c.grace = DefaultPolicyGrace
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.passwords = newPasswordChecker(c.now)
	if c.cfg.Resolve == nil {
		c.cfg.Resolve = func(repo oci.Repo, _ bool) (repository.Name, error) { return repository.Local(repo.Name), nil }
	}
	if c.cfg.UpstreamHost == nil {
		c.cfg.UpstreamHost = func(string) (string, bool) { return "", false }
	}
	if err := c.open(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Control) open() error {
	if err := pairGiven(c.cfg.TLSCert, c.cfg.TLSKey); err != nil {
		return err
	}
	if c.cfg.TLSCert != "" {
		certs, err := newCertReloader(c.cfg.TLSCert, c.cfg.TLSKey, c.log)
		if err != nil {
			return fmt.Errorf("loading the TLS key pair: %w", err)
		}
		c.certs = certs
	}
	key, err := loadTokenKey(filepath.Join(c.cfg.DataDir, tokenKeyFile))
	if err != nil {
		return fmt.Errorf("the token signing key: %w", err)
	}
	c.tokens = newTokenIssuer(key, "shoal")

	c.deniedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_access_denied_total",
		Help: "Requests refused by the access policy, by action.",
	}, []string{"action"})
	for _, a := range []string{"pull", "push", "delete", "list", "base"} {
		c.deniedTotal.WithLabelValues(a)
	}
	if c.cfg.Metrics != nil {
		for _, m := range []prometheus.Collector{c.deniedTotal,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "shoal_policy_version", Help: "Version of the access policy in force; 0 when there is none.",
			}, func() float64 { return float64(c.Version()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "shoal_policy_expiry_timestamp_seconds", Help: "When the policy in force expires, in seconds since the Unix epoch; 0 when there is none.",
			}, func() float64 {
				if p := c.Current(); p != nil {
					return float64(p.Document.Expires.Unix())
				}
				return 0
			}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "shoal_policy_expired", Help: "1 while the policy in force has expired (no upstream fetches; cached content only, until the grace period ends), else 0.",
			}, func() float64 {
				if c.Offline() {
					return 1
				}
				return 0
			}),
		} {
			if err := c.cfg.Metrics.Register(m); err != nil {
				return err
			}
		}
	}

	if len(c.cfg.Roots) == 0 {
		if c.cfg.Policy != nil {
			return errors.New("a starting policy needs at least one policy root key to verify it against")
		}
		return nil
	}
	v := policy.Verifier{Network: c.cfg.Network, Roots: c.cfg.Roots}
	// The store keeps its files under <data-dir>/policy.
	store, err := policy.OpenStore(c.cfg.DataDir, v)
	if err != nil {
		return fmt.Errorf("opening the policy store: %w", err)
	}
	c.store = store
	if held := store.Current(); held != nil {
		if c.cfg.Network != "" && held.Document.Network != c.cfg.Network {
			return fmt.Errorf("the policy held in %s is for network %q, not the configured network %q", c.cfg.DataDir, held.Document.Network, c.cfg.Network)
		}
		c.log.Info("policy held", "version", held.Document.Version, "digest", held.Digest, "network", held.Document.Network, "expires", held.Document.Expires)
		if err := c.cannotHold(held.Document); err != nil {
			c.log.Error("the policy held cannot hold on this node: no peer is admitted until a policy that can is applied", "version", held.Document.Version, "err", err)
		}
	}
	if c.cfg.Policy != nil {
		if _, err := c.Apply(c.cfg.Policy, "file"); err != nil && !errors.Is(err, policy.ErrAlreadyHeld) {
			held := store.Current()
			switch {
			case held != nil && (errors.Is(err, policy.ErrRollback) || errors.Is(err, policy.ErrExpired)):
				// The data dir holds a newer policy than the file (it came
				// from a peer or the API): keep it.
				c.log.Info("the starting policy is older than the policy held; keeping the held one", "held_version", held.Document.Version, "reason", err)
			default:
				return fmt.Errorf("the starting policy: %w", err)
			}
		}
	}
	c.done = make(chan struct{})
	go c.policyAlarm()
	return nil
}

// Close stops the expiry alarm.
func (c *Control) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	if c.done != nil {
		<-c.done
	}
}

// Now is the time the policy is judged at.
func (c *Control) Now() time.Time { return c.now() }

// Current is the policy in force; nil means the node is open.
func (c *Control) Current() *policy.Policy {
	if c.store == nil {
		return nil
	}
	return c.store.Current()
}

// Version is the version of the policy in force, 0 without one.
func (c *Control) Version() uint64 {
	if p := c.Current(); p != nil {
		return p.Document.Version
	}
	return 0
}

// ErrCannotHold refuses a policy that this node cannot enforce as its
// signers meant it.
var ErrCannotHold = errors.New("the policy cannot hold on this node")

// cannotHold says why doc cannot hold on this node, or nil.
func (c *Control) cannotHold(doc *policy.Document) error {
	if doc.Peers.AnyWithSwarmKey && c.cfg.OpenNetwork {
		return fmt.Errorf("%w: peers.any_with_swarm_key admits every peer that holds the swarm key, and this node runs without a swarm key, so it would admit every peer that can reach it", ErrCannotHold)
	}
	return nil
}

// errOpenNode refuses policies on a node started without --policy-root.
var errOpenNode = errors.New("this node has no policy root key: it is open and accepts no policy")

// Apply accepts an envelope (from --policy, PUT /shoal/v1/policy,
// `shoal policy apply`, or a peer) and, when it is new, calls every
// watcher with it. from is "file", "api" or a peer ID, for logs. A policy
// the node already holds returns it with policy.ErrAlreadyHeld.
func (c *Control) Apply(envelope []byte, from string) (*policy.Policy, error) {
	if c.store == nil {
		return nil, errOpenNode
	}
	// Refused before it is verified and kept: the document is only read
	// to refuse it, never trusted.
	if env, err := policy.ParseEnvelope(envelope); err == nil {
		if doc, err := policy.Parse(env.Payload); err == nil {
			if err := c.cannotHold(doc); err != nil {
				c.log.Error("policy refused", "from", from, "version", doc.Version, "err", err)
				return nil, err
			}
		}
	}
	// One at a time, so watchers see policies in the order accepted.
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.store.Current()
	p, err := c.store.Accept(envelope, c.now())
	if err != nil {
		if errors.Is(err, policy.ErrAlreadyHeld) {
			c.log.Debug("policy already held", "from", from, "version", p.Document.Version)
			return p, err
		}
		lvl := "policy refused"
		if errors.Is(err, policy.ErrEquivocation) {
			lvl = "policy refused: EQUIVOCATION (same version, other content)"
		}
		c.log.Warn(lvl, "from", from, "err", err)
		return nil, err
	}
	args := []any{"from", from, "version", p.Document.Version, "digest", p.Digest, "network", p.Document.Network, "expires", p.Document.Expires}
	if prev != nil {
		args = append(args, "previous_version", prev.Document.Version)
	}
	c.log.Info("policy applied", args...)
	for _, fn := range c.watchers {
		fn(p)
	}
	return p, nil
}

// Watch calls fn with every newly accepted policy, and at once with
// the one held, if any.
func (c *Control) Watch(fn func(*policy.Policy)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watchers = append(c.watchers, fn)
	if p := c.Current(); p != nil {
		fn(p)
	}
}

// graceOver says whether p expired longer than the grace period ago.
func (c *Control) graceOver(p *policy.Policy, now time.Time) bool {
	return now.After(p.Document.Expires.Add(c.grace))
}

// Offline says whether the node must not fetch (from upstream or
// peers) because its policy has expired: reads are served from the store.
func (c *Control) Offline() bool {
	p := c.Current()
	return p != nil && p.Expired(c.now())
}

// Problems are /readyz problems from the policy.
func (c *Control) Problems() []string {
	if p := c.Current(); p != nil && p.Expired(c.now()) {
		return []string{"policy: expired"}
	}
	return nil
}

// policyAlarm logs an error every minute while the policy in force has
// expired.
func (c *Control) policyAlarm() {
	defer close(c.done)
	t := time.NewTicker(expiredAlarmEvery)
	defer t.Stop()
	for {
		c.logIfExpired()
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

func (c *Control) logIfExpired() {
	p := c.Current()
	now := c.now()
	if p == nil || !p.Expired(now) {
		return
	}
	if c.graceOver(p, now) {
		c.log.Error("POLICY EXPIRED and its grace period is over: every request is refused until a new policy is applied",
			"version", p.Document.Version, "expired", p.Document.Expires, "grace", c.grace)
		return
	}
	c.log.Error("POLICY EXPIRED: no upstream fetches; cached content only until the grace period ends",
		"version", p.Document.Version, "expired", p.Document.Expires, "grace_ends", p.Document.Expires.Add(c.grace))
}

// HandlePutPolicy installs the signed policy envelope in the body. The
// envelope authenticates itself, so no caller credentials are needed.
func (c *Control) HandlePutPolicy(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPolicyBody+1))
	if err != nil {
		oci.WriteError(w, oci.ErrBlobUploadInvalid.WithMessage("reading the policy: %v", err))
		return
	}
	if len(body) > maxPolicyBody {
		oci.WriteError(w, oci.ErrTooLarge.WithMessage("a policy envelope is at most %d bytes", maxPolicyBody))
		return
	}
	p, err := c.Apply(body, "api")
	if err != nil && !errors.Is(err, policy.ErrAlreadyHeld) {
		oci.WriteError(w, &oci.Error{Status: http.StatusBadRequest, Code: "DENIED", Message: "policy refused: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(adminapi.PolicyApplied{Version: p.Document.Version, Digest: p.Digest.String()})
}

// Admin says whether r comes from an admin: anyone on an open node,
// only loopback callers while a policy is in force.
func (c *Control) Admin(r *http.Request) bool {
	return c.Current() == nil || isLoopback(r.RemoteAddr)
}

// AdminOnly keeps an admin endpoint that writes the store without going
// through the registry API (import, preload, scan database, scans) to
// loopback callers while a policy is in force.
func (c *Control) AdminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.Admin(r) {
			c.denied(r, client{}, "push", r.URL.Path, "admin endpoint from a non-loopback address")
			oci.WriteError(w, oci.ErrDenied.WithMessage("%s is only open to loopback callers while a policy is in force", r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}
