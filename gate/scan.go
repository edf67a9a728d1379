package gate

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
)

// Reports is what the scan gate asks of the node's scanning.
type Reports interface {
	// Trusted is the trusted, fresh report on image d; nil when none.
	Trusted(d digest.Digest) *scan.Report
	// Missing is told that image d of repo has no trusted report yet, so
	// that it can be scanned.
	Missing(repo repository.Name, d digest.Digest, info *oci.ManifestInfo)
}

// Scans keeps images whose trusted report has findings at or above a
// severity out of the repositories the policy's scanning.gates name. It
// applies to image manifests (a client pulling an index is gated on the
// platform manifest it then fetches); the artifacts about an image
// (signatures, SBOMs, scan reports) are not gated.
type Scans struct {
	pull.Source
	// Gates are the gates that apply to a repository (by key) now.
	Gates   func(repo string) []policy.ScanGate
	Reports Reports
	Now     func() time.Time
	Log     *slog.Logger
}

// Manifest is the next source's manifest, if no gate refuses it.
func (s Scans) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	m, err := s.Source.Manifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	if err := s.check(repo, ref, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (s Scans) check(repo repository.Name, ref string, m *oci.Manifest) error {
	gates := s.Gates(repo.Key())
	if len(gates) == 0 {
		return nil
	}
	switch m.MediaType {
	case oci.MediaTypeOCIIndex, oci.MediaTypeDockerManifestList:
		return nil
	}
	if IsSignatureArtifact(ref, m) {
		return nil
	}
	info, err := oci.ParseManifest(m.MediaType, m.Bytes)
	if err != nil || (info.ArtifactType != "" && !scan.IsImageConfig(info.ArtifactType)) {
		return nil // not an image
	}
	r := s.Reports.Trusted(m.Digest)
	if r == nil {
		s.Reports.Missing(repo, m.Digest, info)
	}
	for _, g := range gates {
		name := strings.Join(g.Repositories, ",")
		if r == nil {
			switch g.Missing {
			case "deny":
				s.Log.Warn("image refused: no trusted scan report yet", "repository", repo, "digest", m.Digest, "gate", name)
				return oci.ErrDenied.WithMessage("scan gate %q: no trusted scan report on %s yet; it is refused until one exists", name, m.Digest).
					With(map[string]string{"gate": name, "digest": m.Digest.String(), "reason": "no report"})
			case "warn":
				s.Log.Warn("serving an image with no trusted scan report yet", "repository", repo, "digest", m.Digest, "gate", name)
			}
			continue
		}
		if f, ok := GateRefuses(g, r, s.Now()); ok {
			s.Log.Warn("image refused by a scan gate", "repository", repo, "digest", m.Digest, "gate", name, "finding", f.ID, "package", f.Package, "severity", f.Severity)
			msg := "scan gate %q refuses %s and above: %s has %s in %s %s (%s)"
			fixed := "no fix known"
			if f.Fixed != "" {
				fixed = "fixed in " + f.Fixed
			}
			sev := f.Severity.Normal()
			return oci.ErrDenied.WithMessage(msg, name, strings.ToUpper(g.Severity), m.Digest, f.ID, f.Package, f.Installed, string(sev)+", "+fixed).
				With(map[string]string{"gate": name, "digest": m.Digest.String(), "finding": f.ID, "package": f.Package, "severity": string(sev), "scanner": r.Scanner})
		}
	}
	return nil
}

// GateRefuses finds the worst finding of r that gate g refuses at now:
// at or above its severity (UNKNOWN counting as LOW), fixable if it
// wants only those, and not allowed by an unexpired entry (by ID or
// alias).
func GateRefuses(g policy.ScanGate, r *scan.Report, now time.Time) (scan.Finding, bool) {
	min := scan.ParseSeverity(g.Severity).Rank()
	var worst scan.Finding
	found := false
	for _, f := range r.Findings {
		if gateRank(f) < min || (g.FixableOnly && f.Fixed == "") || allowed(g.Allow, f, now) {
			continue
		}
		if !found || gateRank(f) > gateRank(worst) || (gateRank(f) == gateRank(worst) && f.ID < worst.ID) {
			worst, found = f, true
		}
	}
	return worst, found
}

// gateRank is a finding's rank for the gates: a finding of unknown
// severity counts as LOW, so a LOW gate refuses it and higher ones do
// not (many databases, the Go one among them, rate nothing).
func gateRank(f scan.Finding) int {
	return max(f.Severity.Rank(), scan.SeverityLow.Rank())
}

func allowed(allow []policy.AllowedFinding, f scan.Finding, now time.Time) bool {
	for _, a := range allow {
		if !now.Before(a.Expires) {
			continue
		}
		if a.ID == f.ID || slices.Contains(f.Aliases, a.ID) {
			return true
		}
	}
	return false
}
