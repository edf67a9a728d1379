package node

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/scan"
)

// The scan gate: the policy's scanning.gates keep images whose trusted
// report has findings at or above a severity out of matching
// repositories. It applies to image manifests (a client pulling an index
// is gated on the platform manifest it then fetches); the artifacts about
// an image (signatures, SBOMs, scan reports) are not gated.

// scanGate is GetManifest's hook: it passes m and err on, unless a gate
// refuses m.
func (n *Node) scanGate(ctx context.Context, r repository, ref string, m *oci.Manifest, err error) (*oci.Manifest, error) {
	if err != nil || m == nil || ctx.Value(scanningImage{}) != nil || n.scans == nil {
		return m, err
	}
	if gerr := n.checkScanGates(r, ref, m); gerr != nil {
		return nil, gerr
	}
	return m, nil
}

// scanGates are the gates whose repositories match repo.
func (n *Node) scanGates(repo string) []policy.ScanGate {
	sp := n.scanningPolicy()
	if sp == nil {
		return nil
	}
	var out []policy.ScanGate
	for _, g := range sp.Gates {
		for _, glob := range g.Repositories {
			if policy.Match(glob, repo) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

func (n *Node) checkScanGates(r repository, ref string, m *oci.Manifest) error {
	gates := n.scanGates(r.key)
	if len(gates) == 0 {
		return nil
	}
	switch m.MediaType {
	case oci.MediaTypeOCIIndex, oci.MediaTypeDockerManifestList:
		return nil
	}
	if isSignatureArtifact(ref, m) || r.key == vulnDBRepo {
		return nil
	}
	info, err := oci.ParseManifest(m.MediaType, m.Bytes)
	if err != nil || (info.ArtifactType != "" && !isImageConfig(info.ArtifactType)) {
		return nil // not an image
	}
	h := n.trustedReport(m.Digest)
	if h == nil {
		n.enqueueScan(r, m.Digest, info)
	}
	for _, g := range gates {
		name := strings.Join(g.Repositories, ",")
		if h == nil {
			switch g.Missing {
			case "deny":
				n.log.Warn("image refused: no trusted scan report yet", "repository", r.key, "digest", m.Digest, "gate", name)
				return oci.ErrDenied.WithMessage("scan gate %q: no trusted scan report on %s yet; it is refused until one exists", name, m.Digest).
					With(map[string]string{"gate": name, "digest": m.Digest.String(), "reason": "no report"})
			case "warn":
				n.log.Warn("serving an image with no trusted scan report yet", "repository", r.key, "digest", m.Digest, "gate", name)
			}
			continue
		}
		if f, ok := gateRefuses(g, h.report, n.now()); ok {
			n.log.Warn("image refused by a scan gate", "repository", r.key, "digest", m.Digest, "gate", name, "finding", f.ID, "package", f.Package, "severity", f.Severity)
			msg := "scan gate %q refuses %s and above: %s has %s in %s %s (%s)"
			fixed := "no fix known"
			if f.Fixed != "" {
				fixed = "fixed in " + f.Fixed
			}
			return oci.ErrDenied.WithMessage(msg, name, strings.ToUpper(g.Severity), m.Digest, f.ID, f.Package, f.Installed, string(severityOf(f))+", "+fixed).
				With(map[string]string{"gate": name, "digest": m.Digest.String(), "finding": f.ID, "package": f.Package, "severity": string(severityOf(f)), "scanner": h.report.Scanner})
		}
	}
	return nil
}

// gateRefuses finds the worst finding of r that gate g refuses at now:
// at or above its severity (UNKNOWN counting as LOW), fixable if it wants only those, and not
// allowed by an unexpired entry (by ID or alias).
func gateRefuses(g policy.ScanGate, r *scan.Report, now time.Time) (scan.Finding, bool) {
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
