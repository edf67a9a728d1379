package scanning

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
)

// Reports and databases in the fleet: a node announces each report it
// signs and each database it takes in (p2p.ExchangeScans); peers that
// trust the signer fetch the blob by digest from the announcer, verify it
// and keep it, so one scan serves the fleet and one import arms it.

const (
	// dbAnnounceInterval is how often the database in use is announced
	// again, for peers that joined since.
	dbAnnounceInterval = 30 * time.Second
	// scanFetchTimeout bounds fetching an announced report; a database
	// gets dbFetchTimeout.
	scanFetchTimeout = 30 * time.Second
	dbFetchTimeout   = 10 * time.Minute
)

// startScanFleet joins the scan exchange and re-announces the database.
func (s *Service) startScanFleet() error {
	if err := s.fleet.ExchangeScans(fleetScans{s}); err != nil {
		return fmt.Errorf("joining the fleet's scan exchange: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(dbAnnounceInterval)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.announceDB()
			}
		}
	}()
	return nil
}

// announceReport tells the fleet of a report this node signed: more than
// once, since gossipsub can drop a message published while its mesh is
// still forming, and a peer that holds the report already only compares
// a digest.
func (s *Service) announceReport(h *heldReport) {
	if s.fleet == nil {
		return
	}
	a := p2p.ScanAnnouncement{Kind: p2p.AnnounceReport, Digest: h.digest, Size: int64(len(h.envelope)), Signer: h.signer.String(),
		Image: h.report.Image, Repo: h.repo, DB: h.report.DB}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		start := time.Now()
		for _, at := range []time.Duration{0, 2 * time.Second, 10 * time.Second} {
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(time.Until(start.Add(at))):
			}
			if err := s.fleet.AnnounceScan(s.ctx, a); err != nil {
				s.log.Debug("announcing a scan report", "image", h.report.Image, "err", err)
			}
		}
	}()
}

// announceDB tells the fleet of the database in use.
func (s *Service) announceDB() {
	db := s.currentDB()
	if s.fleet == nil || db == nil {
		return
	}
	a := p2p.ScanAnnouncement{Kind: p2p.AnnounceDB, Digest: db.layer, Size: db.size, Signer: db.signer, Signature: db.signature, Updated: db.db.Updated().UTC()}
	if err := s.fleet.AnnounceScan(s.ctx, a); err != nil {
		s.log.Debug("announcing the vulnerability database", "digest", db.layer, "err", err)
	}
}

// fleetScans is the node's side of the scan exchange.
type fleetScans struct{ s *Service }

func (f fleetScans) ScanAnnounced(ctx context.Context, a p2p.ScanAnnouncement, sources []peer.ID) {
	var err error
	switch a.Kind {
	case p2p.AnnounceReport:
		err = f.s.takeReport(ctx, a, sources)
	case p2p.AnnounceDB:
		err = f.s.takeDB(ctx, a, sources)
	}
	if err != nil {
		f.s.log.Info("an announced scan "+a.Kind+" was not taken", "digest", a.Digest, "signer", a.Signer, "from", sources[0], "err", err)
	}
}

// takeReport fetches, verifies and keeps an announced report, if its
// signer is trusted and it is newer than the one held.
func (s *Service) takeReport(ctx context.Context, a p2p.ScanAnnouncement, sources []peer.ID) error {
	signer, err := peer.Decode(a.Signer)
	if err != nil {
		return err
	}
	if old := s.heldReport(a.Image); old != nil && old.digest == a.Digest {
		return nil
	}
	if !s.scannerTrusted(signer) {
		return fmt.Errorf("signer %s is not a trusted scanner", signer)
	}
	if a.Size > scan.MaxEnvelope {
		return fmt.Errorf("a report of %d bytes", a.Size)
	}
	ctx, cancel := context.WithTimeout(ctx, scanFetchTimeout)
	defer cancel()
	// Peers answer only for a repository that holds the content: the
	// report is stored beside its image, in the repository announced.
	rc, _, err := s.fleet.FetchFrom(ctx, a.Digest, repository.Local(a.Repo), sources, scan.MaxEnvelope)
	if err != nil {
		return err
	}
	env, err := io.ReadAll(io.LimitReader(rc, scan.MaxEnvelope+1))
	rc.Close()
	if err != nil {
		return err
	}
	if a.Digest.Algorithm().FromBytes(env) != a.Digest {
		for _, p := range sources[:1] {
			s.fleet.Penalise(p, "scan report "+a.Digest.String()+" did not match its digest")
		}
		return fmt.Errorf("the report did not match %s", a.Digest)
	}
	return s.offerReport(env, a.Repo, a.Image)
}

