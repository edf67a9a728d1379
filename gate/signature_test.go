package gate

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/ocitest"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/signature"
	"github.com/shoal-dev/shoal/signature/signaturetest"
)

// signTag stores a legacy cosign signature by by under image's .sig tag
// in repo, its simple-signing payload naming names (image when "").
func (s *memSource) signTag(t *testing.T, repo repository.Name, image, names digest.Digest, by signaturetest.Signer) {
	t.Helper()
	if names == "" {
		names = image
	}
	payload := simpleSigningPayload(names)
	l := s.putBlob(payload)
	l.MediaType = signature.MediaTypeSimpleSigning
	l.Annotations = map[string]string{signature.AnnotationSignature: base64.StdEncoding.EncodeToString(by.Sign(payload))}
	s.putBlob([]byte("{}"))
	s.putManifest(repo, ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.Manifest{Config: emptyConfig, Layers: []ocispec.Descriptor{l}}), signature.SignatureTag(image))
}

// signBundle stores a cosign v3 signature of subject by by in repo: a
// referrer holding a sigstore bundle with a DSSE envelope.
func (s *memSource) signBundle(t *testing.T, repo repository.Name, subject ocispec.Descriptor, by signaturetest.Signer) {
	t.Helper()
	bundle := signaturetest.Bundle(t, "registry.example/app", subject.Digest, by)
	l := s.putBlob(bundle)
	l.MediaType = signature.MediaTypeBundle
	s.putBlob([]byte("{}"))
	desc := s.putManifest(repo, ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.Manifest{
		ArtifactType: signature.MediaTypeBundle, Config: emptyConfig, Layers: []ocispec.Descriptor{l}, Subject: &subject,
	}))
	desc.ArtifactType = signature.MediaTypeBundle
	s.addReferrer(repo, subject.Digest, desc)
}

// sigEnv is a Signatures gate over an in-memory source, read through two
// recorders: next (what the client's request reads) and fetch (what
// the signature checks read).
type sigEnv struct {
	src         *memSource
	next, fetch *recorder
	reg         *prometheus.Registry
	s           *Signatures

	mu    sync.Mutex
	rules []policy.SignatureRule
	clock time.Time
}

