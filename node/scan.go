package node

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/scan"
)

// The node's scanning service: the vulnerability database it holds, the
// signed reports it holds (its own and trusted peers'), the background
// scan queue, and the metrics. Scanning itself is scan_run.go; the HTTP
// endpoints scan_http.go; the fleet scan_fleet.go; the gate scan_gate.go.

// The vulnerability database as an OCI artifact in the node's store.
const (
	vulnDBRepo           = "shoal/vulndb"
	vulnDBTag            = "latest"
	vulnDBArtifactType   = "application/vnd.shoal.vulndb.v1"
	vulnDBLayerMediaType = "application/vnd.shoal.vulndb.v1+gzip"
	// Annotations of the database manifest: who imported it, and their
	// signature over vulnDBSigningInput(layer digest).
	annVulnDBSigner    = "dev.shoal.vulndb.signer"
	annVulnDBSignature = "dev.shoal.vulndb.signature"
	annVulnDBRecords   = "dev.shoal.vulndb.records"
	annVulnDBUpdated   = "dev.shoal.vulndb.updated"
	// maxVulnDB bounds an encoded database taken in.
	maxVulnDB = 1 << 30
)

// Scanning tunables.
const (
	// DefaultMaxReportAge is how old a report may be to count when the
	// policy sets no scanning.max_report_age.
	DefaultMaxReportAge = 7 * 24 * time.Hour
	// backgroundScanTimeout bounds one queued scan; onDemandScanTimeout
	// one POST /shoal/v1/scans.
	backgroundScanTimeout = 15 * time.Minute
	onDemandScanTimeout   = 5 * time.Minute
	// scanQueueLength bounds the background queue; more are dropped
	// (the image is scanned on its next pull).
	scanQueueLength = 256
	// peerScanWait is how long a node that is not an image's designated
	// scanner waits for that peer's report before scanning itself.
	peerScanWait = 20 * time.Second
	// failedScanRetry is how long after a background scan of an image
	// failed it is not queued again.
	failedScanRetry = 10 * time.Minute
	// maxHeldReports bounds the reports kept for lookups.
	maxHeldReports = 100_000
	scanKeyFile    = "scan.key"
	scanReportsDir = "scans"
)

// vulnDatabase is what scanning needs of a vulnerability database
// (scan/vulndb.DB).
type vulnDatabase interface {
	Match(inv *scan.Inventory) []scan.Finding
	Records() int
	Updated() time.Time
}

// scanEngine is the part of scanning that lives in scan/inventory and
// scan/vulndb, wired in scan_engine.go.
type scanEngine struct {
	decode    func(io.Reader) (vulnDatabase, error)
	inventory func(ctx context.Context, platform string, layers []func() (io.ReadCloser, error)) (*scan.Inventory, error)
	sbom      func(inv *scan.Inventory, image digest.Digest) ([]byte, error)
}

func (e scanEngine) ready() bool { return e.decode != nil && e.inventory != nil }

// heldDB is the database in use.
type heldDB struct {
	db        vulnDatabase
	layer     digest.Digest // digest of the encoded database: its version
	size      int64
	signer    string
	signature string
}

// heldReport is a verified, signed report.
type heldReport struct {
	report   *scan.Report
	envelope []byte
	digest   digest.Digest // of the envelope
	signer   peer.ID
	repo     string // store key of the repository it was stored in
	received time.Time
}

