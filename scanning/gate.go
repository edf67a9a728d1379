package scanning

import (
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
)

// What the scan gate (gate.Scans) and the pull path ask of scanning.

// Gates are the policy's scan gates whose repositories match repo (a
// key); the node's own vulnerability database is never gated.
func (s *Service) Gates(repo string) []policy.ScanGate {
	sp := s.scanningPolicy()
	if sp == nil || repo == vulnDBRepo {
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

// Trusted is the trusted, fresh report on image d; nil when none.
func (s *Service) Trusted(d digest.Digest) *scan.Report {
	if h := s.trustedReport(d); h != nil {
		return h.report
	}
	return nil
}

// Missing queues a scan of image d of repo, which has no trusted report.
func (s *Service) Missing(repo repository.Name, d digest.Digest, info *oci.ManifestInfo) {
	s.enqueueScan(repo, d, info)
}

// ManifestStored is told of every manifest the node stores for the
// first time (fetched or pushed). With scan on pull and a database
// loaded it queues a scan of an image manifest; an index's platform
// manifests are queued as clients fetch them, so only the platforms in
// use are scanned.
func (s *Service) ManifestStored(repo repository.Name, d digest.Digest, info *oci.ManifestInfo) {
	if s.onPull {
		s.enqueueScan(repo, d, info)
	}
}
