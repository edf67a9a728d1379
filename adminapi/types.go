package adminapi

import (
	"time"

	"github.com/shoal-dev/shoal/scan"
)

// Status is the node's GET /shoal/v1/status document: what the node is and
// holds.
type Status struct {
	// Version is the node's Shoal version.
	Version string `json:"version"`
	// PeerID is the node's libp2p peer ID; empty without a p2p host.
	PeerID string `json:"peer_id"`
	// P2PAddrs are full multiaddrs ending in /p2p/<peer id>, usable as
	// another node's --bootstrap.
	P2PAddrs []string `json:"p2p_addrs"`
	// Peers is how many peers the node is connected to.
	Peers int `json:"peers"`
	// ConnectedPeers lists them; absent from nodes older than the field,
	// and from answers to callers that are not admins (Public).
	ConnectedPeers []PeerStatus `json:"connected_peers,omitempty"`
	// KnownPeers lists every peer the node knows: connected now, or seen
	// in the last day (connected to, or heard of through the fleet), with
	// the facts each told about itself. Absent from nodes older than the
	// field, and from answers to callers that are not admins (Public).
	KnownPeers []KnownPeer `json:"known_peers,omitempty"`
	// Cache is the node's content store.
	Cache CacheStatus `json:"cache"`
	// Policy is the signed policy in force.
	Policy PolicyStatus `json:"policy"`
	// Upstream lists the node's upstream rules as NAME=URL.
	Upstream []string `json:"upstreams"`
	// Traffic is the node's recent traffic by source; absent from nodes
	// older than the field.
	Traffic *Traffic `json:"traffic,omitempty"`
}

// Traffic is what a node moved in each of its last intervals (a minute
// each, an hour in all), oldest first.
type Traffic struct {
	IntervalSeconds float64         `json:"interval_seconds"`
	Samples         []TrafficSample `json:"samples"`
}

// TrafficSample is one interval's bytes, ending At: served to the node's
// clients, fetched from peers and from upstream.
type TrafficSample struct {
	At            time.Time `json:"at"`
	ClientBytes   int64     `json:"client_bytes"`
	PeerBytes     int64     `json:"peer_bytes"`
	UpstreamBytes int64     `json:"upstream_bytes"`
}

// Public is the status as a caller that is not an admin sees it: the
// addresses of the node's peers map the fleet's network, which is an
// admin's business, not every puller's.
func (s Status) Public() Status {
	s.ConnectedPeers = nil
	s.KnownPeers = nil
	return s
}

// PeerStatus is a peer a node is connected to.
type PeerStatus struct {
	// ID is its libp2p peer ID.
	ID string `json:"id"`
	// Addr is the multiaddr the node is connected to it at.
	Addr string `json:"addr"`
	// ConnectedSince is when that connection opened.
	ConnectedSince *time.Time `json:"connected_since,omitempty"`
	// Version is the Shoal version the peer told; absent when it did
	// not (an earlier release, or not identified yet).
	Version string `json:"version,omitempty"`
}

// CacheStatus is the content store part of Status.
type CacheStatus struct {
	// Bytes is the store's size, what MaxBytes limits: the blobs held and
	// the bytes of open upload sessions (UploadBytes).
	Bytes int64 `json:"bytes"`
	// Blobs is how many blobs are held.
	Blobs int `json:"blobs"`
	// MaxBytes is the store's size limit, 0 for none.
	MaxBytes int64 `json:"max_bytes"`
	// UploadBytes is the part of Bytes held by open upload sessions.
	UploadBytes int64 `json:"upload_bytes"`
	// Uploads is how many upload sessions are open.
	Uploads int `json:"uploads"`
	// Rebuild is set when the node found its store's metadata missing
	// or damaged at start and rebuilt it from the blob files.
	Rebuild *CacheRebuild `json:"rebuild,omitempty"`
	// State is "ok", or "degraded" while the store cannot write (a full
	// or failing disk, a size limit held by content that may not be
	// evicted): content is then served from peers and upstream without
	// being stored.
	State string `json:"state"`
	// Reason says why the store is degraded; empty when it is not.
	Reason string `json:"reason,omitempty"`
	// DegradedSince is when the store became degraded.
	DegradedSince *time.Time `json:"degraded_since,omitempty"`
	// Filesystem is the filesystem under the data dir; nil where it
	// cannot be measured.
	Filesystem *FilesystemStatus `json:"filesystem,omitempty"`
}

// Cache states.
const (
	CacheOK       = "ok"
	CacheDegraded = "degraded"
)

