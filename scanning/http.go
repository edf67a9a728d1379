package scanning

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

// The scanning endpoints (the node's wiring mounts them, the writing
// ones behind its admin guard):
//
//	PUT  /shoal/v1/scan/db             an encoded database to load (shoal scan db import)
//	GET  /shoal/v1/scan/db             the database in use
//	GET  /shoal/v1/scans/<digest>      the trusted report on an image digest
//	POST /shoal/v1/scans?ref=REF       scan REF now (or return a fresh report)

func dbStatus(h *heldDB) adminapi.DBStatus {
	return adminapi.DBStatus{Digest: h.layer.String(), Records: h.db.Records(), Updated: h.db.Updated().UTC(), Signer: h.signer, Size: h.size}
}

func (s *Service) reportView(h *heldReport) adminapi.ReportView {
	age := s.now().Sub(h.report.DBUpdated)
	ok, _ := s.reportTrusted(h)
	return adminapi.ReportView{Report: h.report, DBAge: age.Round(time.Second).String(), DBAgeSeconds: age.Seconds(), Envelope: h.digest.String(), Trusted: ok}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// HandlePutDB serves PUT /shoal/v1/scan/db.
func (s *Service) HandlePutDB(w http.ResponseWriter, r *http.Request) {
	h, err := s.importDB(r.Body)
	if err != nil {
		if errors.Is(err, errNoScanEngine) {
			oci.WriteError(w, oci.ErrUnsupported.WithMessage("%v", err))
			return
		}
		oci.WriteError(w, err)
		return
	}
	writeJSON(w, dbStatus(h))
}

// HandleGetDB serves GET /shoal/v1/scan/db.
func (s *Service) HandleGetDB(w http.ResponseWriter, r *http.Request) {
	h := s.currentDB()
	if h == nil {
		oci.WriteError(w, &oci.Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: errNoDB.Error()})
		return
	}
	writeJSON(w, dbStatus(h))
}

// HandleGetScan serves GET /shoal/v1/scans/{digest}.
func (s *Service) HandleGetScan(w http.ResponseWriter, r *http.Request) {
	d, err := oci.ParseDigest(r.PathValue("digest"))
	if err != nil {
		oci.WriteError(w, oci.ErrDigestInvalid.WithMessage("%q is not a digest", r.PathValue("digest")))
		return
	}
	h := s.heldReport(d)
	if h != nil && !s.mayRead(r, h) {
		h = nil // what the caller may not pull does not exist for it
	}
	if h == nil {
		oci.WriteError(w, &oci.Error{Status: http.StatusNotFound, Code: "NOT_FOUND",
			Message: "no report on " + d.String() + " (reports are per platform manifest; POST /shoal/v1/scans?ref= scans one)"})
		return
	}
	writeJSON(w, s.reportView(h))
}

// heldReport is the report held on d, trusted or not.
func (s *Service) heldReport(d digest.Digest) *heldReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reports[d]
}

// HandlePostScan serves POST /shoal/v1/scans.
func (s *Service) HandlePostScan(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw := q.Get("ref")
	ref, err := repository.ParseReference(raw)
	if err != nil {
		oci.WriteError(w, oci.ErrNameInvalid.WithMessage("ref: %v", err))
		return
	}
	repo, err := s.cfg.Names.ForPull(ref.Name)
	if err != nil {
		oci.WriteError(w, oci.ErrNameInvalid.WithMessage("ref %s: %v", raw, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), onDemandScanTimeout)
	defer cancel()
	if !s.engine.ready() {
		oci.WriteError(w, oci.ErrUnsupported.WithMessage("%v", errNoScanEngine))
		return
	}
	sr, err := s.cfg.Names.Resolve(repo, false)
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	m, err := s.cfg.Content.Manifest(ctx, sr, ref.Target())
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	held, err := s.scanManifest(ctx, sr, m, q.Get("force") == "1" || q.Get("force") == "true")
	if err != nil {
		if errors.Is(err, errNoDB) {
			oci.WriteError(w, &oci.Error{Status: http.StatusConflict, Code: "UNSUPPORTED", Message: err.Error()})
			return
		}
		var oe *oci.Error
		if errors.As(err, &oe) {
			oci.WriteError(w, oe)
			return
		}
		oci.WriteError(w, &oci.Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "scan failed", Detail: err.Error()})
		return
	}
	res := adminapi.ScanResult{Ref: raw, Digest: m.Digest.String(), Reports: []adminapi.ReportView{}}
	for _, h := range held {
		res.Reports = append(res.Reports, s.reportView(h))
	}
	writeJSON(w, res)
}

// mayRead says whether the caller of r may read report h: it may pull a
// repository that holds the image.
func (s *Service) mayRead(r *http.Request, h *heldReport) bool {
	if s.cfg.MayPull == nil {
		return true
	}
	repos, _ := s.store.ManifestRepos(h.report.Image)
	if h.repo != "" {
		repos = append(repos, h.repo)
	}
	for _, repo := range repos {
		if s.cfg.MayPull(r, repo) {
			return true
		}
	}
	return false
}
