package gate

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/ocitest"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/signature"
	"github.com/shoal-dev/shoal/signature/signaturetest"
)

// fakeReports is the node's scanning as the scan gate sees it.
type fakeReports struct {
	mu      sync.Mutex
	reports map[digest.Digest]*scan.Report
	trusted []digest.Digest
	missing []string // "<repo key> <digest> <media type>"
}

func (r *fakeReports) Trusted(d digest.Digest) *scan.Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.trusted = append(r.trusted, d)
	return r.reports[d]
}

func (r *fakeReports) Missing(repo repository.Name, d digest.Digest, info *oci.ManifestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.missing = append(r.missing, repo.Key()+" "+d.String()+" "+info.MediaType)
}

// scanFixture is a repository holding images and the artifacts about
// them.
type scanFixture struct {
	src  *memSource
	repo repository.Name
	refs map[string]string // what a case names -> the ref a client asks for
}

func newScanFixture(t *testing.T) *scanFixture {
	t.Helper()
	f := &scanFixture{src: newMemSource(), repo: repository.Mirror("docker.io", "library/app"), refs: map[string]string{}}
	s, repo := f.src, f.repo

	img := s.putImage(t, repo, "v1")
	f.refs["image"] = "v1"
	f.refs["image by digest"] = img.Digest.String()

	dcfg := s.putBlob([]byte(`{"architecture":"arm64","os":"linux"}`))
	dcfg.MediaType = "application/vnd.docker.container.image.v1+json"
	dlayer := s.putBlob([]byte("docker layer"))
	dlayer.MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	dm := imageManifest(t, ocispec.Manifest{Config: dcfg, Layers: []ocispec.Descriptor{dlayer}})
	dm = []byte(strings.Replace(string(dm), ocispec.MediaTypeImageManifest, oci.MediaTypeDockerManifest, 1))
	s.putManifest(repo, oci.MediaTypeDockerManifest, dm, "docker")
	f.refs["docker image"] = "docker"

	s.putManifest(repo, oci.MediaTypeOCIIndex, indexManifest(t, oci.MediaTypeOCIIndex, img), "multi")
	f.refs["index"] = "multi"
	s.putManifest(repo, oci.MediaTypeDockerManifestList, indexManifest(t, oci.MediaTypeDockerManifestList, img), "list")
	f.refs["manifest list"] = "list"

	// A sigstore bundle about the image: a referrer, asked for by digest.
	bundle := s.putBlob([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	bundle.MediaType = signature.MediaTypeBundle
	ref := s.putManifest(repo, ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.Manifest{
		ArtifactType: signature.MediaTypeBundle, Config: emptyConfig, Layers: []ocispec.Descriptor{bundle}, Subject: &img,
	}))
	f.refs["referrer"] = ref.Digest.String()

	// A legacy cosign signature under the image's .sig tag.
	payload := s.putBlob(simpleSigningPayload(img.Digest))
	payload.MediaType = signature.MediaTypeSimpleSigning
	payload.Annotations = map[string]string{signature.AnnotationSignature: "c2lnbmF0dXJl"}
	s.putManifest(repo, ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.Manifest{Config: emptyConfig, Layers: []ocispec.Descriptor{payload}}), signature.SignatureTag(img.Digest))
	f.refs["cosign tag"] = signature.SignatureTag(img.Digest)

	// An SBOM with no subject: an artifact, not an image.
	sbom := s.putBlob([]byte(`{"spdxVersion":"SPDX-2.3"}`))
	sbom.MediaType = "application/spdx+json"
	s.putManifest(repo, ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.Manifest{
		ArtifactType: "application/spdx+json", Config: emptyConfig, Layers: []ocispec.Descriptor{sbom},
	}), "sbom")
	f.refs["sbom"] = "sbom"

	// Runnable images dressed as artifacts are still images.
	layer := s.putBlob([]byte("runnable layer"))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	cfg := s.putBlob([]byte(`{"architecture":"amd64","os":"linux"}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	s.putManifest(repo, ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.Manifest{
		Config: cfg, Layers: []ocispec.Descriptor{layer}, Subject: &img,
	}), "subjected")
	f.refs["runnable with subject"] = "subjected"
	disguise := signature.SignatureTag(digest.FromString("another image"))
	s.putImage(t, repo, disguise)
	f.refs["runnable under cosign tag"] = disguise
	return f
}

// simpleSigningPayload is a cosign payload naming image.
func simpleSigningPayload(image digest.Digest) []byte {
	return signaturetest.SimpleSigning("registry.example/app", image)
}

func TestScans(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	const scanner = "12D3KooWScanner"
	var (
		high     = scan.Finding{ID: "CVE-2024-0001", Aliases: []string{"GHSA-aaaa"}, Package: "openssl", Installed: "3.0.1", Fixed: "3.0.2", Severity: scan.SeverityHigh}
		highNone = scan.Finding{ID: "CVE-2024-0002", Package: "zlib", Installed: "1.2", Severity: scan.SeverityHigh}
		medium   = scan.Finding{ID: "CVE-2024-0003", Package: "curl", Installed: "8.0", Fixed: "8.1", Severity: scan.SeverityMedium}
		critical = scan.Finding{ID: "CVE-2024-0004", Package: "glibc", Installed: "2.36", Fixed: "2.37", Severity: scan.SeverityCritical}
		unknown  = scan.Finding{ID: "GO-2024-0005", Package: "golang.org/x/net", Installed: "v0.1.0", Severity: scan.SeverityUnknown}
		unrated  = scan.Finding{ID: "GO-2024-0006", Package: "golang.org/x/text", Installed: "v0.3.0", Fixed: "v0.3.8"}
		report   = func(fs ...scan.Finding) *scan.Report { return &scan.Report{Scanner: scanner, Findings: fs} }
		gate     = func(severity string) policy.ScanGate {
			return policy.ScanGate{Repositories: []string{"docker.io/library/*"}, Severity: severity}
		}
		missing = func(mode string) policy.ScanGate {
			return policy.ScanGate{Repositories: []string{"docker.io/**"}, Severity: "CRITICAL", Missing: mode}
		}
		allow = func(g policy.ScanGate, id string, expires time.Time) policy.ScanGate {
			g.Allow = append(g.Allow, policy.AllowedFinding{ID: id, Expires: expires})
			return g
		}
		fixable = func(g policy.ScanGate) policy.ScanGate { g.FixableOnly = true; return g }
	)
	// refused is the detail of a refusal for finding f by the gate named
	// gate (the digest is added per case).
	refused := func(gate string, f scan.Finding, severity string) map[string]string {
		return map[string]string{"gate": gate, "finding": f.ID, "package": f.Package, "severity": severity, "scanner": scanner}
	}
	noReport := func(gate string) map[string]string { return map[string]string{"gate": gate, "reason": "no report"} }

	tests := []struct {
		name   string
		ref    string // a key of scanFixture.refs
		gates  []policy.ScanGate
		report *scan.Report // the trusted report on the manifest asked for
		// detail is the refusal's detail without the digest; nil when
		// the manifest is served.
		detail  map[string]string
		message []string
		// missing says whether scanning is told the image has no report.
		missing bool
		// asked says whether a trusted report is looked for.
		asked bool
	}{
		{name: "no gates", ref: "image"},
		{name: "no gates, even with findings", ref: "image", report: report(critical)},

		{name: "index not gated", ref: "index", gates: []policy.ScanGate{missing("deny")}},
		{name: "manifest list not gated", ref: "manifest list", gates: []policy.ScanGate{missing("deny")}},
		{name: "referrer artifact not gated", ref: "referrer", gates: []policy.ScanGate{missing("deny")}},
		{name: "cosign tag not gated", ref: "cosign tag", gates: []policy.ScanGate{missing("deny")}},
		{name: "non-image artifact not gated", ref: "sbom", gates: []policy.ScanGate{missing("deny")}},
		{name: "runnable image with a subject is gated", ref: "runnable with subject", gates: []policy.ScanGate{missing("deny")},
			detail: noReport("docker.io/**"), missing: true, asked: true},
		{name: "runnable image under a cosign tag is gated", ref: "runnable under cosign tag", gates: []policy.ScanGate{missing("deny")},
			detail: noReport("docker.io/**"), missing: true, asked: true},

		{name: "no report, missing deny", ref: "image", gates: []policy.ScanGate{missing("deny")},
			detail: noReport("docker.io/**"), message: []string{`scan gate "docker.io/**"`, "no trusted scan report"}, missing: true, asked: true},
		{name: "no report by digest, missing deny", ref: "image by digest", gates: []policy.ScanGate{missing("deny")},
			detail: noReport("docker.io/**"), missing: true, asked: true},
		{name: "no report, missing warn", ref: "image", gates: []policy.ScanGate{missing("warn")}, missing: true, asked: true},
		{name: "no report, missing allow", ref: "image", gates: []policy.ScanGate{missing("allow")}, missing: true, asked: true},
		{name: "no report, missing unset", ref: "image", gates: []policy.ScanGate{missing("")}, missing: true, asked: true},
		{name: "no report, a later gate denies", ref: "image", gates: []policy.ScanGate{missing("warn"), {Repositories: []string{"docker.io/library/app", "prod/**"}, Missing: "deny"}},
			detail: noReport("docker.io/library/app,prod/**"), missing: true, asked: true},

		{name: "HIGH finding, HIGH gate", ref: "image", gates: []policy.ScanGate{gate("HIGH")}, report: report(high, medium),
			detail:  refused("docker.io/library/*", high, "HIGH"),
			message: []string{`scan gate "docker.io/library/*" refuses HIGH and above`, "has CVE-2024-0001 in openssl 3.0.1 (HIGH, fixed in 3.0.2)"}, asked: true},
		{name: "gate severity in lower case", ref: "image", gates: []policy.ScanGate{gate("high")}, report: report(high),
			detail: refused("docker.io/library/*", high, "HIGH"), message: []string{"refuses HIGH and above"}, asked: true},
		{name: "HIGH finding without a fix", ref: "image", gates: []policy.ScanGate{gate("HIGH")}, report: report(highNone),
			detail: refused("docker.io/library/*", highNone, "HIGH"), message: []string{"(HIGH, no fix known)"}, asked: true},
		{name: "Docker image gated", ref: "docker image", gates: []policy.ScanGate{gate("HIGH")}, report: report(high),
			detail: refused("docker.io/library/*", high, "HIGH"), asked: true},
		{name: "MEDIUM gate refuses HIGH", ref: "image", gates: []policy.ScanGate{gate("MEDIUM")}, report: report(high),
			detail: refused("docker.io/library/*", high, "HIGH"), asked: true},
		{name: "CRITICAL gate lets HIGH through", ref: "image", gates: []policy.ScanGate{gate("CRITICAL")}, report: report(high, medium), asked: true},
		{name: "clean report", ref: "image", gates: []policy.ScanGate{gate("LOW")}, report: report(), asked: true},
		{name: "worst finding named", ref: "image", gates: []policy.ScanGate{gate("LOW")}, report: report(medium, critical, high),
			detail: refused("docker.io/library/*", critical, "CRITICAL"), asked: true},
		{name: "a later gate refuses", ref: "image", gates: []policy.ScanGate{gate("CRITICAL"), {Repositories: []string{"docker.io/**"}, Severity: "MEDIUM"}}, report: report(medium),
			detail: refused("docker.io/**", medium, "MEDIUM"), asked: true},

		{name: "fixable only, no fix", ref: "image", gates: []policy.ScanGate{fixable(gate("HIGH"))}, report: report(highNone), asked: true},
		{name: "fixable only, fixed", ref: "image", gates: []policy.ScanGate{fixable(gate("HIGH"))}, report: report(highNone, high),
			detail: refused("docker.io/library/*", high, "HIGH"), asked: true},

		{name: "allowed by ID", ref: "image", gates: []policy.ScanGate{allow(gate("HIGH"), "CVE-2024-0001", now.Add(time.Hour))}, report: report(high), asked: true},
		{name: "allowed by alias", ref: "image", gates: []policy.ScanGate{allow(gate("HIGH"), "GHSA-aaaa", now.Add(time.Hour))}, report: report(high), asked: true},
		{name: "allow entry expired", ref: "image", gates: []policy.ScanGate{allow(gate("HIGH"), "CVE-2024-0001", now.Add(-time.Hour))}, report: report(high),
			detail: refused("docker.io/library/*", high, "HIGH"), asked: true},
		{name: "allow entry expiring now", ref: "image", gates: []policy.ScanGate{allow(gate("HIGH"), "CVE-2024-0001", now)}, report: report(high),
			detail: refused("docker.io/library/*", high, "HIGH"), asked: true},
		{name: "allowing one finding leaves the next", ref: "image", gates: []policy.ScanGate{allow(gate("HIGH"), "CVE-2024-0001", now.Add(time.Hour))}, report: report(high, highNone),
			detail: refused("docker.io/library/*", highNone, "HIGH"), asked: true},

		{name: "UNKNOWN counts as LOW", ref: "image", gates: []policy.ScanGate{gate("LOW")}, report: report(unknown),
			detail: refused("docker.io/library/*", unknown, "UNKNOWN"), message: []string{"(UNKNOWN, no fix known)"}, asked: true},
		{name: "unrated counts as LOW", ref: "image", gates: []policy.ScanGate{gate("LOW")}, report: report(unrated),
			detail: refused("docker.io/library/*", unrated, "UNKNOWN"), message: []string{"(UNKNOWN, fixed in v0.3.8)"}, asked: true},
		{name: "UNKNOWN under a MEDIUM gate", ref: "image", gates: []policy.ScanGate{gate("MEDIUM")}, report: report(unknown, unrated), asked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newScanFixture(t)
			ref := f.refs[tt.ref]
			if ref == "" {
				t.Fatalf("no %q in the fixture", tt.ref)
			}
			ctx := context.Background()
			want, err := f.src.Manifest(ctx, f.repo, ref)
			if err != nil {
				t.Fatal(err)
			}
			reports := &fakeReports{reports: map[digest.Digest]*scan.Report{}}
			if tt.report != nil {
				reports.reports[want.Digest] = tt.report
			}
			var gatesAsked []string
			s := Scans{
				Source: f.src,
				Gates: func(repo string) []policy.ScanGate {
					gatesAsked = append(gatesAsked, repo)
					return tt.gates
				},
				Reports: reports,
				Now:     func() time.Time { return now },
				Log:     slog.New(slog.DiscardHandler),
			}

			m, err := s.Manifest(ctx, f.repo, ref)
			if tt.detail == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if m.Digest != want.Digest || string(m.Bytes) != string(want.Bytes) {
					t.Errorf("served %s, want %s", m.Digest, want.Digest)
				}
			} else {
				if m != nil {
					t.Errorf("a refused manifest was returned too: %s", m.Digest)
				}
				oe := ocitest.WantError(t, err, 403, "DENIED")
				detail := map[string]string{"digest": want.Digest.String()}
				for k, v := range tt.detail {
					detail[k] = v
				}
				wantDetail(t, oe, detail)
				for _, s := range append(tt.message, want.Digest.String()) {
					if !strings.Contains(oe.Message, s) {
						t.Errorf("message %q does not say %q", oe.Message, s)
					}
				}
			}
			if len(gatesAsked) != 1 || gatesAsked[0] != "docker.io/library/app" {
				t.Errorf("gates asked for %q, want the repository's key once", gatesAsked)
			}
			wantMissing := []string(nil)
			if tt.missing {
				wantMissing = []string{"docker.io/library/app " + want.Digest.String() + " " + want.MediaType}
			}
			if strings.Join(reports.missing, "|") != strings.Join(wantMissing, "|") {
				t.Errorf("Missing told %q, want %q", reports.missing, wantMissing)
			}
			if asked := len(reports.trusted) > 0; asked != tt.asked || len(reports.trusted) > 1 {
				t.Errorf("trusted reports looked for: %v; want once: %v", reports.trusted, tt.asked)
			}
		})
	}
}

// What the next source refuses is passed on as it is, ungated; the
// other reads are the next source's.
func TestScansPassesOn(t *testing.T) {
	f := newScanFixture(t)
	reports := &fakeReports{}
	s := Scans{
		Source: f.src,
		Gates: func(string) []policy.ScanGate {
			return []policy.ScanGate{{Repositories: []string{"**"}, Missing: "deny"}}
		},
		Reports: reports,
		Now:     time.Now,
		Log:     slog.New(slog.DiscardHandler),
	}
	ctx := context.Background()
	_, err := s.Manifest(ctx, f.repo, "no-such-tag")
	if !errors.Is(err, pull.ErrNotFound) {
		t.Errorf("err = %v, want the source's not-found", err)
	}
	ocitest.WantError(t, err, 404, "MANIFEST_UNKNOWN")
	boom := errors.New("connection reset")
	f.src.failing(boom, nil)
	if _, err := s.Manifest(ctx, f.repo, "v1"); err != boom {
		t.Errorf("err = %v, want %v", err, boom)
	}
	f.src.failing(nil, nil)
	if len(reports.trusted) != 0 || len(reports.missing) != 0 {
		t.Errorf("reports consulted for a failed read: %v %v", reports.trusted, reports.missing)
	}

	// Blobs, tags and referrers are not gated.
	img, err := f.src.Manifest(ctx, f.repo, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if tags, err := s.Tags(ctx, f.repo); err != nil || len(tags) == 0 {
		t.Errorf("tags: %q, %v", tags, err)
	}
	if refs, err := s.Referrers(ctx, f.repo, img.Digest); err != nil || len(refs) != 0 {
		t.Errorf("referrers: %v, %v", refs, err)
	}
	cfg := digest.FromBytes([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`))
	if size, err := s.StatBlob(ctx, f.repo, cfg); err != nil || size == 0 {
		t.Errorf("stat: %d, %v", size, err)
	}
	b, err := s.Blob(ctx, f.repo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, b)
}