// scanState is the node's scanning state; nil fields mean "not set up".
type scanState struct {
	engine scanEngine
	key    crypto.PrivKey
	id     peer.ID
	dir    string // <data-dir>/scans: held reports, one file per image
	onPull bool

	mu      sync.Mutex
	db      *heldDB
	reports map[digest.Digest]*heldReport
	queued  map[digest.Digest]bool
	// failed remembers background scans that failed, so that an image
	// that cannot be scanned is not tried on every pull.
	failed  map[digest.Digest]time.Time
	waiters map[digest.Digest][]chan struct{}

	queue      chan scanJob
	scansTotal *prometheus.CounterVec

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type scanJob struct {
	repo   repository
	digest digest.Digest
}

// openScanning sets the scanning service up: the signing key, the held
// reports and database, the metrics, the worker and, in a fleet, the
// exchange of reports and databases. Called by New after joinFleet.
func (n *Node) openScanning() error {
	s := &scanState{
		engine:  defaultScanEngine(),
		dir:     filepath.Join(n.cfg.DataDir, scanReportsDir),
		onPull:  n.cfg.ScanOnPull,
		reports: map[digest.Digest]*heldReport{},
		queued:  map[digest.Digest]bool{},
		failed:  map[digest.Digest]time.Time{},
		waiters: map[digest.Digest][]chan struct{}{},
		queue:   make(chan scanJob, scanQueueLength),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if n.p2p != nil {
		s.key = n.p2p.PrivKey()
	} else {
		k, err := loadOrCreateScanKey(filepath.Join(n.cfg.DataDir, scanKeyFile))
		if err != nil {
			s.cancel()
			return fmt.Errorf("the scan signing key: %w", err)
		}
		s.key = k
	}
	id, err := peer.IDFromPrivateKey(s.key)
	if err != nil {
		s.cancel()
		return fmt.Errorf("the scan signing key: %w", err)
	}
	s.id = id
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		s.cancel()
		return err
	}
	n.scans = s
	n.registerScanMetrics()
	n.loadHeldReports()
	if err := n.loadStoredDB(); err != nil {
		n.log.Warn("the stored vulnerability database could not be loaded; import one again", "err", err)
	}
	s.wg.Add(1)
	go n.scanWorker()
	if n.p2p != nil {
		if err := n.startScanFleet(); err != nil {
			n.closeScanning()
			return err
		}
	}
	return nil
}

// closeScanning stops the worker and the fleet exchange's announcer.
func (n *Node) closeScanning() {
	s := n.scans
	if s == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}

func loadOrCreateScanKey(path string) (crypto.PrivKey, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		return crypto.UnmarshalPrivateKey(raw)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	if raw, err = crypto.MarshalPrivateKey(k); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return nil, err
	}
	return k, os.Rename(tmp, path)
}

func (n *Node) registerScanMetrics() {
	s := n.scans
	s.scansTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_scans_total",
		Help: "Image scans this node ran, by result: clean, vulnerable (at least one finding) or failed.",
	}, []string{"result"})
	for _, r := range []string{"clean", "vulnerable", "failed"} {
		s.scansTotal.WithLabelValues(r)
	}
	n.metrics.registry.MustRegister(s.scansTotal, newScanGauges(n))
}

// scanGauges computes the gauges over held reports and the database.
type scanGauges struct {
	n                  *Node
	worstSeverity, age *prometheus.Desc
}

func newScanGauges(n *Node) scanGauges {
	return scanGauges{
		n: n,
		worstSeverity: prometheus.NewDesc("shoal_images_by_worst_severity",
			"Images (platform manifests) with a trusted report, by the severity of their worst finding (none: no findings).", []string{"severity"}, nil),
		age: prometheus.NewDesc("shoal_vulndb_age_seconds",
			"Age of the vulnerability database in use: now minus its newest record's modification time. Absent without a database.", nil, nil),
	}
}

func (g scanGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.worstSeverity
	ch <- g.age
}

func (g scanGauges) Collect(ch chan<- prometheus.Metric) {
	s := g.n.scans
	counts := map[string]int{"none": 0, "unknown": 0, "low": 0, "medium": 0, "high": 0, "critical": 0}
	s.mu.Lock()
	held := make([]*heldReport, 0, len(s.reports))
	for _, h := range s.reports {
		held = append(held, h)
	}
	db := s.db
	s.mu.Unlock()
	for _, h := range held {
		if ok, _ := g.n.reportTrusted(h); !ok {
			continue
		}
		f, found := h.report.Worst()
		if !found {
			counts["none"]++
			continue
		}
		counts[strings.ToLower(string(severityOf(f)))]++
	}
	for sev, c := range counts {
		ch <- prometheus.MustNewConstMetric(g.worstSeverity, prometheus.GaugeValue, float64(c), sev)
	}
	if db != nil {
		ch <- prometheus.MustNewConstMetric(g.age, prometheus.GaugeValue, time.Since(db.db.Updated()).Seconds())
	}
}

