package node

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/scan"
)

// scanRoutes adds the scanning endpoints:
//
//	PUT  /shoal/v1/scan/db             an encoded database to load (shoal scan db import)
//	GET  /shoal/v1/scan/db             the database in use
//	GET  /shoal/v1/scans/<digest>      the trusted report on an image digest
//	POST /shoal/v1/scans?ref=REF       scan REF now (or return a fresh report)
func (n *Node) scanRoutes(mux *http.ServeMux) {
	mux.HandleFunc("PUT /shoal/v1/scan/db", n.handlePutDB)
	mux.HandleFunc("GET /shoal/v1/scan/db", n.handleGetDB)
	mux.HandleFunc("GET /shoal/v1/scans/{digest}", n.handleGetScan)
	mux.HandleFunc("POST /shoal/v1/scans", n.handlePostScan)
}

// DBStatus describes the database in use.
type DBStatus struct {
	Digest  string    `json:"digest"`
	Records int       `json:"records"`
	Updated time.Time `json:"updated"`
	Signer  string    `json:"signer"`
	Size    int64     `json:"size"`
}

func dbStatus(h *heldDB) DBStatus {
	return DBStatus{Digest: h.layer.String(), Records: h.db.Records(), Updated: h.db.Updated().UTC(), Signer: h.signer, Size: h.size}
}

// ReportView is a report as the endpoints return it.
type ReportView struct {
	*scan.Report
	// DBAge is how old the database was when the report is served: now
	// minus its newest record's modification time.
	DBAge        string  `json:"db_age"`
	DBAgeSeconds float64 `json:"db_age_seconds"`
	// Envelope is the digest of the signed report (a DSSE envelope),
	// stored as a referrer of the image.
	Envelope string `json:"envelope"`
	Trusted  bool   `json:"trusted"`
}

func (n *Node) reportView(h *heldReport) ReportView {
	age := n.now().Sub(h.report.DBUpdated)
	ok, _ := n.reportTrusted(h)
	return ReportView{Report: h.report, DBAge: age.Round(time.Second).String(), DBAgeSeconds: age.Seconds(), Envelope: h.digest.String(), Trusted: ok}
}

// ScanResult answers POST /shoal/v1/scans: the image the ref resolved to
// and a report per platform manifest.
type ScanResult struct {
	Ref     string       `json:"ref"`
	Digest  string       `json:"digest"`
	Reports []ReportView `json:"reports"`
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// adminOnly refuses non-loopback callers of a writing scan endpoint while
// a policy is in force.
func (n *Node) adminOnly(w http.ResponseWriter, r *http.Request) bool {
	if n.currentPolicy() != nil && !isLoopback(r.RemoteAddr) {
		n.denied(r, client{}, "push", r.URL.Path, "admin endpoint from a non-loopback address")
		oci.WriteError(w, oci.ErrDenied.WithMessage("%s is only open to loopback callers while a policy is in force", r.URL.Path))
		return false
	}
	return true
}

func (n *Node) handlePutDB(w http.ResponseWriter, r *http.Request) {
	if !n.adminOnly(w, r) {
		return
	}
	h, err := n.importDB(r.Body)
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

func (n *Node) handleGetDB(w http.ResponseWriter, r *http.Request) {
	h := n.currentDB()
	if h == nil {
		oci.WriteError(w, &oci.Error{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: errNoDB.Error()})
		return
	}
	writeJSON(w, dbStatus(h))
}

func (n *Node) handleGetScan(w http.ResponseWriter, r *http.Request) {
	d, err := oci.ParseDigest(r.PathValue("digest"))
	if err != nil {
		oci.WriteError(w, oci.ErrDigestInvalid.WithMessage("%q is not a digest", r.PathValue("digest")))
		return
	}
	h := n.heldReport(d)
	if h == nil {
		oci.WriteError(w, &oci.Error{Status: http.StatusNotFound, Code: "NOT_FOUND",
			Message: "no report on " + d.String() + " (reports are per platform manifest; POST /shoal/v1/scans?ref= scans one)"})
		return
	}
	writeJSON(w, n.reportView(h))
}

// heldReport is the report held on d, trusted or not.
func (n *Node) heldReport(d digest.Digest) *heldReport {
	s := n.scans
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reports[d]
}

func (n *Node) handlePostScan(w http.ResponseWriter, r *http.Request) {
	if !n.adminOnly(w, r) {
		return
	}
	q := r.URL.Query()
	raw := q.Get("ref")
	ref, err := parseImageRef(raw)
	if err != nil {
		oci.WriteError(w, oci.ErrNameInvalid.WithMessage("ref: %v", err))
		return
	}
	repo, err := n.pullRepository(ref.name)
	if err != nil {
		oci.WriteError(w, oci.ErrNameInvalid.WithMessage("ref %s: %v", raw, err))
		return
	}
	target := ref.tag
	if ref.digest != "" {
		target = ref.digest.String()
	}
	if target == "" {
		target = "latest"
	}
	ctx, cancel := context.WithTimeout(scanContext(r.Context()), onDemandScanTimeout)
	defer cancel()
	if !n.scans.engine.ready() {
		oci.WriteError(w, oci.ErrUnsupported.WithMessage("%v", errNoScanEngine))
		return
	}
	m, err := registry{n}.GetManifest(ctx, repo, target)
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	sr, err := n.repository(repo, false)
	if err != nil {
		oci.WriteError(w, err)
		return
	}
	held, err := n.scanManifest(ctx, sr, m, q.Get("force") == "1" || q.Get("force") == "true")
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
	res := ScanResult{Ref: raw, Digest: m.Digest.String(), Reports: []ReportView{}}
	for _, h := range held {
		res.Reports = append(res.Reports, n.reportView(h))
	}
	writeJSON(w, res)
}