func newSigEnv(t *testing.T, rules ...policy.SignatureRule) *sigEnv {
	t.Helper()
	e := &sigEnv{src: newMemSource(), reg: prometheus.NewRegistry(), rules: rules, clock: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	e.next, e.fetch = &recorder{Next: e.src}, &recorder{Next: e.src}
	// The rules come from a policy, as the node's do.
	rulesOf := func(repo string) []policy.SignatureRule {
		e.mu.Lock()
		defer e.mu.Unlock()
		return (&policy.Policy{Document: &policy.Document{Signatures: e.rules}}).SignatureRules(repo)
	}
	s, err := NewSignatures(e.next, e.fetch, rulesOf, e.reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.clock
	}
	e.s = s
	return e
}

func (e *sigEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock = e.clock.Add(d)
}

func (e *sigEnv) setRules(rules ...policy.SignatureRule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules = rules
}

// failures checks shoal_signature_failures_total as the registry gathers
// it. (prometheus/testutil would need github.com/kylelemons/godebug
// required in go.mod.)
func (e *sigEnv) failures(t *testing.T, enforce, warn int) {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "shoal_signature_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetCounter() == nil {
				t.Errorf("shoal_signature_failures_total is not a counter: %v", m)
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "mode" {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"enforce": float64(enforce), "warn": float64(warn)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("shoal_signature_failures_total by mode = %v, want %v", got, want)
	}
}

func TestSignatures(t *testing.T) {
	ec, ed, stranger := signaturetest.NewECDSA(t), signaturetest.NewEd25519(t), signaturetest.NewECDSA(t)
	rules := []policy.SignatureRule{
		{Repositories: []string{"signed/**"}, Mode: "enforce", Keys: []string{ec.PEM(t), ed.PEM(t)}},
		{Repositories: []string{"warned/**"}, Mode: "warn", Keys: []string{ec.PEM(t)}},
		{Repositories: []string{"double/**"}, Mode: "enforce", Keys: []string{ec.PEM(t)}},
		{Repositories: []string{"double/*", "other/**"}, Mode: "enforce", Keys: []string{ed.PEM(t)}},
		{Repositories: []string{"docker.io/library/*"}, Mode: "enforce", Keys: []string{ec.PEM(t)}},
	}
	var (
		signed    = repository.Local("signed/app")
		warned    = repository.Local("warned/app")
		double    = repository.Local("double/app")
		free      = repository.Local("free/app")
		mirrored  = repository.Mirror("docker.io", "alpine")
		disguised = signature.SignatureTag(digest.FromString("another image"))
	)
	type fixture struct {
		e   *sigEnv
		img ocispec.Descriptor // the image asked for
	}
	tests := []struct {
		name  string
		repo  repository.Name
		ref   func(f fixture) string // the image's tag when nil
		setup func(t *testing.T, f fixture)
		// status is 0 when the manifest is served; a refusal names rule.
		status  int
		rule    string
		message []string
		// enforce and warn are the failures counted.
		enforce, warn int
		// fetched says whether the check read signatures.
		fetched bool
	}{
		{name: "legacy signature, ECDSA", repo: signed, setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, signed, f.img.Digest, "", ec) }, fetched: true},
		{name: "legacy signature, ed25519", repo: signed, setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, signed, f.img.Digest, "", ed) }, fetched: true},
		{name: "legacy signature, by digest", repo: signed, ref: func(f fixture) string { return f.img.Digest.String() },
			setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, signed, f.img.Digest, "", ec) }, fetched: true},
		{name: "bundle referrer, ed25519", repo: signed, setup: func(t *testing.T, f fixture) { f.e.src.signBundle(t, signed, f.img, ed) }, fetched: true},
		{name: "bundle referrer, ECDSA", repo: signed, setup: func(t *testing.T, f fixture) { f.e.src.signBundle(t, signed, f.img, ec) }, fetched: true},
		{name: "the signature manifest itself", repo: signed, ref: func(f fixture) string { return signature.SignatureTag(f.img.Digest) },
			setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, signed, f.img.Digest, "", stranger) }},
		{name: "unsigned", repo: signed, status: 403, rule: "signed/**", message: []string{"no signature found"}, enforce: 1, fetched: true},
		{name: "signed by an unknown key", repo: signed, setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, signed, f.img.Digest, "", stranger) },
			status: 403, rule: "signed/**", message: []string{"not signed by a trusted key"}, enforce: 1, fetched: true},
		{name: "payload names another image", repo: signed, setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, signed, f.img.Digest, digest.FromString("x"), ec) },
			status: 403, rule: "signed/**", message: []string{"signature payload names another digest"}, enforce: 1, fetched: true},
		{name: "signed in another repository", repo: signed, setup: func(t *testing.T, f fixture) {
			f.e.src.putImage(t, repository.Local("signed/other"), "v1")
			f.e.src.signTag(t, repository.Local("signed/other"), f.img.Digest, "", ec)
		}, status: 403, rule: "signed/**", message: []string{"no signature found"}, enforce: 1, fetched: true},
		{name: "runnable image under a .sig tag", repo: signed, ref: func(fixture) string { return disguised }, status: 403, rule: "signed/**", enforce: 1, fetched: true},
		{name: "unsigned index", repo: signed, ref: func(fixture) string { return "multi" }, setup: func(t *testing.T, f fixture) {
			f.e.src.putManifest(signed, oci.MediaTypeOCIIndex, indexManifest(t, oci.MediaTypeOCIIndex, f.img), "multi")
		}, status: 403, rule: "signed/**", message: []string{"no signature found"}, enforce: 1, fetched: true},
		{name: "no rule", repo: free},
		{name: "warn rule, unsigned", repo: warned, warn: 1, fetched: true},
		{name: "warn rule, signed", repo: warned, setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, warned, f.img.Digest, "", ec) }, fetched: true},
		{name: "every rule must be met", repo: double, setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, double, f.img.Digest, "", ec) },
			status: 403, rule: "double/*,other/**", message: []string{"not signed by a trusted key"}, enforce: 1, fetched: true},
		{name: "every rule met", repo: double, setup: func(t *testing.T, f fixture) {
			f.e.src.signTag(t, double, f.img.Digest, "", ec)
			f.e.src.signBundle(t, double, f.img, ed)
		}, fetched: true},
		{name: "mirrored, by its key", repo: mirrored, status: 403, rule: "docker.io/library/*", enforce: 1, fetched: true},
		{name: "mirrored, signed", repo: mirrored, setup: func(t *testing.T, f fixture) { f.e.src.signTag(t, mirrored, f.img.Digest, "", ec) }, fetched: true},
	}
	// The check each case leaves on record for people (none: "").
	states := map[string]string{
		"legacy signature, ECDSA": SignatureVerified, "legacy signature, ed25519": SignatureVerified,
		"legacy signature, by digest": SignatureVerified, "bundle referrer, ed25519": SignatureVerified,
		"bundle referrer, ECDSA": SignatureVerified, "the signature manifest itself": "",
		"unsigned": SignatureUnsigned, "signed by an unknown key": SignatureFailed, "payload names another image": SignatureFailed,
		"signed in another repository": SignatureUnsigned, "runnable image under a .sig tag": SignatureUnsigned,
		"unsigned index": SignatureUnsigned, "no rule": "", "warn rule, unsigned": SignatureUnsigned,
		"warn rule, signed": SignatureVerified, "every rule must be met": SignatureFailed, "every rule met": SignatureVerified,
		"mirrored, by its key": SignatureUnsigned, "mirrored, signed": SignatureVerified,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantState, ok := states[tt.name]
			if !ok {
				t.Fatal("no state given for this case")
			}
			e := newSigEnv(t, rules...)
			f := fixture{e: e, img: e.src.putImage(t, tt.repo, "v1")}
			e.src.putImage(t, tt.repo, disguised)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			ref := "v1"
			if tt.ref != nil {
				ref = tt.ref(f)
			}
			want, err := e.src.Manifest(context.Background(), tt.repo, ref)
			if err != nil {
				t.Fatal(err)
			}

			m, err := e.s.Manifest(context.Background(), tt.repo, ref)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if m.Digest != want.Digest {
					t.Errorf("served %s, want %s", m.Digest, want.Digest)
				}
			} else {
				oe := ocitest.WantError(t, err, tt.status, "DENIED")
				for _, s := range append(tt.message, fmt.Sprintf("signature rule %q requires a signature by a trusted key: ", tt.rule)) {
					if !strings.Contains(oe.Message, s) {
						t.Errorf("message %q does not say %q", oe.Message, s)
					}
				}
				detail, _ := oe.Detail.(map[string]string)
				if detail["rule"] != tt.rule || detail["digest"] != want.Digest.String() || detail["reason"] == "" ||
					!strings.HasSuffix(oe.Message, ": "+detail["reason"]) || len(detail) != 3 {
					t.Errorf("detail = %v, want the rule %q, digest %s and the reason the message gives", oe.Detail, tt.rule, want.Digest)
				}
			}
			if got := e.next.Calls(); len(got) != 1 || got[0] != "Manifest "+tt.repo.Key()+" "+ref {
				t.Errorf("calls reaching next: %q", got)
			}
			if fetched := len(e.fetch.Calls()) > 0; fetched != tt.fetched {
				t.Errorf("signatures read: %q; want some: %v", e.fetch.Calls(), tt.fetched)
			}
			e.failures(t, tt.enforce, tt.warn)

			checks := e.s.Checks(want.Digest)
			if wantState == "" {
				if len(checks) != 0 {
					t.Errorf("checks recorded %+v, want none", checks)
				}
				return
			}
			if len(checks) != 1 {
				t.Fatalf("checks recorded %+v, want one", checks)
			}
			c := checks[0]
			if c.State != wantState || c.Repository != tt.repo.Key() || c.Digest != want.Digest || c.Rule == "" || c.Reason == "" || !c.At.Equal(e.clock) {
				t.Errorf("check recorded %+v, want state %s in %s", c, wantState, tt.repo.Key())
			}
			if tt.rule != "" && c.Rule != tt.rule {
				t.Errorf("check names rule %q, want %q", c.Rule, tt.rule)
			}
			if wantMode := map[bool]string{true: "", false: "enforce"}[wantState == SignatureVerified]; tt.warn > 0 {
				if c.Mode != "warn" {
					t.Errorf("check mode %q, want warn", c.Mode)
				}
			} else if c.Mode != wantMode {
				t.Errorf("check mode %q, want %q", c.Mode, wantMode)
			}
		})
	}
}