func TestGateRefuses(t *testing.T) {
	now := time.Now()
	r := &scan.Report{Findings: []scan.Finding{
		{ID: "A", Severity: scan.SeverityMedium, Fixed: "2"},
		{ID: "B", Severity: scan.SeverityHigh},
		{ID: "C", Severity: scan.SeverityUnknown, Fixed: "1"},
		{ID: "D", Aliases: []string{"CVE-1"}, Severity: scan.SeverityCritical, Fixed: "3"},
	}}
	for _, tc := range []struct {
		name string
		g    policy.ScanGate
		want string
	}{
		{"critical", policy.ScanGate{Severity: "CRITICAL"}, "D"},
		{"allowed by alias", policy.ScanGate{Severity: "CRITICAL", Allow: []policy.AllowedFinding{{ID: "CVE-1", Expires: now.Add(time.Hour)}}}, ""},
		{"allow expired", policy.ScanGate{Severity: "CRITICAL", Allow: []policy.AllowedFinding{{ID: "D", Expires: now.Add(-time.Hour)}}}, "D"},
		{"high after allowing D", policy.ScanGate{Severity: "HIGH", Allow: []policy.AllowedFinding{{ID: "D", Expires: now.Add(time.Hour)}}}, "B"},
		{"fixable only", policy.ScanGate{Severity: "HIGH", FixableOnly: true, Allow: []policy.AllowedFinding{{ID: "D", Expires: now.Add(time.Hour)}}}, ""},
		{"unknown counts as low", policy.ScanGate{Severity: "LOW", FixableOnly: true, Allow: []policy.AllowedFinding{{ID: "D", Expires: now.Add(time.Hour)}, {ID: "A", Expires: now.Add(time.Hour)}}}, "C"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := GateRefuses(tc.g, r, now)
			if (tc.want == "") != !ok || f.ID != tc.want {
				t.Errorf("GateRefuses = %q, %v; want %q", f.ID, ok, tc.want)
			}
		})
	}
	tie := &scan.Report{Findings: []scan.Finding{
		{ID: "Z", Severity: scan.SeverityLow},
		{ID: "Y", Severity: scan.SeverityUnknown},
	}}
	if f, ok := GateRefuses(policy.ScanGate{Severity: "LOW"}, tie, now); !ok || f.ID != "Y" {
		t.Errorf("UNKNOWN and LOW tie: GateRefuses = %q, %v; want Y, the lower ID", f.ID, ok)
	}
}