// FilesystemStatus is the filesystem that holds the store, as df counts
// it, and the watermarks the store keeps it within.
type FilesystemStatus struct {
	Bytes          int64 `json:"bytes"`
	UsedBytes      int64 `json:"used_bytes"`
	AvailableBytes int64 `json:"available_bytes"`
	// UsedPercent is used over used plus available, as df shows it.
	UsedPercent float64 `json:"used_percent"`
	// HighWatermarkPercent and LowWatermarkPercent: past the high one,
	// least recently used mirrored content is evicted down to the low
	// one; 0 when off.
	HighWatermarkPercent float64 `json:"high_watermark_percent"`
	LowWatermarkPercent  float64 `json:"low_watermark_percent"`
}

// CacheRebuild says how a node rebuilt its store's metadata at start.
type CacheRebuild struct {
	// At is when the rebuild started.
	At time.Time `json:"at"`
	// Reason says what was wrong with the metadata.
	Reason string `json:"reason"`
	// SetAside is where the damaged metadata directory was moved; empty
	// when it was missing.
	SetAside string `json:"set_aside,omitempty"`
	// Blobs and Bytes count the blob files re-hashed and kept.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Quarantined counts blob files whose content did not match their
	// name, moved to QuarantineDir and never served.
	Quarantined   int    `json:"quarantined"`
	QuarantineDir string `json:"quarantine_dir,omitempty"`
	// Lost lists what the metadata held that could not be rebuilt.
	Lost []string `json:"lost"`
}

