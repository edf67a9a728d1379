package node

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/signature"
)

// How long a signature check's answer is reused. Short, so a signature
// pushed (or a key rotated out) takes effect soon; long enough that a
// pull's bursts of manifest requests check once.
const (
	signatureVerifiedTTL   = 5 * time.Minute
	signatureUnverifiedTTL = 30 * time.Second
	maxSignatureVerdicts   = 4096
)

// signatureChecks is the node's signature-check state. Its zero value is
// ready: the metric is registered on first use.
type signatureChecks struct {
	once     sync.Once
	failures *prometheus.CounterVec

	mu       sync.Mutex
	verdicts map[string]signatureVerdict // by repository, digest and rule keys
	keys     map[string][]crypto.PublicKey
	// now is time.Now, or a test's clock.
	now func() time.Time
}

type signatureVerdict struct {
	res     signature.Result
	expires time.Time
}

// verifyingSignatures marks a context in which the node is fetching
// signatures: manifests reached that way are not checked themselves.
type verifyingSignatures struct{}

// checkSignatures applies the current policy's signature rules for r to
// manifest m, which the client asked for as ref. A failing enforce rule
// refuses m with DENIED naming the rule; a failing warn rule is logged
// and counted, and m is served. Signature artifacts themselves (a cosign
// .sig/.att/.sbom tag, or a referrer) are not checked, nor is anything
// fetched while checking, so checks do not recurse.
func (n *Node) checkSignatures(ctx context.Context, r repository, ref string, m *oci.Manifest) error {
	if ctx.Value(verifyingSignatures{}) != nil {
		return nil
	}
	rules := n.currentPolicy().SignatureRules(r.key)
	if len(rules) == 0 {
		return nil
	}
	sc := n.signatureChecks()
	if isSignatureArtifact(ref, m) {
		return nil
	}
	for _, rule := range rules {
		res, err := n.verifySignatures(ctx, r, m.Digest, rule)
		if err == nil && res.Verified {
			continue
		}
		name := strings.Join(rule.Repositories, ",")
		sc.failures.WithLabelValues(rule.Mode).Inc()
		why := res.String()
		if err != nil {
			why = "the signatures could not be fetched: " + err.Error()
		}
		if rule.Mode == "warn" {
			n.log.Warn("image signature check failed; serving it as signature rule is in warn mode",
				"repository", r.key, "digest", m.Digest, "rule", name, "reason", why)
			continue
		}
		n.log.Warn("image refused: signature check failed", "repository", r.key, "digest", m.Digest, "rule", name, "reason", why)
		detail := map[string]string{"rule": name, "digest": m.Digest.String(), "reason": why}
		if err != nil {
			// A transient failure: the client may retry.
			return oci.ErrUnavailable.WithMessage("signature rule %q: the signatures of %s could not be fetched to check them", name, m.Digest).With(detail)
		}
		return oci.ErrDenied.WithMessage("signature rule %q requires a signature by a trusted key: %s", name, why).With(detail)
	}
	return nil
}

// signatureChecks returns the check state, registering its metric the
// first time.
func (n *Node) signatureChecks() *signatureChecks {
	sc := &n.sigs
	sc.once.Do(func() {
		sc.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_signature_failures_total",
			Help: "Manifest requests whose image signature check failed, by the rule's mode (enforce: refused; warn: served).",
		}, []string{"mode"})
		sc.failures.WithLabelValues("enforce")
		sc.failures.WithLabelValues("warn")
		if err := n.metrics.registry.Register(sc.failures); err != nil {
			n.log.Warn("registering the signature metric", "err", err)
		}
		sc.verdicts = map[string]signatureVerdict{}
		sc.keys = map[string][]crypto.PublicKey{}
		if sc.now == nil {
			sc.now = time.Now
		}
	})
	return sc
}

// verifySignatures checks image d of r against one rule's keys, reusing a
// recent answer. Concurrent checks of one image share one verification.
func (n *Node) verifySignatures(ctx context.Context, r repository, d digest.Digest, rule policy.SignatureRule) (signature.Result, error) {
	sc := n.signatureChecks()
	keysID := keySetID(rule.Keys)
	cacheKey := r.key + "\x00" + d.String() + "\x00" + keysID
	sc.mu.Lock()
	v, ok := sc.verdicts[cacheKey]
	sc.mu.Unlock()
	if ok && sc.now().Before(v.expires) {
		return v.res, nil
	}
	keys, err := sc.parsedKeys(keysID, rule.Keys)
	if err != nil {
		// The policy package validated these keys; failing closed anyway.
		return signature.Result{Reason: signature.ReasonMalformed, Detail: "the rule's keys: " + err.Error()}, nil
	}
	out, err, _ := n.flight.Do("signature\x00"+cacheKey, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), upstreamTimeout)
		defer cancel()
		ctx = context.WithValue(ctx, verifyingSignatures{}, true)
		return signature.Verify(ctx, signatureSource{n: n, repo: r.ociRepo()}, d, keys)
	})
	if err != nil {
		return signature.Result{}, err
	}
	res := out.(signature.Result)
	ttl := signatureUnverifiedTTL
	if res.Verified {
		ttl = signatureVerifiedTTL
	}
	sc.remember(cacheKey, signatureVerdict{res: res, expires: sc.now().Add(ttl)})
	return res, nil
}