func severityOf(f scan.Finding) scan.Severity {
	if f.Severity.Rank() == 0 {
		return scan.SeverityUnknown
	}
	return f.Severity
}

// currentDB is the database in use, or nil.
func (n *Node) currentDB() *heldDB {
	s := n.scans
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db
}

// --- trust ---

// scanningPolicy is the policy's scanning section, or nil.
func (n *Node) scanningPolicy() *policy.Scanning {
	p := n.currentPolicy()
	if p == nil || p.Document == nil {
		return nil
	}
	return p.Document.Scanning
}

// maxReportAge is the policy's max_report_age, or the default.
func (n *Node) maxReportAge() time.Duration {
	if sp := n.scanningPolicy(); sp != nil && sp.MaxReportAge != "" {
		if d, err := time.ParseDuration(sp.MaxReportAge); err == nil && d > 0 {
			return d
		}
	}
	return DefaultMaxReportAge
}

// member says whether id belongs to the fleet: this node, or a peer the
// membership admits.
func (n *Node) member(id peer.ID) bool {
	if n.scans != nil && id == n.scans.id {
		return true
	}
	return n.p2p != nil && n.p2p.Member(id)
}

// scannerTrusted says whether reports signed by id count. With a policy
// that lists scanners, only those; otherwise (an open node, or a policy
// without scanners) any fleet member.
func (n *Node) scannerTrusted(id peer.ID) bool {
	sp := n.scanningPolicy()
	if sp == nil || len(sp.Scanners) == 0 {
		return n.member(id)
	}
	return keyListed(id, sp.Scanners)
}

// dbSignerTrusted says whether databases signed by id may be loaded:
// with a policy naming database keys or scanners, only those; otherwise
// any fleet member.
func (n *Node) dbSignerTrusted(id peer.ID) bool {
	sp := n.scanningPolicy()
	if sp == nil || (len(sp.Scanners) == 0 && len(sp.DatabaseKeys) == 0) {
		return n.member(id)
	}
	return keyListed(id, sp.Scanners) || keyListed(id, sp.DatabaseKeys)
}

// keyListed says whether id, or the ed25519 key it carries, is among
// entries (peer IDs or PEM public keys).
func keyListed(id peer.ID, entries []string) bool {
	var raw []byte
	if pub, err := id.ExtractPublicKey(); err == nil && pub.Type() == crypto.Ed25519 {
		raw, _ = pub.Raw()
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if strings.Contains(e, "-----BEGIN") {
			if raw == nil {
				continue
			}
			if k, err := policy.ParsePublicKey([]byte(e)); err == nil && ed25519.PublicKey(raw).Equal(k) {
				return true
			}
			continue
		}
		if e == id.String() {
			return true
		}
	}
	return false
}

// reportTrusted says whether h counts now: its signer is trusted and it
// is fresh enough.
func (n *Node) reportTrusted(h *heldReport) (bool, string) {
	if !n.scannerTrusted(h.signer) {
		return false, fmt.Sprintf("signer %s is not a trusted scanner", h.signer)
	}
	if age := n.now().Sub(h.report.Finished); age > n.maxReportAge() {
		return false, fmt.Sprintf("the report is %s old, more than %s", age.Round(time.Second), n.maxReportAge())
	}
	return true, ""
}

// trustedReport is the held report on image d if it counts now.
func (n *Node) trustedReport(d digest.Digest) *heldReport {
	s := n.scans
	if s == nil {
		return nil
	}
	s.mu.Lock()
	h := s.reports[d]
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	if ok, _ := n.reportTrusted(h); !ok {
		return nil
	}
	return h
}

