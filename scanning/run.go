package scanning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/gate"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
)

// sbomArtifactType is the artifactType (and layer media type) of the
// CycloneDX SBOM stored beside each report.
const sbomArtifactType = "application/vnd.cyclonedx+json"

// errNoDB answers a scan while no database is loaded.
var errNoDB = errors.New("no vulnerability database is loaded: import one with shoal scan db import")

// scanManifest scans manifest m of r: an image manifest, or every
// platform manifest of an index. A trusted fresh report already held is
// returned instead of scanning again, unless force.
func (s *Service) scanManifest(ctx context.Context, r repository.Name, m *oci.Manifest, force bool) ([]*heldReport, error) {
	switch m.MediaType {
	case oci.MediaTypeOCIIndex, oci.MediaTypeDockerManifestList:
		var idx ocispec.Index
		if err := json.Unmarshal(m.Bytes, &idx); err != nil {
			return nil, fmt.Errorf("index %s: %w", m.Digest, err)
		}
		var out []*heldReport
		for _, c := range idx.Manifests {
			if c.Platform != nil && (c.Platform.OS == "unknown" || c.Platform.Architecture == "unknown") {
				continue // an attestation manifest, not an image
			}
			if c.MediaType != oci.MediaTypeOCIManifest && c.MediaType != oci.MediaTypeDockerManifest {
				continue
			}
			cm, err := s.cfg.Content.Manifest(ctx, r, c.Digest.String())
			if err != nil {
				return nil, fmt.Errorf("platform manifest %s: %w", c.Digest, err)
			}
			h, err := s.scanImageOnce(ctx, r, cm, force)
			if err != nil {
				return nil, fmt.Errorf("platform manifest %s: %w", c.Digest, err)
			}
			out = append(out, h)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("index %s has no image manifests to scan", m.Digest)
		}
		return out, nil
	}
	h, err := s.scanImageOnce(ctx, r, m, force)
	if err != nil {
		return nil, err
	}
	return []*heldReport{h}, nil
}

// scanImageOnce scans one image manifest, once for concurrent callers.
func (s *Service) scanImageOnce(ctx context.Context, r repository.Name, m *oci.Manifest, force bool) (*heldReport, error) {
	if !force {
		if h := s.trustedReport(m.Digest); h != nil && s.reportCurrent(h) {
			return h, nil
		}
	}
	v, err, _ := s.flight.Do("scan\x00"+m.Digest.String(), func() (any, error) {
		return s.scanImage(ctx, r, m)
	})
	if err != nil {
		return nil, err
	}
	return v.(*heldReport), nil
}

// reportCurrent says whether h was made against the database in use (or
// no database is in use, so nothing newer could be made).
func (s *Service) reportCurrent(h *heldReport) bool {
	db := s.currentDB()
	return db == nil || h.report.DB == db.layer || !db.db.Updated().After(h.report.DBUpdated)
}

// imageManifest is the part of an image manifest scanning reads.
type imageManifest struct {
	MediaType string               `json:"mediaType"`
	Config    ocispec.Descriptor   `json:"config"`
	Layers    []ocispec.Descriptor `json:"layers"`
	Subject   *ocispec.Descriptor  `json:"subject"`
}