// PolicyStatus is the policy part of Status.
type PolicyStatus struct {
	// Version is the version of the policy in force, 0 when there is
	// none.
	Version int64 `json:"version"`
	// Network, Expires and Signers are the policy's: the fleet it is
	// for, when it expires, and the key IDs of the root keys whose
	// signatures verified. Absent without a policy.
	Network string     `json:"network,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
	Signers []string   `json:"signers,omitempty"`
	// Membership says which peers the policy admits to the fleet; nil
	// without a policy.
	Membership *PolicyMembership `json:"membership,omitempty"`
}

// PolicyMembership is the peers part of a policy: every peer holding the
// swarm key, or the peer IDs it lists.
type PolicyMembership struct {
	AnyWithSwarmKey bool `json:"any_with_swarm_key"`
	// AllowedPeers is how many peer IDs it lists.
	AllowedPeers int `json:"allowed_peers"`
}

// Peers is the node's GET /shoal/v1/peers document: the peers it is
// connected to now, and every peer it knows.
type Peers struct {
	Peers []Peer `json:"peers"`
	// Known are the peers connected now and those seen in the last day;
	// absent from nodes older than the field.
	Known []KnownPeer `json:"known,omitempty"`
}

// KnownPeer is a peer a node is connected to now or has seen lately.
type KnownPeer struct {
	// PeerID is its libp2p peer ID.
	PeerID string `json:"peer_id"`
	// Addrs are the remote multiaddrs of the node's connections to it,
	// or the last it was reached at; empty when the node only heard of
	// it through other peers.
	Addrs []string `json:"addrs"`
	// Connected says it is connected now, since ConnectedSince.
	Connected      bool       `json:"connected"`
	ConnectedSince *time.Time `json:"connected_since,omitempty"`
	// LastSeen is when the node last saw it: now for a connected peer,
	// else when it disconnected or last told its facts.
	LastSeen time.Time `json:"last_seen"`
	// Version is the Shoal version it told (libp2p identify, or its
	// facts); absent when it told none.
	Version string `json:"version,omitempty"`
	// Told are the facts it last told about itself; absent when it told
	// none (a node of an earlier release, or not heard yet). They are
	// the peer's own claims.
	Told *PeerFacts `json:"told,omitempty"`
}

// PeerFacts are what a peer told the fleet about itself, and when the
// node heard it.
type PeerFacts struct {
	StoreBytes int64     `json:"store_bytes"`
	Blobs      int       `json:"blobs"`
	Version    string    `json:"version,omitempty"`
	At         time.Time `json:"at"`
}

// Peer is one connected peer.
type Peer struct {
	// PeerID is its libp2p peer ID.
	PeerID string `json:"peer_id"`
	// Addrs are the remote multiaddrs of the node's connections to it.
	Addrs []string `json:"addrs"`
	// ConnectedSince is when the oldest of those connections opened.
	ConnectedSince time.Time `json:"connected_since"`
	// Version is the Shoal version the peer told; absent when it did
	// not (an earlier release).
	Version string `json:"version,omitempty"`
}

// PolicyApplied answers PUT /shoal/v1/policy: the policy the node now
// holds (the one sent, or the same one when it held it already).
type PolicyApplied struct {
	// Version is the policy document's version.
	Version uint64 `json:"version"`
	// Digest is the digest of the signed envelope, "sha256:…".
	Digest string `json:"digest"`
}

// PreloadRequest is the body of POST /shoal/v1/preload.
type PreloadRequest struct {
	// Refs are the images to fetch, as the node serves them
	// (docker.io/library/alpine:3.20, myteam/app@sha256:…).
	Refs []string `json:"refs"`
}

// ImageStreamLine is one line of the JSON stream that POST
// /shoal/v1/import and /shoal/v1/preload answer with. Each line has one
// of these shapes:
//
//	{"blob":"sha256:…","bytes":N,"total":M}   progress: N of M bytes of the whole operation
//	{"warning":"…"}                          something skipped
//	{"ref":"…","digest":"sha256:…"}           preload: one ref done
//	{"ref":"…","error":"…"}                  preload: one ref failed
//	{"imported":[{"repo","tag","digest"}]}   import: the last line on success
//	{"preloaded":[{"ref","repo","digest"}]}  preload: the last line ("error" is set too when a ref failed)
//	{"error":"…"}                            the last line when the operation failed
type ImageStreamLine struct {
	Blob      string           `json:"blob,omitempty"`
	Bytes     int64            `json:"bytes,omitempty"`
	Total     int64            `json:"total,omitempty"`
	Warning   string           `json:"warning,omitempty"`
	Ref       string           `json:"ref,omitempty"`
	Digest    string           `json:"digest,omitempty"`
	Imported  []ImportedImage  `json:"imported,omitempty"`
	Preloaded []PreloadedImage `json:"preloaded,omitempty"`
	Error     string           `json:"error,omitempty"`
}

// Final reports whether the line ends the stream.
func (l ImageStreamLine) Final() bool {
	return l.Imported != nil || l.Preloaded != nil || (l.Error != "" && l.Ref == "")
}

// ImportedImage is an image an import stored: pull it as REPO:TAG (or
// REPO@DIGEST when Tag is empty).
type ImportedImage struct {
	Repo   string `json:"repo"`
	Tag    string `json:"tag"`
	Digest string `json:"digest"`
}

// PreloadedImage is a ref a preload fetched.
type PreloadedImage struct {
	Ref    string `json:"ref"`
	Repo   string `json:"repo"`
	Digest string `json:"digest"`
}

// ScanResult answers POST /shoal/v1/scans: the image the ref resolved to
// and a report per platform manifest.
type ScanResult struct {
	// Ref is the ref as asked.
	Ref string `json:"ref"`
	// Digest is the manifest (or index) the ref resolved to.
	Digest string `json:"digest"`
	// Reports has one report per platform manifest.
	Reports []ReportView `json:"reports"`
}

// ReportView is a report as the scan endpoints return it
// (GET /shoal/v1/scans/<digest>, and each of a ScanResult's reports).
type ReportView struct {
	*scan.Report
	// DBAge is how old the database was when the report is served: now
	// minus its newest record's modification time.
	DBAge        string  `json:"db_age"`
	DBAgeSeconds float64 `json:"db_age_seconds"`
	// Envelope is the digest of the signed report (a DSSE envelope),
	// stored as a referrer of the image.
	Envelope string `json:"envelope"`
	// Trusted says the node trusts the report's signer.
	Trusted bool `json:"trusted"`
}

// DBStatus describes the vulnerability database in use: the answer of GET
// and PUT /shoal/v1/scan/db.
type DBStatus struct {
	// Digest is the encoded database's digest.
	Digest string `json:"digest"`
	// Records is how many vulnerability records it holds.
	Records int `json:"records"`
	// Updated is its newest record's modification time.
	Updated time.Time `json:"updated"`
	// Signer is the peer ID of the node that signed it.
	Signer string `json:"signer"`
	// Size is the encoded database's size in bytes.
	Size int64 `json:"size"`
}

// Pulls is the node's GET /shoal/v1/pulls document: its recent pulls
// (manifests served to clients), newest first, of the repositories the
// caller may pull.
type Pulls struct {
	Pulls []Pull `json:"pulls"`
}

// Pull is one manifest a client pulled.
type Pull struct {
	At         time.Time `json:"at"`
	Repository string    `json:"repository"`
	Reference  string    `json:"reference"`
	Digest     string    `json:"digest"`
}

// SignatureChecks is the node's GET /shoal/v1/signatures/<digest>
// document: the last signature check of an image in each repository the
// caller may pull. Checks is empty when the node has not checked it (no
// signature rule applies, or it was not served since the node started).
type SignatureChecks struct {
	Digest string           `json:"digest"`
	Checks []SignatureCheck `json:"checks"`
}

// SignatureCheck is the outcome of an image's last signature check in
// one repository.
type SignatureCheck struct {
	Repository string `json:"repository"`
	// State is "verified", "unsigned", "failed" (signatures found, none
	// by a trusted key over this image) or "unavailable" (they could not
	// be fetched).
	State string `json:"state"`
	// Rule names the rule (its repository globs) that decided: the
	// first one not met, else every rule that applied.
	Rule string `json:"rule"`
	// Mode is the mode of the rule not met: "enforce" (refused) or
	// "warn" (served); absent when verified.
	Mode string `json:"mode,omitempty"`
	// Reason says why the rule was not met, or which signature verified.
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}
