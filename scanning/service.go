package scanning

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
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

// Store is what scanning needs of the content store (cache.Store).
type Store interface {
	PutBlob(d digest.Digest, r io.Reader) (int64, error)
	StatBlob(d digest.Digest) (int64, error)
	OpenBlob(d digest.Digest) (*cache.Reader, error)
	LinkBlob(repo string, local bool, d digest.Digest) error
	PutManifest(repo string, local bool, rec cache.ManifestRecord, body []byte, tags ...string) error
	GetManifest(repo string, d digest.Digest) (cache.ManifestRecord, []byte, error)
	Tag(repo, tag string) (digest.Digest, time.Time, error)
	IsLocal(repo string) bool
	// ManifestRepos lists the repositories that hold manifest d.
	ManifestRepos(d digest.Digest) ([]string, error)
}

// Fleet is what scanning needs of the p2p host (p2p.Host): who is
// designated to scan an image, who holds it, and the exchange of signed
// reports and databases.
type Fleet interface {
	Designated(ctx context.Context, d digest.Digest) ([]peer.ID, error)
	FindProviders(ctx context.Context, d digest.Digest, max int) ([]peer.AddrInfo, error)
	ExchangeScans(handler p2p.ScanHandler) error
	AnnounceScan(ctx context.Context, a p2p.ScanAnnouncement) error
	FetchFrom(ctx context.Context, d digest.Digest, repo repository.Name, peers []peer.ID, max int64) (io.ReadCloser, int64, error)
	Penalise(p peer.ID, why string)
	Member(p peer.ID) bool
}

// Config is what the scanning service is made of.
type Config struct {
	// DataDir holds the held reports (<DataDir>/scans) and, without a
	// Key, the signing key.
	DataDir string
	// TempDir holds an imported database while it is checked (the file
	// is unlinked at once); <DataDir>/scans when empty.
	TempDir string
	// Key signs reports and databases: the node's peer key in a fleet;
	// nil to use (or create) <DataDir>/scan.key.
	Key   crypto.PrivKey
	Store Store
	// Content reads images to scan: the node's content source without
	// the signature and scan gates.
	Content pull.Source
	// Names maps the refs given to POST /shoal/v1/scans.
	Names repository.Resolver
	// Fleet is nil when the node runs alone.
	Fleet Fleet
	// MayPull says whether the caller of r may pull repository repo (a
	// key); reports are served only about images in a repository the
	// caller may pull. Nil lets everyone read every report (an open
	// node).
	MayPull func(r *http.Request, repo string) bool
	// Policy is the access policy in force (nil: an open node); Now the
	// time it is judged at.
	Policy func() *policy.Policy
	Now    func() time.Time
	// OnPull queues a background scan of each image manifest stored for
	// the first time, while a database is loaded.
	OnPull bool
	// Version is the node's, written into reports.
	Version string
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	// engine replaces the real scanner (tests).
	engine *scanEngine
}

// Service is the node's scanning: the vulnerability database it holds,
// the signed reports it holds (its own and trusted peers'), the
// background scan queue, the fleet exchange, and the metrics.
type Service struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	fleet  Fleet
	now    func() time.Time
	flight singleflight.Group

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
	repo   repository.Name
	digest digest.Digest
}