// scanImage scans image manifest m of r, signs the report, stores it (and
// the SBOM) as referrers of m, holds it and announces it.
func (s *Service) scanImage(ctx context.Context, r repository.Name, m *oci.Manifest) (h *heldReport, err error) {
	if !s.engine.ready() {
		return nil, errNoScanEngine
	}
	db := s.currentDB()
	if db == nil {
		return nil, errNoDB
	}
	defer func() {
		if err != nil {
			s.scansTotal.WithLabelValues("failed").Inc()
			s.log.Warn("scan failed", "repository", r.Key(), "digest", m.Digest, "err", err)
		}
	}()
	var im imageManifest
	if err := json.Unmarshal(m.Bytes, &im); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	if !scan.IsImageConfig(im.Config.MediaType) {
		return nil, fmt.Errorf("manifest %s is not an image (config %s)", m.Digest, im.Config.MediaType)
	}
	started := time.Now().UTC()
	platform, err := s.imagePlatform(ctx, r, im.Config.Digest)
	if err != nil {
		return nil, err
	}
	layers := make([]func() (io.ReadCloser, error), len(im.Layers))
	for i, l := range im.Layers {
		layers[i] = func() (io.ReadCloser, error) {
			b, err := s.cfg.Content.Blob(ctx, r, l.Digest)
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			return gate.BlobReader(b), nil
		}
	}
	inv, err := s.engine.inventory(ctx, platform, layers)
	if err != nil {
		return nil, fmt.Errorf("reading the image's packages: %w", err)
	}
	findings := db.db.Match(inv)
	if findings == nil {
		findings = []scan.Finding{}
	}
	rep := &scan.Report{
		Image: m.Digest, Platform: platform, DB: db.layer, DBUpdated: db.db.Updated().UTC(),
		Scanner: s.id.String(), ScannerVersion: s.cfg.Version,
		Started: started, Finished: time.Now().UTC(),
		OS: inv.OS, Packages: len(inv.Packages), Findings: findings,
	}
	env, err := scan.SignReport(rep, s.key)
	if err != nil {
		return nil, err
	}
	subject := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Bytes))}
	h = &heldReport{report: rep, envelope: env, digest: digest.FromBytes(env), signer: s.id, repo: r.Key(), received: time.Now().UTC()}
	if err := s.storeReport(r, subject, h); err != nil {
		return nil, err
	}
	if s.engine.sbom != nil {
		if err := s.storeSBOM(r, subject, inv); err != nil {
			s.log.Warn("storing the SBOM", "repository", r.Key(), "digest", m.Digest, "err", err)
		}
	}
	s.holdReport(h)
	result := "clean"
	if len(findings) > 0 {
		result = "vulnerable"
	}
	s.scansTotal.WithLabelValues(result).Inc()
	worst, _ := rep.Worst()
	s.log.Info("image scanned", "repository", r.Key(), "digest", m.Digest, "platform", platform, "packages", rep.Packages,
		"findings", len(findings), "worst", worst.ID, "worst_severity", worst.Severity, "db", db.layer, "duration", rep.Finished.Sub(started).Round(time.Millisecond))
	s.announceReport(h)
	return h, nil
}

// imagePlatform reads os/arch[/variant] from the image's config.
func (s *Service) imagePlatform(ctx context.Context, r repository.Name, config digest.Digest) (string, error) {
	b, err := s.cfg.Content.Blob(ctx, r, config)
	if err != nil {
		return "", fmt.Errorf("config %s: %w", config, err)
	}
	defer b.Close()
	body, err := io.ReadAll(io.LimitReader(b.Content, 8<<20))
	if err != nil {
		return "", fmt.Errorf("config %s: %w", config, err)
	}
	var cfg struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		return "", fmt.Errorf("config %s: %w", config, err)
	}
	p := cfg.OS + "/" + cfg.Architecture
	if cfg.Variant != "" {
		p += "/" + cfg.Variant
	}
	return p, nil
}

// storeReport stores h's envelope as a referrer of subject in r.
func (s *Service) storeReport(r repository.Name, subject ocispec.Descriptor, h *heldReport) error {
	if _, err := s.store.PutBlob(h.digest, bytes.NewReader(h.envelope)); err != nil {
		return fmt.Errorf("storing the report: %w", err)
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: scan.ReportArtifactType,
		Config:       emptyDescriptor(),
		Layers:       []ocispec.Descriptor{{MediaType: scan.EnvelopeMediaType, Digest: h.digest, Size: int64(len(h.envelope))}},
		Subject:      &subject,
		Annotations: map[string]string{
			ocispec.AnnotationCreated:   h.report.Finished.UTC().Format(time.RFC3339),
			"in-toto.io/predicate-type": scan.PredicateType,
			"dev.shoal.scan.scanner":    h.report.Scanner,
			"dev.shoal.scan.db":         h.report.DB.String(),
		},
	}
	if err := s.putEmptyJSON(); err != nil {
		return err
	}
	return s.putArtifact(r, s.store.IsLocal(r.Key()), m)
}

