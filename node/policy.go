package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
)

// DefaultPolicyGrace is how long after its policy expires a node still
// serves cached content the policy allowed.
const DefaultPolicyGrace = 72 * time.Hour

// expiredAlarmEvery is how often an expired policy is logged as an error.
const expiredAlarmEvery = time.Minute

// maxPolicyBody bounds PUT /shoal/v1/policy (the envelope parser bounds
// it again).
const maxPolicyBody = 1 << 20

// nodePolicy is the node's policy state: the durable store of the
// accepted policy (nil on an open node), who watches it, and what
// enforcement needs.
type nodePolicy struct {
	// store is nil when no --policy-root is configured: an open node.
	store *policy.Store
	grace time.Duration
	now   func() time.Time

	mu       sync.Mutex
	watchers []func(*policy.Policy)

	cas         clientCAs
	deniedTotal *prometheus.CounterVec

	// stop ends the expiry alarm; done is closed when it has ended (nil
	// when it never started).
	stop chan struct{}
	done chan struct{}
}

// openPolicy sets up the policy lifecycle: the token key, the store at
// <data-dir>/policy verified against --policy-root keys, --policy applied,
// the metrics, and the expiry alarm. Called by New once the data dir
// exists.
func (n *Node) openPolicy() error {
	np := &nodePolicy{grace: n.cfg.PolicyGrace, now: n.cfg.clock, stop: make(chan struct{})}
	if np.grace <= 0 {
		np.grace = DefaultPolicyGrace
	}
	if np.now == nil {
		np.now = time.Now
	}
	n.pol = np

	key, err := loadTokenKey(filepath.Join(n.cfg.DataDir, tokenKeyFile))
	if err != nil {
		return fmt.Errorf("the token signing key: %w", err)
	}
	n.tokens = newTokenIssuer(key, "shoal")

	np.deniedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_access_denied_total",
		Help: "Requests refused by the access policy, by action.",
	}, []string{"action"})
	for _, a := range []string{"pull", "push", "delete", "list", "base"} {
		np.deniedTotal.WithLabelValues(a)
	}
	n.metrics.registry.MustRegister(np.deniedTotal,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_policy_version", Help: "Version of the access policy in force; 0 when there is none.",
		}, func() float64 { return float64(n.policyVersion()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shoal_policy_expired", Help: "1 while the policy in force has expired (no upstream fetches; cached content only, until the grace period ends), else 0.",
		}, func() float64 {
			if p := n.currentPolicy(); p != nil && p.Expired(n.now()) {
				return 1
			}
			return 0
		}),
	)

	if len(n.cfg.PolicyRoots) == 0 {
		if n.cfg.Policy != "" {
			return errors.New("--policy needs at least one --policy-root to verify it against")
		}
		return nil
	}
	v := policy.Verifier{Network: n.cfg.PolicyNetwork}
	for _, f := range n.cfg.PolicyRoots {
		pub, err := policy.ReadPublicKey(f)
		if err != nil {
			return fmt.Errorf("--policy-root %s: %w", f, err)
		}
		v.Roots = append(v.Roots, pub)
	}
	// The store keeps its files under <data-dir>/policy.
	store, err := policy.OpenStore(n.cfg.DataDir, v)
	if err != nil {
		return fmt.Errorf("opening the policy store: %w", err)
	}
	np.store = store
	if held := store.Current(); held != nil {
		if n.cfg.PolicyNetwork != "" && held.Document.Network != n.cfg.PolicyNetwork {
			return fmt.Errorf("the policy held in %s is for network %q, not --policy-network %q", n.cfg.DataDir, held.Document.Network, n.cfg.PolicyNetwork)
		}
		n.log.Info("policy held", "version", held.Document.Version, "digest", held.Digest, "network", held.Document.Network, "expires", held.Document.Expires)
	}
	if n.cfg.Policy != "" {
		b, err := os.ReadFile(n.cfg.Policy)
		if err != nil {
			return fmt.Errorf("--policy: %w", err)
		}
		if _, err := n.applyPolicy(b, "file"); err != nil && !errors.Is(err, policy.ErrAlreadyHeld) {
			held := store.Current()
			switch {
			case held != nil && (errors.Is(err, policy.ErrRollback) || errors.Is(err, policy.ErrExpired)):
				// The data dir holds a newer policy than the file (it came
				// from a peer or the API): keep it.
				n.log.Info("--policy is older than the policy held; keeping the held one", "file", n.cfg.Policy, "held_version", held.Document.Version, "reason", err)
			default:
				return fmt.Errorf("--policy %s: %w", n.cfg.Policy, err)
			}
		}
	}
	np.done = make(chan struct{})
	go n.policyAlarm()
	return nil
}