// A verdict is reused for a while: a refusal briefly, so that signing an
// image takes effect soon; a success longer. It is per repository, image
// and set of keys.
func TestSignatureVerdictCache(t *testing.T) {
	ec, ed := signaturetest.NewECDSA(t), signaturetest.NewEd25519(t)
	ecRule := policy.SignatureRule{Repositories: []string{"signed/**"}, Mode: "enforce", Keys: []string{ec.PEM(t)}}
	e := newSigEnv(t, ecRule)
	app, other := repository.Local("signed/app"), repository.Local("signed/other")
	img := e.src.putImage(t, app, "v1")
	ctx := context.Background()
	m, err := e.src.Manifest(ctx, app, "v1")
	if err != nil {
		t.Fatal(err)
	}
	e.src.putManifest(other, m.MediaType, m.Bytes, "v1")

	reads := 0 // signature reads so far
	step := func(name string, repo repository.Name, served, reread bool) {
		t.Helper()
		_, err := e.s.Manifest(ctx, repo, "v1")
		if served && err != nil {
			t.Fatalf("%s: refused: %v", name, err)
		}
		if !served {
			ocitest.WantError(t, err, 403, "DENIED")
		}
		n := e.fetch.count("Manifest")
		if (n > reads) != reread {
			t.Fatalf("%s: signature manifest reads %d -> %d; want a re-read: %v", name, reads, n, reread)
		}
		reads = n
	}

	step("unsigned", app, false, true)
	step("unsigned again", app, false, false)
	e.src.signTag(t, app, img.Digest, "", ec)
	e.advance(signatureUnverifiedTTL - time.Second)
	step("signed, within the refusal's TTL", app, false, false)
	e.advance(time.Second)
	step("signed, the refusal's TTL over", app, true, true)
	step("signed again", app, true, false)
	e.advance(signatureVerifiedTTL - time.Second)
	step("signed, within the success's TTL", app, true, false)
	step("the same image in another repository", other, false, true)
	e.setRules(policy.SignatureRule{Repositories: []string{"signed/**"}, Mode: "enforce", Keys: []string{ed.PEM(t)}})
	step("another key set", app, false, true)
	e.setRules(ecRule)
	step("the first key set again", app, true, false)
	e.advance(time.Second)
	step("the success's TTL over", app, true, true)

	// Every refused request counts, answered from the cache or not.
	e.failures(t, 5, 0)
}

