package scanning

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
)

// --- a scanning service over a real store and in-memory content ---

// testEnv is a Service over a cache.Store in a temp dir, reading images
// from an in-memory source, with a fake engine and a policy the test
// sets.
type testEnv struct {
	dir     string
	store   *cache.Store
	content *memSource
	engine  *fakeEngine
	fleet   *fakeFleet // nil when the node runs alone
	policy  atomic.Pointer[policy.Policy]
	opts    envOptions
	reg     *prometheus.Registry
	s       *Service
}

type envOptions struct {
	fleet  bool
	onPull bool
	// now is the clock reports are judged by; nil for time.Now.
	now func() time.Time
}

func newEnv(t *testing.T, opts envOptions) *testEnv {
	t.Helper()
	e := &testEnv{dir: t.TempDir(), content: newMemSource(), engine: &fakeEngine{}, opts: opts}
	store, err := cache.Open(filepath.Join(e.dir, "store"), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	if opts.fleet {
		e.fleet = newFakeFleet()
	}
	t.Cleanup(func() {
		e.s.Close()
		store.Close()
	})
	e.s = e.open(t)
	return e
}

func (e *testEnv) open(t *testing.T) *Service {
	t.Helper()
	// A registry per service: a restarted one registers its metrics again.
	e.reg = prometheus.NewRegistry()
	cfg := Config{
		DataDir: e.dir, Store: e.store, Content: e.content,
		Names:  repository.Resolver{HasRule: func(string) bool { return false }, IsLocal: e.store.IsLocal},
		Policy: e.policy.Load, Now: e.opts.now, OnPull: e.opts.onPull, Version: "test",
		engine: e.engine.scanEngine(), Metrics: e.reg,
	}
	if e.fleet != nil {
		cfg.Fleet = e.fleet
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reopen closes the service and opens another on the same data dir and
// store, as a restart does.
func (e *testEnv) reopen(t *testing.T) {
	t.Helper()
	e.s.Close()
	e.s = e.open(t)
}

// setScanning puts a policy with this scanning section in force; nil sc
// is a policy without one.
func (e *testEnv) setScanning(sc *policy.Scanning) {
	e.policy.Store(&policy.Policy{Document: &policy.Document{Scanning: sc}})
}

// importDB takes in a fake database updated at updated, signed by the
// service, as PUT /shoal/v1/scan/db does.
func (e *testEnv) importDB(t *testing.T, updated time.Time, vulns ...scan.Finding) *heldDB {
	t.Helper()
	h, err := e.s.importDB(bytes.NewReader(encodeFakeDB(t, updated, vulns...)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// putImage makes an image of packages ("name version" each) under repo
// and tag: its blobs and manifest in the content source, the manifest in
// the store too (where the background scans read it).
func (e *testEnv) putImage(t *testing.T, repo repository.Name, tag string, packages ...string) *oci.Manifest {
	t.Helper()
	cfg := e.content.putBlob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	layer := e.content.putBlob([]byte(strings.Join(packages, "\n") + "\n"))
	layer.MediaType = ocispec.MediaTypeImageLayer
	return e.putManifest(t, repo, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfg, Layers: []ocispec.Descriptor{layer},
	}, tag)
}

// putManifest stores m in the content source and the store.
func (e *testEnv) putManifest(t *testing.T, repo repository.Name, m any, tags ...string) *oci.Manifest {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var mt struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(body, &mt)
	info, err := oci.ParseManifest(mt.MediaType, body)
	if err != nil {
		t.Fatal(err)
	}
	om := e.content.putManifest(repo, mt.MediaType, body, tags...)
	if err := e.store.PutManifest(repo.Key(), !repo.Mirrored(), cache.RecordFor(om.Digest, int64(len(body)), info), body, tags...); err != nil {
		t.Fatal(err)
	}
	return om
}

// info is m's parsed manifest, as the pull path hands ManifestStored.
func info(t *testing.T, m *oci.Manifest) *oci.ManifestInfo {
	t.Helper()
	i, err := oci.ParseManifest(m.MediaType, m.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// referrerTypes are the artifact types of subject's referrers in repo.
func referrerTypes(t *testing.T, store *cache.Store, repo string, subject digest.Digest) []string {
	t.Helper()
	descs, err := store.Referrers(repo, subject)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range descs {
		out = append(out, d.ArtifactType)
	}
	sort.Strings(out)
	return out
}

// --- keys, reports, policies ---

// pemOf is k's public key as policy PEM.
func pemOf(t *testing.T, k crypto.PrivKey) string {
	t.Helper()
	raw, err := k.GetPublic().Raw()
	if err != nil {
		t.Fatal(err)
	}
	b, err := policy.MarshalPublicKey(ed25519.PublicKey(raw))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signedReport is an envelope by key of a report on image finished at
// finished.
func signedReport(t *testing.T, key crypto.PrivKey, image digest.Digest, finished time.Time, findings ...scan.Finding) []byte {
	t.Helper()
	if findings == nil {
		findings = []scan.Finding{}
	}
	id, _ := peer.IDFromPrivateKey(key)
	r := &scan.Report{Image: image, Platform: "linux/amd64", DB: digest.FromString("db"), DBUpdated: finished.Add(-time.Hour),
		Scanner: id.String(), Started: finished.Add(-time.Second), Finished: finished, Findings: findings}
	env, err := scan.SignReport(r, key)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// tamper is env with its payload changed (to that of another report by
// the same key) and its signatures kept: an envelope that does not
// verify.
func tamper(t *testing.T, env []byte) []byte {
	t.Helper()
	r, signer, err := scan.VerifyReport(env)
	if err != nil {
		t.Fatal(err)
	}
	var m, o map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	key, _ := testpeer.Key(t)
	if err := json.Unmarshal(signedReport(t, key, r.Image, r.Finished.Add(time.Second)), &o); err != nil {
		t.Fatal(err)
	}
	m["payload"] = o["payload"]
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := scan.VerifyReport(b); err == nil {
		t.Fatalf("the envelope by %s still verifies", signer)
	}
	return b
}

// heldBy is a held report on image by signer, finished at finished.
func heldBy(t *testing.T, key crypto.PrivKey, image digest.Digest, finished time.Time) *heldReport {
	t.Helper()
	env := signedReport(t, key, image, finished)
	r, signer, err := scan.VerifyReport(env)
	if err != nil {
		t.Fatal(err)
	}
	return &heldReport{report: r, envelope: env, digest: digest.FromBytes(env), signer: signer, received: time.Now().UTC()}
}

// --- a fake engine: a database of JSON, an inventory of text layers ---

// fakeDBFile is the fake engine's encoded database.
type fakeDBFile struct {
	Fake    string         `json:"fake_vulndb"`
	Updated time.Time      `json:"updated"`
	Vulns   []scan.Finding `json:"vulns"`
}

// encodeFakeDB is a database updated at updated in which every version
// of each finding's Package is vulnerable to it.
func encodeFakeDB(t *testing.T, updated time.Time, vulns ...scan.Finding) []byte {
	t.Helper()
	b, err := json.Marshal(fakeDBFile{Fake: "v1", Updated: updated, Vulns: vulns})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fakeDB struct{ f fakeDBFile }

func (d fakeDB) Records() int       { return len(d.f.Vulns) }
func (d fakeDB) Updated() time.Time { return d.f.Updated }
func (d fakeDB) Match(inv *scan.Inventory) []scan.Finding {
	var out []scan.Finding
	for _, p := range inv.Packages {
		for _, v := range d.f.Vulns {
			if v.Package == p.Name {
				v.Installed = p.Version
				out = append(out, v)
			}
		}
	}
	return out
}

// fakeEngine counts the inventories it takes; a layer is lines of
// "name version".
type fakeEngine struct {
	inventories atomic.Int32
	// block, when set, holds each inventory until it is closed.
	block chan struct{}
}

func (e *fakeEngine) scanEngine() *scanEngine {
	return &scanEngine{
		decode: func(r io.Reader) (vulnDatabase, error) {
			var f fakeDBFile
			if err := json.NewDecoder(r).Decode(&f); err != nil || f.Fake != "v1" {
				return nil, fmt.Errorf("not a fake database (%v)", err)
			}
			return fakeDB{f}, nil
		},
		inventory: func(ctx context.Context, platform string, layers []func() (io.ReadCloser, error)) (*scan.Inventory, error) {
			e.inventories.Add(1)
			if e.block != nil {
				select {
				case <-e.block:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			inv := &scan.Inventory{Platform: platform, OS: scan.OSRelease{ID: "fake"}}
			for _, open := range layers {
				rc, err := open()
				if err != nil {
					return nil, err
				}
				sc := bufio.NewScanner(rc)
				for sc.Scan() {
					if name, version, ok := strings.Cut(sc.Text(), " "); ok {
						inv.Packages = append(inv.Packages, scan.Package{Ecosystem: "Fake", Name: name, Version: version})
					}
				}
				rc.Close()
				if err := sc.Err(); err != nil {
					return nil, err
				}
			}
			return inv, nil
		},
		sbom: func(inv *scan.Inventory, image digest.Digest) ([]byte, error) {
			return json.Marshal(map[string]any{"bomFormat": "CycloneDX", "subject": image, "components": len(inv.Packages)})
		},
	}
}

// --- an in-memory content source ---

type memSource struct {
	mu        sync.Mutex
	manifests map[string]*oci.Manifest // repo key \x00 ref
	blobs     map[digest.Digest][]byte
}

var _ pull.Source = (*memSource)(nil)

func newMemSource() *memSource {
	return &memSource{manifests: map[string]*oci.Manifest{}, blobs: map[digest.Digest][]byte{}}
}

func (s *memSource) putBlob(b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[d] = bytes.Clone(b)
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

func (s *memSource) putManifest(repo repository.Name, mediaType string, body []byte, tags ...string) *oci.Manifest {
	m := &oci.Manifest{Digest: digest.FromBytes(body), MediaType: mediaType, Bytes: bytes.Clone(body)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ref := range append([]string{m.Digest.String()}, tags...) {
		s.manifests[repo.Key()+"\x00"+ref] = m
	}
	return m
}

func (s *memSource) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.manifests[repo.Key()+"\x00"+ref]
	if !ok {
		return nil, oci.ErrManifestUnknown.With(map[string]string{"ref": ref})
	}
	c := *m
	c.Bytes = bytes.Clone(m.Bytes)
	return &c, nil
}

func (s *memSource) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	if !ok {
		return 0, oci.ErrBlobUnknown
	}
	return int64(len(b)), nil
}

func (s *memSource) Blob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	if !ok {
		return nil, oci.ErrBlobUnknown
	}
	return &oci.Blob{Size: int64(len(b)), Content: bytes.NewReader(b), Close: func() error { return nil }}, nil
}

func (s *memSource) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	return nil, errors.New("not used by scanning")
}

func (s *memSource) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	return nil, errors.New("not used by scanning")
}

// --- a fake fleet ---

// fakeFleet serves blobs by digest, admits members, and records what is
// announced, fetched and penalised.
type fakeFleet struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	members   map[peer.ID]bool
	handler   p2p.ScanHandler
	announced []p2p.ScanAnnouncement
	fetched   []digest.Digest
	penalised []peer.ID
}

var _ Fleet = (*fakeFleet)(nil)

func newFakeFleet() *fakeFleet {
	return &fakeFleet{blobs: map[digest.Digest][]byte{}, members: map[peer.ID]bool{}}
}

// hold makes the fleet serve body as d (which need not be its digest).
func (f *fakeFleet) hold(d digest.Digest, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[d] = bytes.Clone(body)
}

func (f *fakeFleet) admit(id peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[id] = true
}

func (f *fakeFleet) announcements() []p2p.ScanAnnouncement {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]p2p.ScanAnnouncement(nil), f.announced...)
}

func (f *fakeFleet) fetches() []digest.Digest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]digest.Digest(nil), f.fetched...)
}

func (f *fakeFleet) Designated(ctx context.Context, d digest.Digest) ([]peer.ID, error) {
	return nil, nil
}

func (f *fakeFleet) FindProviders(ctx context.Context, d digest.Digest, max int) ([]peer.AddrInfo, error) {
	return nil, nil
}

func (f *fakeFleet) ExchangeScans(h p2p.ScanHandler) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
	return nil
}

func (f *fakeFleet) AnnounceScan(ctx context.Context, a p2p.ScanAnnouncement) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.announced = append(f.announced, a)
	return nil
}

func (f *fakeFleet) FetchFrom(ctx context.Context, d digest.Digest, repo repository.Name, peers []peer.ID, max int64) (io.ReadCloser, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched = append(f.fetched, d)
	b, ok := f.blobs[d]
	if !ok {
		return nil, 0, fmt.Errorf("no peer holds %s", d)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (f *fakeFleet) Penalise(p peer.ID, why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.penalised = append(f.penalised, p)
}

func (f *fakeFleet) Member(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[p]
}

// metric is the value of the counter or gauge series
// name{label="value"} (labels as the text format writes them).
func (e *testEnv) metric(t *testing.T, series string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := mf.GetName()
			if labels != nil {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			if name == series {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