// closePolicy stops the expiry alarm.
func (n *Node) closePolicy() {
	if n.pol == nil {
		return
	}
	select {
	case <-n.pol.stop:
	default:
		close(n.pol.stop)
	}
	if n.pol.done != nil {
		<-n.pol.done
	}
}

func (n *Node) now() time.Time { return n.pol.now() }

// currentPolicy is the policy in force; nil means the node is open.
func (n *Node) currentPolicy() *policy.Policy {
	if n.pol == nil || n.pol.store == nil {
		return nil
	}
	return n.pol.store.Current()
}

func (n *Node) policyVersion() uint64 {
	if p := n.currentPolicy(); p != nil {
		return p.Document.Version
	}
	return 0
}

// errOpenNode refuses policies on a node started without --policy-root.
var errOpenNode = errors.New("this node has no --policy-root: it is open and accepts no policy")

// applyPolicy accepts an envelope (from --policy, PUT /shoal/v1/policy,
// `shoal policy apply`, or a peer) and, when it is new, calls every
// watcher with it. from is "file", "api" or a peer ID, for logs. A policy
// the node already holds returns it with policy.ErrAlreadyHeld.
func (n *Node) applyPolicy(envelope []byte, from string) (*policy.Policy, error) {
	if n.pol == nil || n.pol.store == nil {
		return nil, errOpenNode
	}
	// One at a time, so watchers see policies in the order accepted.
	n.pol.mu.Lock()
	defer n.pol.mu.Unlock()
	prev := n.pol.store.Current()
	p, err := n.pol.store.Accept(envelope, n.now())
	if err != nil {
		if errors.Is(err, policy.ErrAlreadyHeld) {
			n.log.Debug("policy already held", "from", from, "version", p.Document.Version)
			return p, err
		}
		lvl := "policy refused"
		if errors.Is(err, policy.ErrEquivocation) {
			lvl = "policy refused: EQUIVOCATION (same version, other content)"
		}
		n.log.Warn(lvl, "from", from, "err", err)
		return nil, err
	}
	args := []any{"from", from, "version", p.Document.Version, "digest", p.Digest, "network", p.Document.Network, "expires", p.Document.Expires}
	if prev != nil {
		args = append(args, "previous_version", prev.Document.Version)
	}
	n.log.Info("policy applied", args...)
	for _, fn := range n.pol.watchers {
		fn(p)
	}
	return p, nil
}

// watchPolicy calls fn with every newly accepted policy, and at once with
// the one held, if any.
func (n *Node) watchPolicy(fn func(*policy.Policy)) {
	n.pol.mu.Lock()
	defer n.pol.mu.Unlock()
	n.pol.watchers = append(n.pol.watchers, fn)
	if p := n.currentPolicy(); p != nil {
		fn(p)
	}
}

// graceOver says whether p expired longer than the grace period ago.
func (n *Node) graceOver(p *policy.Policy, now time.Time) bool {
	return now.After(p.Document.Expires.Add(n.pol.grace))
}

// errPolicyExpired answers a read of content the node does not hold while
// its policy has expired.
var errPolicyExpired = oci.ErrDenied.WithMessage("policy expired: only cached content is served; apply a new policy to fetch again")

// policyOffline says whether the node must not fetch (from upstream or
// peers) because its policy has expired: reads are served from the store.
func (n *Node) policyOffline() bool {
	p := n.currentPolicy()
	return p != nil && p.Expired(n.now())
}