// --- held reports ---

// heldFile is how a held report is kept on disk.
type heldFile struct {
	Repo     string          `json:"repo"`
	Received time.Time       `json:"received"`
	Envelope json.RawMessage `json:"envelope"`
}

// holdReport keeps h as image's report if it is newer than the one held,
// and wakes anyone waiting for it. It reports whether h was taken.
func (n *Node) holdReport(h *heldReport) bool {
	s := n.scans
	img := h.report.Image
	s.mu.Lock()
	if old := s.reports[img]; old != nil && !h.report.Finished.After(old.report.Finished) {
		s.mu.Unlock()
		return false
	}
	if len(s.reports) >= maxHeldReports {
		s.mu.Unlock()
		n.log.Warn("too many scan reports held; not keeping another", "image", img)
		return false
	}
	s.reports[img] = h
	waiters := s.waiters[img]
	delete(s.waiters, img)
	s.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
	b, err := json.Marshal(heldFile{Repo: h.repo, Received: h.received, Envelope: h.envelope})
	if err == nil {
		path := filepath.Join(s.dir, img.Encoded()+".json")
		if err = os.WriteFile(path+".tmp", b, 0o600); err == nil {
			err = os.Rename(path+".tmp", path)
		}
	}
	if err != nil {
		n.log.Warn("keeping a scan report on disk", "image", img, "err", err)
	}
	return true
}

// loadHeldReports reads the reports kept on disk, verifying each again.
func (n *Node) loadHeldReports() {
	s := n.scans
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for i, e := range entries {
		if i >= maxHeldReports {
			break
		}
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			continue
		}
		var f heldFile
		if err := json.Unmarshal(b, &f); err != nil {
			n.log.Warn("an unreadable held scan report; ignoring it", "file", e.Name(), "err", err)
			continue
		}
		r, signer, err := scan.VerifyReport(f.Envelope)
		if err != nil {
			n.log.Warn("a held scan report does not verify; ignoring it", "file", e.Name(), "err", err)
			continue
		}
		s.reports[r.Image] = &heldReport{report: r, envelope: f.Envelope, digest: digest.FromBytes(f.Envelope), signer: signer, repo: f.Repo, received: f.Received}
	}
}

// waitForReport returns a channel closed when a report on d is held.
func (n *Node) waitForReport(d digest.Digest) <-chan struct{} {
	s := n.scans
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiters[d] = append(s.waiters[d], ch)
	s.mu.Unlock()
	return ch
}

// stopWaiting drops a waiter that gave up.
func (n *Node) stopWaiting(d digest.Digest, ch <-chan struct{}) {
	s := n.scans
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[d]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(s.waiters, d)
	} else {
		s.waiters[d] = ws
	}
}

// --- the database ---

// vulnDBSigningInput is what a database signature covers: the encoded
// database's digest, under a domain prefix.
func vulnDBSigningInput(layer digest.Digest) []byte {
	return []byte("shoal-vulndb-v1 " + layer.String())
}

// verifyDBSignature checks sig (base64) by signer over layer.
func verifyDBSignature(signer string, sig string, layer digest.Digest) (peer.ID, error) {
	id, err := peer.Decode(signer)
	if err != nil {
		return "", fmt.Errorf("signer %q is not a peer ID", signer)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return "", fmt.Errorf("signer %s carries no ed25519 key", id)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "", errors.New("the signature is not base64")
	}
	if ok, err := pub.Verify(vulnDBSigningInput(layer), raw); err != nil || !ok {
		return "", fmt.Errorf("the database signature by %s does not verify", id)
	}
	return id, nil
}

// setDB puts db in use.
func (n *Node) setDB(h *heldDB) {
	s := n.scans
	s.mu.Lock()
	s.db = h
	s.mu.Unlock()
	n.log.Info("vulnerability database loaded", "digest", h.layer, "records", h.db.Records(), "updated", h.db.Updated(), "signer", h.signer)
}