// offerReport verifies a signed report from outside this node and, when
// its signer is trusted and it is fresh, stores it as a referrer of its
// image in repo (when given) and holds it. image, when set, is the image
// the sender said it is about.
func (s *Service) offerReport(env []byte, repo string, image digest.Digest) error {
	r, signer, err := scan.VerifyReport(env)
	if err != nil {
		return err
	}
	if image != "" && image != r.Image {
		return fmt.Errorf("announced for %s, but the report is about %s", image, r.Image)
	}
	h := &heldReport{report: r, envelope: env, digest: digest.FromBytes(env), signer: signer, repo: repo, received: time.Now().UTC()}
	if ok, why := s.reportTrusted(h); !ok {
		return fmt.Errorf("report not trusted: %s", why)
	}
	if repo != "" && oci.ValidateName(repo) == nil {
		subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: r.Image}
		if rec, body, err := s.store.GetManifest(repo, r.Image); err == nil {
			subject.MediaType, subject.Size = rec.MediaType, int64(len(body))
		}
		if err := s.storeReport(repository.Local(repo), subject, h); err != nil {
			s.log.Warn("storing a peer's scan report", "image", r.Image, "err", err)
		}
	}
	if s.holdReport(h) {
		s.log.Info("took a peer's scan report", "image", r.Image, "scanner", signer, "findings", len(r.Findings), "db", r.DB)
	}
	return nil
}

// takeDB fetches, verifies and loads an announced database, if its
// signer is trusted and it is newer than the one in use.
func (s *Service) takeDB(ctx context.Context, a p2p.ScanAnnouncement, sources []peer.ID) error {
	if !s.engine.ready() {
		return errNoScanEngine
	}
	if cur := s.currentDB(); cur != nil && (cur.layer == a.Digest || !a.Updated.After(cur.db.Updated())) {
		return nil
	}
	signer, err := verifyDBSignature(a.Signer, a.Signature, a.Digest)
	if err != nil {
		return err
	}
	if !s.dbSignerTrusted(signer) {
		return fmt.Errorf("signer %s is not trusted to sign vulnerability databases", signer)
	}
	if a.Size > maxVulnDB {
		return fmt.Errorf("a database of %d bytes", a.Size)
	}
	v, err, _ := s.flight.Do("vulndb\x00"+a.Digest.String(), func() (any, error) {
		if _, err := s.store.StatBlob(a.Digest); err != nil {
			fctx, cancel := context.WithTimeout(ctx, dbFetchTimeout)
			defer cancel()
			rc, _, err := s.fleet.FetchFrom(fctx, a.Digest, repository.Local(vulnDBRepo), sources, maxVulnDB)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			// The store checks the digest before keeping it.
			if _, err := s.store.PutBlob(a.Digest, io.LimitReader(rc, maxVulnDB)); err != nil {
				return nil, err
			}
		}
		db, err := s.decodeStoredDB(a.Digest)
		if err != nil {
			return nil, fmt.Errorf("the announced database does not decode: %w", err)
		}
		size, _ := s.store.StatBlob(a.Digest)
		h := &heldDB{db: db, layer: a.Digest, size: size, signer: a.Signer, signature: a.Signature}
		if err := s.storeDB(h, nil); err != nil {
			return nil, err
		}
		return h, nil
	})
	if err != nil {
		return err
	}
	h := v.(*heldDB)
	if cur := s.currentDB(); cur != nil && !h.db.Updated().After(cur.db.Updated()) {
		return nil
	}
	s.setDB(h)
	return nil
}