// Signatures that cannot be read make the request fail as unavailable,
// for the client to retry, and that is not remembered. Not-found is no
// failure: the image is unsigned.
func TestSignatureFetchErrors(t *testing.T) {
	ec := signaturetest.NewECDSA(t)
	refused := errors.New("connection refused")
	notFound := fmt.Errorf("manifest: %w", pull.ErrNotFound)
	all := func(string, string) bool { return true }
	only := func(method string) func(string, string) bool {
		return func(m, _ string) bool { return m == method }
	}
	tests := []struct {
		name   string
		mode   string
		signed bool
		err    error
		fails  func(method, ref string) bool
		status int
		code   string
		// reason is what the detail's reason starts with.
		reason        string
		enforce, warn int
	}{
		{name: "network error", err: refused, fails: all, status: 503, code: "UNAVAILABLE", reason: "the signatures could not be fetched: connection refused", enforce: 1},
		{name: "upstream unavailable", err: oci.ErrUnavailable, fails: all, status: 503, code: "UNAVAILABLE", reason: "the signatures could not be fetched: UNAVAILABLE", enforce: 1},
		// The offline store lacking a signature is no proof there is none.
		{name: "policy expired", err: ErrPolicyExpired, fails: all, status: 503, code: "UNAVAILABLE", reason: "the signatures could not be fetched: DENIED", enforce: 1},
		{name: "referrers unavailable, no tag signature", err: refused, fails: only("Referrers"), status: 503, code: "UNAVAILABLE", reason: "the signatures could not be fetched", enforce: 1},
		{name: "signature blob unavailable", signed: true, err: refused, fails: only("Blob"), status: 503, code: "UNAVAILABLE", reason: "the signatures could not be fetched", enforce: 1},
		{name: "referrers unavailable, tag signature verifies", signed: true, err: refused, fails: only("Referrers")},
		{name: "not found", err: notFound, fails: all, status: 403, code: "DENIED", reason: "no signature found", enforce: 1},
		{name: "warn mode", mode: "warn", err: refused, fails: all, warn: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := tt.mode
			if mode == "" {
				mode = "enforce"
			}
			e := newSigEnv(t, policy.SignatureRule{Repositories: []string{"signed/**"}, Mode: mode, Keys: []string{ec.PEM(t)}})
			repo := repository.Local("signed/app")
			img := e.src.putImage(t, repo, "v1")
			if tt.signed {
				e.src.signTag(t, repo, img.Digest, "", ec)
			}
			// Only the signature reads fail: the image itself is read.
			fails := tt.fails
			e.src.failing(tt.err, func(method, ref string) bool { return ref != "v1" && fails(method, ref) })

			_, err := e.s.Manifest(context.Background(), repo, "v1")
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				oe := ocitest.WantError(t, err, tt.status, tt.code)
				if !strings.Contains(oe.Message, `"signed/**"`) {
					t.Errorf("message %q does not name the rule", oe.Message)
				}
				detail, _ := oe.Detail.(map[string]string)
				if !strings.HasPrefix(detail["reason"], tt.reason) || detail["rule"] != "signed/**" || detail["digest"] != img.Digest.String() {
					t.Errorf("detail = %v, want reason %q...", oe.Detail, tt.reason)
				}
			}
			e.failures(t, tt.enforce, tt.warn)
			// What people are shown: unavailable when the signatures
			// could not be read.
			wantState := map[bool]string{true: SignatureVerified, false: SignatureUnavailable}[tt.enforce+tt.warn == 0]
			if tt.err == notFound {
				wantState = SignatureUnsigned
			}
			if c := e.s.Checks(img.Digest); len(c) != 1 || c[0].State != wantState || c[0].Mode != map[bool]string{true: "", false: mode}[wantState == SignatureVerified] {
				t.Errorf("checks recorded %+v, want one %s", c, wantState)
			}

			// Once the signatures can be read, the answer is theirs at
			// once: a failure to read is not remembered.
			e.src.failing(nil, nil)
			e.src.signTag(t, repo, img.Digest, "", ec)
			if _, err := e.s.Manifest(context.Background(), repo, "v1"); (err != nil) != (tt.status == 403) {
				t.Errorf("after the source recovered: %v", err)
			}
		})
	}
}

