// Package adminapi is the client side of a Shoal node's admin API: the
// /shoal/v1 endpoints, /healthz and /readyz. It holds the endpoint paths,
// the JSON documents they exchange and a Client that calls them.
//
// The wire types here have the JSON shapes the node writes and reads;
// the node's own registry endpoints (/v2/…, /v2/token) are not part of
// this package.
//
// The package stays light on purpose (no node, no libp2p host, no store),
// so a command-line tool or a test can talk to a node without linking
// one in.
package adminapi

// The admin endpoints' paths.
const (
	// PathHealthz answers GET with 200 while the process is up.
	PathHealthz = "/healthz"
	// PathReadyz answers GET with 200 when the node can serve, else 503
	// with one problem a line.
	PathReadyz = "/readyz"
	// PathMetrics answers GET with the node's Prometheus metrics, as
	// text.
	PathMetrics = "/metrics"
	// PathStatus answers GET with a Status.
	PathStatus = "/shoal/v1/status"
	// PathPeers answers GET with a Peers: the peers connected now. It is
	// an admin endpoint: loopback only while a policy is in force.
	PathPeers = "/shoal/v1/peers"
	// PathPolicy takes PUT of a signed policy envelope and answers a
	// PolicyApplied.
	PathPolicy = "/shoal/v1/policy"
	// PathImport takes POST of an image archive (a tar of an OCI image
	// layout or a docker save tarball, optionally gzip-compressed), with
	// an optional QueryRepo, and answers a stream of ImageStreamLine.
	PathImport = "/shoal/v1/import"
	// PathPreload takes POST of a PreloadRequest and answers a stream of
	// ImageStreamLine.
	PathPreload = "/shoal/v1/preload"
	// PathScanDB takes PUT of an encoded vulnerability database
	// (MediaTypeVulnDB) and answers GET; both answer a DBStatus.
	PathScanDB = "/shoal/v1/scan/db"
	// PathScans takes POST with QueryRef (and QueryForce) and answers a
	// ScanResult; GET PathScans + "/" + an image digest answers that
	// digest's ReportView.
	PathScans = "/shoal/v1/scans"
	// PathSignatures + "/" + an image digest answers GET with a
	// SignatureChecks: the node's last signature checks of that image,
	// in the repositories the caller may pull.
	PathSignatures = "/shoal/v1/signatures"
)

// Query parameters of the admin endpoints.
const (
	// QueryRepo on PathImport puts every image in one repository (NAME, or
	// NAME:TAG for an archive of one image).
	QueryRepo = "repo"
	// QueryRef on PathScans is the image to scan: REPOSITORY:TAG or
	// REPOSITORY@DIGEST as the node serves it.
	QueryRef = "ref"
	// QueryForce on PathScans, set to "1", scans even when a fresh trusted
	// report is held.
	QueryForce = "force"
)

// Media types of admin request and answer bodies.
const (
	// MediaTypeImageArchive is the body of PathImport.
	MediaTypeImageArchive = "application/x-tar"
	// MediaTypeImageStream is the JSON-lines answer of PathImport and
	// PathPreload.
	MediaTypeImageStream = "application/x-ndjson"
	// MediaTypeVulnDB is an encoded vulnerability database, the body of
	// PUT PathScanDB.
	MediaTypeVulnDB = "application/vnd.shoal.vulndb.v1+gzip"
	// mediaTypeJSON is every other body.
	mediaTypeJSON = "application/json"
)
