package node

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

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/scan"
)

// sbomArtifactType is the artifactType (and layer media type) of the
// CycloneDX SBOM stored beside each report.
const sbomArtifactType = "application/vnd.cyclonedx+json"

// scanningImage marks a context in which the node reads an image to scan
// it: the scan gate and signature checks do not apply to those reads.
type scanningImage struct{}

func scanContext(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, scanningImage{}, true)
	return context.WithValue(ctx, verifyingSignatures{}, true)
}

// errNoDB answers a scan while no database is loaded.
var errNoDB = errors.New("no vulnerability database is loaded: import one with shoal scan db import")

// scanManifest scans manifest m of r: an image manifest, or every
// platform manifest of an index. A trusted fresh report already held is
// returned instead of scanning again, unless force.
func (n *Node) scanManifest(ctx context.Context, r repository, m *oci.Manifest, force bool) ([]*heldReport, error) {
	ctx = scanContext(ctx)
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
			cm, err := registry{n}.GetManifest(ctx, r.ociRepo(), c.Digest.String())
			if err != nil {
				return nil, fmt.Errorf("platform manifest %s: %w", c.Digest, err)
			}
			h, err := n.scanImageOnce(ctx, r, cm, force)
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
	h, err := n.scanImageOnce(ctx, r, m, force)
	if err != nil {
		return nil, err
	}
	return []*heldReport{h}, nil
}

// scanImageOnce scans one image manifest, once for concurrent callers.
func (n *Node) scanImageOnce(ctx context.Context, r repository, m *oci.Manifest, force bool) (*heldReport, error) {
	if !force {
		if h := n.trustedReport(m.Digest); h != nil && n.reportCurrent(h) {
			return h, nil
		}
	}
	v, err, _ := n.flight.Do("scan\x00"+m.Digest.String(), func() (any, error) {
		return n.scanImage(ctx, r, m)
	})
	if err != nil {
		return nil, err
	}
	return v.(*heldReport), nil
}

// reportCurrent says whether h was made against the database in use (or
// no database is in use, so nothing newer could be made).
func (n *Node) reportCurrent(h *heldReport) bool {
	db := n.currentDB()
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
func (n *Node) scanImage(ctx context.Context, r repository, m *oci.Manifest) (h *heldReport, err error) {
	s := n.scans
	if !s.engine.ready() {
		return nil, errNoScanEngine
	}
	db := n.currentDB()
	if db == nil {
		return nil, errNoDB
	}
	defer func() {
		if err != nil {
			s.scansTotal.WithLabelValues("failed").Inc()
			n.log.Warn("scan failed", "repository", r.key, "digest", m.Digest, "err", err)
		}
	}()
	var im imageManifest
	if err := json.Unmarshal(m.Bytes, &im); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	if !isImageConfig(im.Config.MediaType) {
		return nil, fmt.Errorf("manifest %s is not an image (config %s)", m.Digest, im.Config.MediaType)
	}
	started := time.Now().UTC()
	repo := r.ociRepo()
	platform, err := n.imagePlatform(ctx, repo, im.Config.Digest)
	if err != nil {
		return nil, err
	}
	layers := make([]func() (io.ReadCloser, error), len(im.Layers))
	for i, l := range im.Layers {
		layers[i] = func() (io.ReadCloser, error) {
			b, err := registry{n}.GetBlob(ctx, repo, l.Digest)
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			return blobReadCloser{b}, nil
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
		Scanner: s.id.String(), ScannerVersion: n.version,
		Started: started, Finished: time.Now().UTC(),
		OS: inv.OS, Packages: len(inv.Packages), Findings: findings,
	}
	env, err := scan.SignReport(rep, s.key)
	if err != nil {
		return nil, err
	}
	subject := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Bytes))}
	h = &heldReport{report: rep, envelope: env, digest: digest.FromBytes(env), signer: s.id, repo: r.key, received: time.Now().UTC()}
	if err := n.storeReport(r, subject, h); err != nil {
		return nil, err
	}
	if s.engine.sbom != nil {
		if err := n.storeSBOM(r, subject, inv); err != nil {
			n.log.Warn("storing the SBOM", "repository", r.key, "digest", m.Digest, "err", err)
		}
	}
	n.holdReport(h)
	result := "clean"
	if len(findings) > 0 {
		result = "vulnerable"
	}
	s.scansTotal.WithLabelValues(result).Inc()
	worst, _ := rep.Worst()
	n.log.Info("image scanned", "repository", r.key, "digest", m.Digest, "platform", platform, "packages", rep.Packages,
		"findings", len(findings), "worst", worst.ID, "worst_severity", worst.Severity, "db", db.layer, "duration", rep.Finished.Sub(started).Round(time.Millisecond))
	n.announceReport(h)
	return h, nil
}