// The next source's refusal is passed on, unchecked.
func TestSignaturesPassOnErrors(t *testing.T) {
	ec := signaturetest.NewECDSA(t)
	e := newSigEnv(t, policy.SignatureRule{Repositories: []string{"**"}, Mode: "enforce", Keys: []string{ec.PEM(t)}})
	_, err := e.s.Manifest(context.Background(), repository.Local("app"), "v1")
	if !errors.Is(err, pull.ErrNotFound) {
		t.Errorf("err = %v, want the source's not-found", err)
	}
	ocitest.WantError(t, err, 404, "MANIFEST_UNKNOWN")
	if len(e.fetch.Calls()) != 0 {
		t.Errorf("signatures read for a manifest not found: %q", e.fetch.Calls())
	}
	e.failures(t, 0, 0)
}

// Concurrent requests get the right answers (run with -race).
func TestSignaturesConcurrent(t *testing.T) {
	ec := signaturetest.NewECDSA(t)
	e := newSigEnv(t, policy.SignatureRule{Repositories: []string{"signed/**"}, Mode: "enforce", Keys: []string{ec.PEM(t)}})
	good, bad := repository.Local("signed/good"), repository.Local("signed/bad")
	img := e.src.putImage(t, good, "v1")
	e.src.signTag(t, good, img.Digest, "", ec)
	e.src.putImage(t, bad, "v1")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 16 {
		wg.Go(func() {
			repo := good
			if i%2 == 1 {
				repo = bad
			}
			_, err := e.s.Manifest(context.Background(), repo, "v1")
			if (err == nil) != (repo == good) {
				errs <- fmt.Errorf("%s: %v", repo, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.failures(t, 8, 0)
}

func TestNewSignaturesRegisters(t *testing.T) {
	reg := prometheus.NewRegistry()
	rules := func(string) []policy.SignatureRule { return nil }
	if _, err := NewSignatures(newMemSource(), newMemSource(), rules, reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSignatures(newMemSource(), newMemSource(), rules, reg, nil); err == nil {
		t.Error("a second gate registered the same metric on one registry")
	}
	if _, err := NewSignatures(newMemSource(), newMemSource(), rules, nil, nil); err != nil {
		t.Errorf("no registry: %v", err)
	}
}

// The verdicts kept are bounded: when full, the expired go first, and
// if none has expired, all.
func TestSignatureVerdictsBounded(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	fill := func(expired int) *Signatures {
		s := &Signatures{now: func() time.Time { return now }, verdicts: map[string]signatureVerdict{}}
		for i := range maxSignatureVerdicts {
			exp := now.Add(time.Minute)
			if i < expired {
				exp = now
			}
			s.verdicts[fmt.Sprint(i)] = signatureVerdict{expires: exp}
		}
		return s
	}
	s := fill(10)
	s.remember("new", signatureVerdict{expires: now.Add(time.Minute)})
	if _, ok := s.verdicts["new"]; !ok || len(s.verdicts) != maxSignatureVerdicts-10+1 {
		t.Errorf("%d verdicts kept, want the %d unexpired and the new one", len(s.verdicts), maxSignatureVerdicts-10)
	}
	if _, ok := s.verdicts["0"]; ok {
		t.Error("an expired verdict was kept")
	}
	s = fill(0)
	s.remember("new", signatureVerdict{expires: now.Add(time.Minute)})
	if _, ok := s.verdicts["new"]; !ok || len(s.verdicts) != 1 {
		t.Errorf("%d verdicts kept, want only the new one", len(s.verdicts))
	}
}

func TestIsSignatureArtifact(t *testing.T) {
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 100}
	layer := func(mediaType string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromString(mediaType), Size: 10}
	}
	manifest := func(subject *ocispec.Descriptor, layers ...ocispec.Descriptor) *oci.Manifest {
		b := imageManifest(t, ocispec.Manifest{Config: emptyConfig, Layers: layers, Subject: subject})
		return &oci.Manifest{Digest: digest.FromBytes(b), MediaType: ocispec.MediaTypeImageManifest, Bytes: b}
	}
	index := func(mediaType string, subject *ocispec.Descriptor) *oci.Manifest {
		b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mediaType, Manifests: []ocispec.Descriptor{img}, Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		return &oci.Manifest{Digest: digest.FromBytes(b), MediaType: mediaType, Bytes: b}
	}
	sigTag := signature.SignatureTag(img.Digest)
	tests := []struct {
		name string
		ref  string
		m    *oci.Manifest
		want bool
	}{
		{name: "referrer with a bundle layer", ref: "sha256:" + strings.Repeat("a", 64), m: manifest(&img, layer(signature.MediaTypeBundle)), want: true},
		{name: "referrer asked for by tag", ref: "v1", m: manifest(&img, layer("application/spdx+json")), want: true},
		{name: "referrer with no layers", ref: "v1", m: manifest(&img), want: true},
		{name: "cosign .sig tag", ref: sigTag, m: manifest(nil, layer(signature.MediaTypeSimpleSigning)), want: true},
		{name: "cosign .att tag", ref: strings.TrimSuffix(sigTag, ".sig") + ".att", m: manifest(nil, layer("application/vnd.dsse.envelope.v1+json")), want: true},
		{name: "cosign .sbom tag", ref: strings.TrimSuffix(sigTag, ".sig") + ".sbom", m: manifest(nil, layer("text/spdx")), want: true},
		{name: "sha512 cosign tag", ref: "sha512-" + strings.Repeat("b", 128) + ".sig", m: manifest(nil, layer(signature.MediaTypeSimpleSigning)), want: true},

		{name: "signature layers under a plain tag", ref: "v1", m: manifest(nil, layer(signature.MediaTypeSimpleSigning))},
		{name: "runnable layer with a subject", ref: "v1", m: manifest(&img, layer(ocispec.MediaTypeImageLayerGzip))},
		{name: "tar layer with a subject", ref: "v1", m: manifest(&img, layer(ocispec.MediaTypeImageLayer))},
		{name: "Docker layer with a subject", ref: "v1", m: manifest(&img, layer("application/vnd.docker.image.rootfs.diff.tar.gzip"))},
		{name: "wasm layer with a subject", ref: "v1", m: manifest(&img, layer("application/wasm"))},
		{name: "octet-stream layer with a subject", ref: "v1", m: manifest(&img, layer("application/octet-stream"))},
		{name: "untyped layer with a subject", ref: "v1", m: manifest(&img, layer(""))},
		{name: "signature and runnable layers", ref: sigTag, m: manifest(&img, layer(signature.MediaTypeSimpleSigning), layer(ocispec.MediaTypeImageLayerGzip))},
		{name: "runnable layer under a cosign tag", ref: sigTag, m: manifest(nil, layer(ocispec.MediaTypeImageLayerGzip))},
		{name: "index under a cosign tag", ref: sigTag, m: index(oci.MediaTypeOCIIndex, nil)},
		{name: "index with a subject", ref: "v1", m: index(oci.MediaTypeOCIIndex, &img)},
		{name: "Docker manifest list under a cosign tag", ref: sigTag, m: index(oci.MediaTypeDockerManifestList, nil)},
		{name: "not a manifest", ref: sigTag, m: &oci.Manifest{MediaType: ocispec.MediaTypeImageManifest, Bytes: []byte("not json")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsSignatureArtifact(tt.ref, tt.m); got != tt.want {
				t.Errorf("IsSignatureArtifact(%q) = %v, want %v", tt.ref, got, tt.want)
			}
		})
	}
}