// Open sets the scanning service up: the signing key, the held reports
// and database, the metrics, the worker and, in a fleet, the exchange of
// reports and databases.
func Open(cfg Config) (*Service, error) {
	s := &Service{
		cfg:     cfg,
		log:     cfg.Logger,
		store:   cfg.Store,
		fleet:   cfg.Fleet,
		now:     cfg.Now,
		engine:  defaultScanEngine(),
		key:     cfg.Key,
		dir:     filepath.Join(cfg.DataDir, scanReportsDir),
		onPull:  cfg.OnPull,
		reports: map[digest.Digest]*heldReport{},
		queued:  map[digest.Digest]bool{},
		failed:  map[digest.Digest]time.Time{},
		waiters: map[digest.Digest][]chan struct{}{},
		queue:   make(chan scanJob, scanQueueLength),
	}
	if cfg.engine != nil {
		s.engine = *cfg.engine
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.TempDir == "" {
		s.cfg.TempDir = s.dir
	}
	if s.cfg.Policy == nil {
		s.cfg.Policy = func() *policy.Policy { return nil }
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.key == nil {
		k, err := loadOrCreateScanKey(filepath.Join(cfg.DataDir, scanKeyFile))
		if err != nil {
			s.cancel()
			return nil, fmt.Errorf("the scan signing key: %w", err)
		}
		s.key = k
	}
	id, err := peer.IDFromPrivateKey(s.key)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("the scan signing key: %w", err)
	}
	s.id = id
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		s.cancel()
		return nil, err
	}
	if err := s.registerScanMetrics(); err != nil {
		s.cancel()
		return nil, err
	}
	s.loadHeldReports()
	if err := s.loadStoredDB(); err != nil {
		s.log.Warn("the stored vulnerability database could not be loaded; import one again", "err", err)
	}
	s.wg.Add(1)
	go s.scanWorker()
	if s.fleet != nil {
		if err := s.startScanFleet(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Close stops the worker and the fleet exchange's announcer.
func (s *Service) Close() {
	if s == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}

// ID is the peer ID of the key that signs this node's reports and the
// databases it imports.
func (s *Service) ID() peer.ID { return s.id }

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

func (s *Service) registerScanMetrics() error {
	s.scansTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_scans_total",
		Help: "Image scans this node ran, by result: clean, vulnerable (at least one finding) or failed.",
	}, []string{"result"})
	for _, r := range []string{"clean", "vulnerable", "failed"} {
		s.scansTotal.WithLabelValues(r)
	}
	if s.cfg.Metrics == nil {
		return nil
	}
	if err := s.cfg.Metrics.Register(s.scansTotal); err != nil {
		return err
	}
	return s.cfg.Metrics.Register(newScanGauges(s))
}

// scanGauges computes the gauges over held reports and the database.
type scanGauges struct {
	s                  *Service
	worstSeverity, age *prometheus.Desc
}

func newScanGauges(s *Service) scanGauges {
	return scanGauges{
		s: s,
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
	s := g.s
	counts := map[string]int{"none": 0, "unknown": 0, "low": 0, "medium": 0, "high": 0, "critical": 0}
	s.mu.Lock()
	held := make([]*heldReport, 0, len(s.reports))
	for _, h := range s.reports {
		held = append(held, h)
	}
	db := s.db
	s.mu.Unlock()
	for _, h := range held {
		if ok, _ := g.s.reportTrusted(h); !ok {
			continue
		}
		f, found := h.report.Worst()
		if !found {
			counts["none"]++
			continue
		}
		counts[strings.ToLower(string(f.Severity.Normal()))]++
	}
	for sev, c := range counts {
		ch <- prometheus.MustNewConstMetric(g.worstSeverity, prometheus.GaugeValue, float64(c), sev)
	}
	if db != nil {
		ch <- prometheus.MustNewConstMetric(g.age, prometheus.GaugeValue, time.Since(db.db.Updated()).Seconds())
	}
}

// currentDB is the database in use, or nil.
func (s *Service) currentDB() *heldDB {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db
}

// --- trust ---

// scanningPolicy is the policy's scanning section, or nil.
func (s *Service) scanningPolicy() *policy.Scanning {
	p := s.cfg.Policy()
	if p == nil || p.Document == nil {
		return nil
	}
	return p.Document.Scanning
}

// maxReportAge is the policy's max_report_age, or the default.
func (s *Service) maxReportAge() time.Duration {
	if sp := s.scanningPolicy(); sp != nil && sp.MaxReportAge != "" {
		if d, err := time.ParseDuration(sp.MaxReportAge); err == nil && d > 0 {
			return d
		}
	}
	return DefaultMaxReportAge
}

// member says whether id belongs to the fleet: this node, or a peer the
// membership admits.
func (s *Service) member(id peer.ID) bool {
	if s != nil && id == s.id {
		return true
	}
	return s.fleet != nil && s.fleet.Member(id)
}

// scannerTrusted says whether reports signed by id count. With a policy
// that lists scanners, only those; otherwise (an open node, or a policy
// without scanners) any fleet member.
func (s *Service) scannerTrusted(id peer.ID) bool {
	sp := s.scanningPolicy()
	if sp == nil || len(sp.Scanners) == 0 {
		return s.member(id)
	}
	return keyListed(id, sp.Scanners)
}

// dbSignerTrusted says whether databases signed by id may be loaded:
// with a policy naming database keys or scanners, only those; otherwise
// any fleet member.
func (s *Service) dbSignerTrusted(id peer.ID) bool {
	sp := s.scanningPolicy()
	if sp == nil || (len(sp.Scanners) == 0 && len(sp.DatabaseKeys) == 0) {
		return s.member(id)
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
func (s *Service) reportTrusted(h *heldReport) (bool, string) {
	if !s.scannerTrusted(h.signer) {
		return false, fmt.Sprintf("signer %s is not a trusted scanner", h.signer)
	}
	if age := s.now().Sub(h.report.Finished); age > s.maxReportAge() {
		return false, fmt.Sprintf("the report is %s old, more than %s", age.Round(time.Second), s.maxReportAge())
	}
	return true, ""
}

// trustedReport is the held report on image d if it counts now.
func (s *Service) trustedReport(d digest.Digest) *heldReport {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	h := s.reports[d]
	s.mu.Unlock()
	if h == nil {
		return nil
	}
	if ok, _ := s.reportTrusted(h); !ok {
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
func (s *Service) holdReport(h *heldReport) bool {
	img := h.report.Image
	s.mu.Lock()
	if old := s.reports[img]; old != nil && !h.report.Finished.After(old.report.Finished) {
		s.mu.Unlock()
		return false
	}
	if len(s.reports) >= maxHeldReports {
		s.mu.Unlock()
		s.log.Warn("too many scan reports held; not keeping another", "image", img)
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
		s.log.Warn("keeping a scan report on disk", "image", img, "err", err)
	}
	return true
}

// loadHeldReports reads the reports kept on disk, verifying each again.
func (s *Service) loadHeldReports() {
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
			s.log.Warn("an unreadable held scan report; ignoring it", "file", e.Name(), "err", err)
			continue
		}
		r, signer, err := scan.VerifyReport(f.Envelope)
		if err != nil {
			s.log.Warn("a held scan report does not verify; ignoring it", "file", e.Name(), "err", err)
			continue
		}
		s.reports[r.Image] = &heldReport{report: r, envelope: f.Envelope, digest: digest.FromBytes(f.Envelope), signer: signer, repo: f.Repo, received: f.Received}
	}
}

// waitForReport returns a channel closed when a report on d is held.
func (s *Service) waitForReport(d digest.Digest) <-chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiters[d] = append(s.waiters[d], ch)
	s.mu.Unlock()
	return ch
}

// stopWaiting drops a waiter that gave up.
func (s *Service) stopWaiting(d digest.Digest, ch <-chan struct{}) {
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
func (s *Service) setDB(h *heldDB) {
	s.mu.Lock()
	s.db = h
	s.mu.Unlock()
	s.log.Info("vulnerability database loaded", "digest", h.layer, "records", h.db.Records(), "updated", h.db.Updated(), "signer", h.signer)
}