func isImageConfig(mt string) bool {
	return mt == ocispec.MediaTypeImageConfig || mt == "application/vnd.docker.container.image.v1+json"
}

// imagePlatform reads os/arch[/variant] from the image's config.
func (n *Node) imagePlatform(ctx context.Context, repo oci.Repo, config digest.Digest) (string, error) {
	b, err := registry{n}.GetBlob(ctx, repo, config)
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
func (n *Node) storeReport(r repository, subject ocispec.Descriptor, h *heldReport) error {
	if _, err := n.store.PutBlob(h.digest, bytes.NewReader(h.envelope)); err != nil {
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
	if err := n.putEmptyJSON(); err != nil {
		return err
	}
	return n.putArtifact(r, n.store.IsLocal(r.key), m)
}

// storeSBOM stores the inventory as a CycloneDX referrer of subject.
func (n *Node) storeSBOM(r repository, subject ocispec.Descriptor, inv *scan.Inventory) error {
	body, err := n.scans.engine.sbom(inv, subject.Digest)
	if err != nil {
		return err
	}
	d := digest.FromBytes(body)
	if _, err := n.store.PutBlob(d, bytes.NewReader(body)); err != nil {
		return err
	}
	if err := n.putEmptyJSON(); err != nil {
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
	return n.putArtifact(r, n.store.IsLocal(r.key), m)
}

func (n *Node) putEmptyJSON() error {
	_, err := n.store.PutBlob(emptyDescriptor().Digest, bytes.NewReader(emptyJSON))
	return err
}

// --- scan on pull ---

// manifestStored is told of every manifest the node stores for the first
// time (fetched by the mirror, or pushed). With --scan-on-pull and a
// database loaded it queues a scan of an image manifest; an index's
// platform manifests are queued as clients fetch them, so only the
// platforms in use are scanned.
func (n *Node) manifestStored(r repository, d digest.Digest, info *oci.ManifestInfo) {
	if s := n.scans; s != nil && s.onPull {
		n.enqueueScan(r, d, info)
	}
}

// enqueueScan queues a background scan of image manifest d of r, when a
// database is loaded and it is not queued already.
func (n *Node) enqueueScan(r repository, d digest.Digest, info *oci.ManifestInfo) {
	s := n.scans
	if s == nil || !s.engine.ready() || n.currentDB() == nil || info == nil {
		return
	}
	if info.Subject != nil || len(info.Manifests) > 0 || info.MediaType == oci.MediaTypeOCIIndex || info.MediaType == oci.MediaTypeDockerManifestList {
		return
	}
	if !isImageConfig(info.ArtifactType) && info.ArtifactType != "" {
		return // an artifact, not an image
	}
	if r.key == vulnDBRepo {
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
		n.log.Debug("the scan queue is full; not scanning", "digest", d)
	}
	s.mu.Unlock()
}

// scanWorker runs queued scans one at a time.
func (n *Node) scanWorker() {
	s := n.scans
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case job := <-s.queue:
			n.runQueued(job)
			s.mu.Lock()
			delete(s.queued, job.digest)
			s.mu.Unlock()
		}
	}
}

// runQueued scans one queued image, unless a trusted fresh report is
// held, or a peer designated before this node sends one in time.
func (n *Node) runQueued(job scanJob) {
	s := n.scans
	if h := n.trustedReport(job.digest); h != nil && n.reportCurrent(h) {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, backgroundScanTimeout)
	defer cancel()
	if n.p2p != nil {
		if holder := n.closerHolder(ctx, job.digest); holder != "" {
			n.log.Debug("waiting for the designated scanner's report", "digest", job.digest, "designated", holder)
			wait := n.waitForReport(job.digest)
			t := time.NewTimer(peerScanWait)
			if n.trustedReport(job.digest) == nil {
				select {
				case <-wait:
				case <-t.C:
				case <-ctx.Done():
				}
			}
			t.Stop()
			n.stopWaiting(job.digest, wait)
			if h := n.trustedReport(job.digest); h != nil {
				return
			}
		}
	}
	m, err := n.storedManifest(job.repo, job.digest)
	if err != nil {
		return
	}
	if _, err := n.scanImageOnce(scanContext(ctx), job.repo, m, false); err != nil && !errors.Is(err, errNoDB) {
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
func (n *Node) closerHolder(ctx context.Context, d digest.Digest) peer.ID {
	closer, err := n.p2p.Designated(ctx, d)
	if err != nil || len(closer) == 0 {
		return ""
	}
	fctx, cancel := context.WithTimeout(ctx, findTimeout)
	defer cancel()
	providers, err := n.p2p.FindProviders(fctx, d, 20)
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