// storeSBOM stores the inventory as a CycloneDX referrer of subject.
func (s *Service) storeSBOM(r repository.Name, subject ocispec.Descriptor, inv *scan.Inventory) error {
	body, err := s.engine.sbom(inv, subject.Digest)
	if err != nil {
		return err
	}
	d := digest.FromBytes(body)
	if _, err := s.store.PutBlob(d, bytes.NewReader(body)); err != nil {
		return err
	}
	if err := s.putEmptyJSON(); err != nil {
		return err
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: sbomArtifactType,
		Config:       emptyDescriptor(),
		Layers:       []ocispec.Descriptor{{MediaType: sbomArtifactType, Digest: d, Size: int64(len(body))}},
		Subject:      &subject,
	}
	return s.putArtifact(r, s.store.IsLocal(r.Key()), m)
}

func (s *Service) putEmptyJSON() error {
	_, err := s.store.PutBlob(emptyDescriptor().Digest, bytes.NewReader(emptyJSON))
	return err
}

// --- scan on pull ---

// enqueueScan queues a background scan of image manifest d of r, when a
// database is loaded and it is not queued already.
func (s *Service) enqueueScan(r repository.Name, d digest.Digest, info *oci.ManifestInfo) {
	if !s.engine.ready() || s.currentDB() == nil || info == nil {
		return
	}
	if info.Subject != nil || len(info.Manifests) > 0 || info.MediaType == oci.MediaTypeOCIIndex || info.MediaType == oci.MediaTypeDockerManifestList {
		return
	}
	if !scan.IsImageConfig(info.ArtifactType) && info.ArtifactType != "" {
		return // an artifact, not an image
	}
	if r.Key() == vulnDBRepo {
		return
	}
	s.mu.Lock()
	if s.queued[d] || time.Since(s.failed[d]) < failedScanRetry {
		s.mu.Unlock()
		return
	}
	select {
	case s.queue <- scanJob{repo: r, digest: d}:
		s.queued[d] = true
	default:
		s.log.Debug("the scan queue is full; not scanning", "digest", d)
	}
	s.mu.Unlock()
}

// scanWorker runs queued scans one at a time.
func (s *Service) scanWorker() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case job := <-s.queue:
			s.runQueued(job)
			s.mu.Lock()
			delete(s.queued, job.digest)
			s.mu.Unlock()
		}
	}
}

// runQueued scans one queued image, unless a trusted fresh report is
// held, or a peer designated before this node sends one in time.
func (s *Service) runQueued(job scanJob) {
	if h := s.trustedReport(job.digest); h != nil && s.reportCurrent(h) {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, backgroundScanTimeout)
	defer cancel()
	if s.fleet != nil {
		if holder := s.closerHolder(ctx, job.digest); holder != "" {
			s.log.Debug("waiting for the designated scanner's report", "digest", job.digest, "designated", holder)
			wait := s.waitForReport(job.digest)
			t := time.NewTimer(peerScanWait)
			if s.trustedReport(job.digest) == nil {
				select {
				case <-wait:
				case <-t.C:
				case <-ctx.Done():
				}
			}
			t.Stop()
			s.stopWaiting(job.digest, wait)
			if h := s.trustedReport(job.digest); h != nil {
				return
			}
		}
	}
	rec, body, err := s.store.GetManifest(job.repo.Key(), job.digest)
	if err != nil {
		return
	}
	m := &oci.Manifest{Digest: rec.Digest, MediaType: rec.MediaType, Bytes: body}
	if _, err := s.scanImageOnce(ctx, job.repo, m, false); err != nil && !errors.Is(err, errNoDB) {
		s.mu.Lock()
		if len(s.failed) >= scanQueueLength {
			clear(s.failed)
		}
		s.failed[job.digest] = time.Now()
		s.mu.Unlock()
	}
}

// closerHolder is a peer that holds image manifest d and is closer to it
// than this node: the image's designated scanner, or one before this
// node in line. "" means this node scans: no closer peer holds the image,
// so none will scan it (peers advertise what their store holds, the
// manifest included).
func (s *Service) closerHolder(ctx context.Context, d digest.Digest) peer.ID {
	closer, err := s.fleet.Designated(ctx, d)
	if err != nil || len(closer) == 0 {
		return ""
	}
	fctx, cancel := context.WithTimeout(ctx, pull.FindTimeout)
	defer cancel()
	providers, err := s.fleet.FindProviders(fctx, d, 20)
	if err != nil {
		return ""
	}
	holds := map[peer.ID]bool{}
	for _, p := range providers {
		holds[p.ID] = true
	}
	for _, p := range closer {
		if holds[p] {
			return p
		}
	}
	return ""
}
