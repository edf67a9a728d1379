package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/ui"
)

// routes is the node's whole HTTP surface. The admin endpoints that
// write the store without going through the registry API are behind
// access control's one admin guard.
func (n *Node) routes() http.Handler {
	admin := n.access.AdminOnly
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.handleHealthz)
	mux.HandleFunc("GET /readyz", n.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /shoal/v1/status", n.handleStatus)
	mux.HandleFunc("GET /shoal/v1/pulls", n.handlePulls)
	// The page is a public shell: its script reads the endpoints above
	// and below with the caller's credentials, which decide what it shows.
	mux.Handle("GET "+ui.Prefix, ui.Handler())

	// Which peers this node talks to, and where, is the operator's: the
	// admin guard, as for the endpoints below.
	mux.Handle("GET /shoal/v1/peers", admin(http.HandlerFunc(n.handlePeers)))
	mux.Handle("POST /shoal/v1/import", admin(http.HandlerFunc(n.ingest.HandleImport)))
	mux.Handle("POST /shoal/v1/preload", admin(http.HandlerFunc(n.ingest.HandlePreload)))

	mux.HandleFunc("PUT /shoal/v1/policy", n.access.HandlePutPolicy)
	mux.HandleFunc("GET /v2/token", n.access.HandleToken)

	mux.Handle("PUT /shoal/v1/scan/db", admin(http.HandlerFunc(n.scans.HandlePutDB)))
	mux.HandleFunc("GET /shoal/v1/scan/db", n.scans.HandleGetDB)
	mux.HandleFunc("GET /shoal/v1/scans/{digest}", n.scans.HandleGetScan)
	mux.Handle("POST /shoal/v1/scans", admin(http.HandlerFunc(n.scans.HandlePostScan)))
	// Like a scan report, an image's signature checks are shown to a
	// caller that may pull the repository they were made in.
	mux.Handle("GET /shoal/v1/signatures/{digest}", n.signatures.HandleGetChecks(n.access.MayPull))

	mux.Handle("/v2/", oci.NewHandler(n.registry, oci.HandlerOptions{
		Authorize:        n.access.Authorize,
		FilterCatalog:    n.access.FilterCatalog,
		MaxManifestBytes: n.cfg.MaxManifestBytes,
		Logger:           n.cfg.Logger.With("component", "oci"),
		Observe:          n.metrics.observe,
		BytesServed: func(b int64) {
			n.metrics.servedBytes.WithLabelValues("client").Add(float64(b))
		},
		ManifestServed: n.notePull,
	}))
	return mux
}