// policyProblems are /readyz problems from the policy.
func (n *Node) policyProblems() []string {
	if p := n.currentPolicy(); p != nil && p.Expired(n.now()) {
		return []string{"policy: expired"}
	}
	return nil
}

// policyAlarm logs an error every minute while the policy in force has
// expired.
func (n *Node) policyAlarm() {
	defer close(n.pol.done)
	t := time.NewTicker(expiredAlarmEvery)
	defer t.Stop()
	for {
		n.logIfExpired()
		select {
		case <-n.pol.stop:
			return
		case <-t.C:
		}
	}
}

func (n *Node) logIfExpired() {
	p := n.currentPolicy()
	now := n.now()
	if p == nil || !p.Expired(now) {
		return
	}
	if n.graceOver(p, now) {
		n.log.Error("POLICY EXPIRED and its grace period is over: every request is refused until a new policy is applied",
			"version", p.Document.Version, "expired", p.Document.Expires, "grace", n.pol.grace)
		return
	}
	n.log.Error("POLICY EXPIRED: no upstream fetches; cached content only until the grace period ends",
		"version", p.Document.Version, "expired", p.Document.Expires, "grace_ends", p.Document.Expires.Add(n.pol.grace))
}

// policyRoutes adds PUT /shoal/v1/policy and the token endpoint.
func (n *Node) policyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /shoal/v1/policy", n.handlePutPolicy)
	mux.HandleFunc("GET /v2/token", n.handleToken)
}

// handlePutPolicy installs the signed policy envelope in the body. The
// envelope authenticates itself, so no caller credentials are needed.
func (n *Node) handlePutPolicy(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPolicyBody+1))
	if err != nil {
		oci.WriteError(w, oci.ErrBlobUploadInvalid.WithMessage("reading the policy: %v", err))
		return
	}
	if len(body) > maxPolicyBody {
		oci.WriteError(w, oci.ErrTooLarge.WithMessage("a policy envelope is at most %d bytes", maxPolicyBody))
		return
	}
	p, err := n.applyPolicy(body, "api")
	if err != nil && !errors.Is(err, policy.ErrAlreadyHeld) {
		oci.WriteError(w, &oci.Error{Status: http.StatusBadRequest, Code: "DENIED", Message: "policy refused: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Version uint64 `json:"version"`
		Digest  string `json:"digest"`
	}{p.Document.Version, p.Digest.String()})
}

// guardAdmin keeps the image-moving admin endpoints, which write local
// repositories without going through the registry API, to loopback
// callers while a policy is in force.
func (n *Node) guardAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == "/shoal/v1/import" || r.URL.Path == "/shoal/v1/preload") && n.currentPolicy() != nil && !isLoopback(r.RemoteAddr) {
			n.denied(r, client{}, "push", r.URL.Path, "admin endpoint from a non-loopback address")
			oci.WriteError(w, oci.ErrDenied.WithMessage("%s is only open to loopback callers while a policy is in force", r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// The read paths while the policy has expired: the store only.

func (n *Node) cachedManifest(r repository, ref string) (*oci.Manifest, error) {
	d, err := digest.Parse(ref)
	if err != nil {
		if d, _, err = n.store.Tag(r.key, ref); err != nil {
			return nil, errPolicyExpired
		}
	}
	m, err := n.storedManifest(r, d)
	if err != nil {
		return nil, errPolicyExpired
	}
	return m, nil
}

func (n *Node) cachedStatBlob(d digest.Digest) (int64, error) {
	size, err := n.store.StatBlob(d)
	if err != nil {
		return 0, errPolicyExpired
	}
	return size, nil
}

func (n *Node) cachedBlob(d digest.Digest) (*oci.Blob, error) {
	br, err := n.store.OpenBlob(d)
	if err != nil {
		return nil, errPolicyExpired
	}
	return blob(br), nil
}

func (n *Node) cachedTags(r repository) ([]string, error) {
	tags, err := n.store.Tags(r.key)
	if err != nil {
		return nil, errPolicyExpired
	}
	return tags, nil
}

func (n *Node) cachedReferrers(r repository, d digest.Digest) ([]ocispec.Descriptor, error) {
	return n.store.Referrers(r.key, d)
}