func (sc *signatureChecks) remember(key string, v signatureVerdict) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.verdicts) >= maxSignatureVerdicts {
		now := sc.now()
		for k, old := range sc.verdicts {
			if !now.Before(old.expires) {
				delete(sc.verdicts, k)
			}
		}
		if len(sc.verdicts) >= maxSignatureVerdicts {
			clear(sc.verdicts)
		}
	}
	sc.verdicts[key] = v
}

func (sc *signatureChecks) parsedKeys(id string, pems []string) ([]crypto.PublicKey, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if keys, ok := sc.keys[id]; ok {
		return keys, nil
	}
	keys, err := signature.ParsePublicKeys(pems)
	if err != nil {
		return nil, err
	}
	if len(sc.keys) >= 256 {
		clear(sc.keys)
	}
	sc.keys[id] = keys
	return keys, nil
}

// keySetID names a rule's set of keys.
func keySetID(pems []string) string {
	h := sha256.New()
	for _, p := range pems {
		h.Write([]byte(strings.TrimSpace(p)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// isSignatureArtifact says whether m, requested as ref, is a signature or
// other artifact about an image rather than an image: a cosign companion
// tag (.sig, .att, .sbom) or a referrer (it has a subject), with no layer
// a runtime would unpack. The last condition keeps a runnable image from
// escaping the rules by carrying a subject or a cosign-like tag.
func isSignatureArtifact(ref string, m *oci.Manifest) bool {
	info, err := oci.ParseManifest(m.MediaType, m.Bytes)
	if err != nil || len(info.Manifests) > 0 || info.MediaType == oci.MediaTypeOCIIndex || info.MediaType == oci.MediaTypeDockerManifestList {
		return false
	}
	if !signature.IsCosignTag(ref) && info.Subject == nil {
		return false
	}
	for _, b := range info.Blobs {
		if isRunnableLayer(b.MediaType) {
			return false
		}
	}
	return true
}

// isRunnableLayer says whether a runtime would unpack a layer of this
// media type into a container's filesystem (or run it, for wasm).
func isRunnableLayer(mt string) bool {
	return strings.Contains(mt, ".image.layer.") || strings.Contains(mt, ".image.rootfs.") || strings.Contains(mt, "wasm") ||
		mt == "" || mt == "application/octet-stream"
}

// ociRepo is r as a client would name it to this node.
func (r repository) ociRepo() oci.Repo {
	if r.mirrored() {
		return oci.Repo{Name: r.path, NS: r.rule}
	}
	return oci.Repo{Name: r.key}
}

// signatureSource reads signatures through the node's own registry, so
// they come from the store, peers or upstream like any content, and are
// stored (mirrored) along with the image.
type signatureSource struct {
	n    *Node
	repo oci.Repo
}

func (s signatureSource) Manifest(ctx context.Context, ref string) ([]byte, error) {
	m, err := registry{s.n}.GetManifest(ctx, s.repo, ref)
	if err != nil {
		return nil, sourceErr(err)
	}
	return m.Bytes, nil
}

func (s signatureSource) Blob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	b, err := registry{s.n}.GetBlob(ctx, s.repo, d)
	if err != nil {
		return nil, sourceErr(err)
	}
	return blobReadCloser{b}, nil
}

func (s signatureSource) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	descs, err := registry{s.n}.Referrers(ctx, s.repo, d)
	return descs, sourceErr(err)
}

// sourceErr turns the registry's not-found answers into
// signature.ErrNotFound.
func sourceErr(err error) error {
	var oe *oci.Error
	if err == nil {
		return nil
	}
	if errors.As(err, &oe) && oe.Status == http.StatusNotFound {
		return fmt.Errorf("%w: %v", signature.ErrNotFound, err)
	}
	return err
}

type blobReadCloser struct{ b *oci.Blob }

func (r blobReadCloser) Read(p []byte) (int, error) { return r.b.Content.Read(p) }
func (r blobReadCloser) Close() error               { return r.b.Close() }

// signatureGate is GetManifest's hook: it passes m and err on, unless m
// was resolved and the signature rules refuse it.
func (n *Node) signatureGate(ctx context.Context, r repository, ref string, m *oci.Manifest, err error) (*oci.Manifest, error) {
	if err != nil || m == nil {
		return m, err
	}
	if err := n.checkSignatures(ctx, r, ref, m); err != nil {
		return nil, err
	}
	return m, nil
}
