package gate

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
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

// Signatures serves an image manifest only when the signature rules of
// the policy in force for its repository are met: a failing enforce rule
// refuses it with DENIED naming the rule; a failing warn rule is logged
// and counted, and the manifest is served. Signature artifacts
// themselves (a cosign .sig/.att/.sbom tag, or a referrer) are not
// checked.
type Signatures struct {
	pull.Source
	// Rules are the signature rules that apply to a repository (by key)
	// now.
	Rules func(repo string) []policy.SignatureRule
	// Fetch reads signatures: the ungated source, so they come from the
	// store, peers or upstream like any content and are mirrored along
	// with the image.
	Fetch pull.Source
	Log   *slog.Logger

	failures *prometheus.CounterVec
	flight   singleflight.Group
	now      func() time.Time

	mu       sync.Mutex
	verdicts map[string]signatureVerdict // by repository, digest and key set
	checks   map[string]SignatureCheck   // the last per repository and digest (signature_checks.go)
	keys     map[string][]crypto.PublicKey
}

type signatureVerdict struct {
	res     signature.Result
	expires time.Time
}

// NewSignatures gates next with rules, reading signatures through fetch,
// and registers its metric on reg (nil for none).
func NewSignatures(next, fetch pull.Source, rules func(repo string) []policy.SignatureRule, reg prometheus.Registerer, log *slog.Logger) (*Signatures, error) {
	s := &Signatures{
		Source: next, Rules: rules, Fetch: fetch, Log: log,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_signature_failures_total",
			Help: "Manifest requests whose image signature check failed, by the rule's mode (enforce: refused; warn: served).",
		}, []string{"mode"}),
		now:      time.Now,
		verdicts: map[string]signatureVerdict{},
		keys:     map[string][]crypto.PublicKey{},
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.failures.WithLabelValues("enforce")
	s.failures.WithLabelValues("warn")
	if reg != nil {
		if err := reg.Register(s.failures); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Manifest is the next source's manifest, if the rules let it through.
func (s *Signatures) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	m, err := s.Source.Manifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx, repo, ref, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Signatures) check(ctx context.Context, repo repository.Name, ref string, m *oci.Manifest) error {
	rules := s.Rules(repo.Key())
	if len(rules) == 0 || IsSignatureArtifact(ref, m) {
		return nil
	}
	out := newOutcome(repo, m.Digest, s.now())
	for _, rule := range rules {
		res, err := s.verify(ctx, repo, m.Digest, rule)
		name := strings.Join(rule.Repositories, ",")
		if err == nil && res.Verified {
			out.met(name, res)
			continue
		}
		s.failures.WithLabelValues(rule.Mode).Inc()
		why := res.String()
		if err != nil {
			why = "the signatures could not be fetched: " + err.Error()
		}
		out.failed(name, rule.Mode, why, res, err)
		if rule.Mode == "warn" {
			s.Log.Warn("image signature check failed; serving it as signature rule is in warn mode",
				"repository", repo, "digest", m.Digest, "rule", name, "reason", why)
			continue
		}
		s.Log.Warn("image refused: signature check failed", "repository", repo, "digest", m.Digest, "rule", name, "reason", why)
		s.record(out.result())
		detail := map[string]string{"rule": name, "digest": m.Digest.String(), "reason": why}
		if err != nil {
			// A transient failure: the client may retry.
			return oci.ErrUnavailable.WithMessage("signature rule %q: the signatures of %s could not be fetched to check them", name, m.Digest).With(detail)
		}
		return oci.ErrDenied.WithMessage("signature rule %q requires a signature by a trusted key: %s", name, why).With(detail)
	}
	s.record(out.result())
	return nil
}

// verify checks image d of repo against one rule's keys, reusing a
// recent answer. Concurrent checks of one image share one verification.
func (s *Signatures) verify(ctx context.Context, repo repository.Name, d digest.Digest, rule policy.SignatureRule) (signature.Result, error) {
	keysID := keySetID(rule.Keys)
	cacheKey := repo.Key() + "\x00" + d.String() + "\x00" + keysID
	s.mu.Lock()
	v, ok := s.verdicts[cacheKey]
	s.mu.Unlock()
	if ok && s.now().Before(v.expires) {
		return v.res, nil
	}
	keys, err := s.parsedKeys(keysID, rule.Keys)
	if err != nil {
		// The policy package validated these keys; failing closed anyway.
		return signature.Result{Reason: signature.ReasonMalformed, Detail: "the rule's keys: " + err.Error()}, nil
	}
	out, err, _ := s.flight.Do(cacheKey, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pull.UpstreamTimeout)
		defer cancel()
		return signature.Verify(ctx, signatureSource{src: s.Fetch, repo: repo}, d, keys)
	})
	if err != nil {
		return signature.Result{}, err
	}
	res := out.(signature.Result)
	ttl := signatureUnverifiedTTL
	if res.Verified {
		ttl = signatureVerifiedTTL
	}
	s.remember(cacheKey, signatureVerdict{res: res, expires: s.now().Add(ttl)})
	return res, nil
}

func (s *Signatures) remember(key string, v signatureVerdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.verdicts) >= maxSignatureVerdicts {
		now := s.now()
		for k, old := range s.verdicts {
			if !now.Before(old.expires) {
				delete(s.verdicts, k)
			}
		}
		if len(s.verdicts) >= maxSignatureVerdicts {
			clear(s.verdicts)
		}
	}
	s.verdicts[key] = v
}

func (s *Signatures) parsedKeys(id string, pems []string) ([]crypto.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if keys, ok := s.keys[id]; ok {
		return keys, nil
	}
	keys, err := signature.ParsePublicKeys(pems)
	if err != nil {
		return nil, err
	}
	if len(s.keys) >= 256 {
		clear(s.keys)
	}
	s.keys[id] = keys
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

// IsSignatureArtifact says whether m, requested as ref, is a signature or
// other artifact about an image rather than an image: a cosign companion
// tag (.sig, .att, .sbom) or a referrer (it has a subject), with no layer
// a runtime would unpack. The last condition keeps a runnable image from
// escaping the rules by carrying a subject or a cosign-like tag.
func IsSignatureArtifact(ref string, m *oci.Manifest) bool {
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

// signatureSource is a pull.Source seen as signature.Source.
type signatureSource struct {
	src  pull.Source
	repo repository.Name
}

func (s signatureSource) Manifest(ctx context.Context, ref string) ([]byte, error) {
	m, err := s.src.Manifest(ctx, s.repo, ref)
	if err != nil {
		return nil, sourceErr(err)
	}
	return m.Bytes, nil
}

func (s signatureSource) Blob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	b, err := s.src.Blob(ctx, s.repo, d)
	if err != nil {
		return nil, sourceErr(err)
	}
	return BlobReader(b), nil
}

func (s signatureSource) Referrers(ctx context.Context, d digest.Digest) ([]ocispec.Descriptor, error) {
	descs, err := s.src.Referrers(ctx, s.repo, d)
	return descs, sourceErr(err)
}

// sourceErr tells signature.Verify which answers mean "there is no such
// signature".
func sourceErr(err error) error {
	if err != nil && errors.Is(err, pull.ErrNotFound) {
		return fmt.Errorf("%w: %w", signature.ErrNotFound, err)
	}
	return err
}

// BlobReader reads and closes an opened blob.
func BlobReader(b *oci.Blob) io.ReadCloser { return blobReadCloser{b} }

type blobReadCloser struct{ b *oci.Blob }

func (r blobReadCloser) Read(p []byte) (int, error) { return r.b.Content.Read(p) }
func (r blobReadCloser) Close() error               { return r.b.Close() }
