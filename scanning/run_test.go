package scanning

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
)

var busyboxVuln = scan.Finding{ID: "CVE-2019-5747", Package: "busybox", Severity: scan.SeverityHigh, Fixed: "1.1"}

// TestScanManifest follows scanning on demand: refused without a
// database; a signed report stored beside an SBOM, held and announced;
// a report held returned again unless forced or made against an older
// database; an index scanned per image manifest; what cannot be scanned.
func TestScanManifest(t *testing.T) {
	e := newEnv(t, envOptions{fleet: true})
	ctx := context.Background()
	repo := repository.Local("team/app")
	vulnerable := e.putImage(t, repo, "vulnerable", "busybox 1.0", "musl 1.2")
	clean := e.putImage(t, repo, "clean", "musl 1.2")

	if _, err := e.s.scanManifest(ctx, repo, vulnerable, false); !errors.Is(err, errNoDB) {
		t.Fatalf("a scan without a database: %v", err)
	}

	db := e.importDB(t, time.Now().Add(-time.Hour), busyboxVuln)
	if !slices.ContainsFunc(e.fleet.announcements(), func(a p2p.ScanAnnouncement) bool {
		_, err := verifyDBSignature(a.Signer, a.Signature, a.Digest)
		return a.Kind == p2p.AnnounceDB && a.Digest == db.layer && a.Signer == e.s.ID().String() && err == nil
	}) {
		t.Errorf("the database imported was not announced signed: %+v", e.fleet.announcements())
	}

	held, err := e.s.scanManifest(ctx, repo, vulnerable, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 {
		t.Fatalf("%d reports", len(held))
	}
	h := held[0]
	r := h.report
	if r.Image != vulnerable.Digest || r.Platform != "linux/amd64" || r.Packages != 2 || r.DB != db.layer || !r.DBUpdated.Equal(db.db.Updated()) ||
		r.Scanner != e.s.ID().String() || r.ScannerVersion != "test" || len(r.Findings) != 1 || r.Findings[0].ID != busyboxVuln.ID || r.Findings[0].Installed != "1.0" {
		t.Errorf("report = %+v", r)
	}
	// Signed, stored as a referrer beside the SBOM, held and announced.
	br, err := e.store.OpenBlob(h.digest)
	if err != nil {
		t.Fatal(err)
	}
	env, err := io.ReadAll(br.Content)
	br.Close()
	if _, signer, verr := scan.VerifyReport(env); err != nil || verr != nil || signer != e.s.ID() {
		t.Errorf("the stored envelope: %v, %v, signer %s", err, verr, signer)
	}
	if got, want := referrerTypes(t, e.store, repo.Key(), vulnerable.Digest), []string{sbomArtifactType, scan.ReportArtifactType}; !slices.Equal(got, want) {
		t.Errorf("referrers = %v, want %v", got, want)
	}
	if e.s.Trusted(vulnerable.Digest) != r {
		t.Error("the report is not held")
	}
	waitFor(t, "the report's announcement", func() bool {
		return slices.ContainsFunc(e.fleet.announcements(), func(a p2p.ScanAnnouncement) bool {
			return a.Kind == p2p.AnnounceReport && a.Digest == h.digest && a.Image == vulnerable.Digest && a.Repo == repo.Key() && a.Signer == e.s.ID().String()
		})
	})

	inventories := e.engine.inventories.Load()
	for _, step := range []struct {
		name     string
		m        *oci.Manifest
		force    bool
		importDB bool
		wantNew  bool // scanned again
	}{
		{name: "again", m: vulnerable},
		{name: "forced", m: vulnerable, force: true, wantNew: true},
		{name: "again after forcing", m: vulnerable},
		{name: "after a newer database", m: vulnerable, importDB: true, wantNew: true},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := e.s.heldReport(step.m.Digest)
			if step.importDB {
				db = e.importDB(t, time.Now(), busyboxVuln)
			}
			held, err := e.s.scanManifest(ctx, repo, step.m, step.force)
			if err != nil || len(held) != 1 {
				t.Fatalf("%d reports, %v", len(held), err)
			}
			if scanned := held[0] != before; scanned != step.wantNew {
				t.Errorf("scanned again: %v, want %v", scanned, step.wantNew)
			}
			if now := e.engine.inventories.Load(); (now > inventories) != step.wantNew {
				t.Errorf("inventories taken: %d, then %d", inventories, now)
			}
			inventories = e.engine.inventories.Load()
			if held[0].report.DB != db.layer {
				t.Errorf("the report is against %s, want %s", held[0].report.DB, db.layer)
			}
			if e.s.heldReport(step.m.Digest) != held[0] {
				t.Error("the report returned is not the one held")
			}
		})
	}

	// An index is scanned per image manifest; attestations are not images.
	attestation := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("attestation"), Size: 10,
		Platform: &ocispec.Platform{OS: "unknown", Architecture: "unknown"}}
	platform := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: clean.Digest, Size: int64(len(clean.Bytes)),
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	nested := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromString("nested"), Size: 10}
	index := func(children ...ocispec.Descriptor) *oci.Manifest {
		return e.putManifest(t, repo, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children}, "index")
	}
	held, err = e.s.scanManifest(ctx, repo, index(attestation, platform, nested), false)
	if err != nil || len(held) != 1 || held[0].report.Image != clean.Digest || len(held[0].report.Findings) != 0 {
		t.Errorf("an index: %v, %v", held, err)
	}
	if _, err := e.s.scanManifest(ctx, repo, index(attestation), false); err == nil || !strings.Contains(err.Error(), "no image manifests") {
		t.Errorf("an index of attestations: %v", err)
	}

	// An artifact is no image; an image whose layer cannot be read fails.
	artifact := e.putManifest(t, repo, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: "application/vnd.example.config+json", Digest: emptyDescriptor().Digest, Size: 2}})
	if _, err := e.s.scanManifest(ctx, repo, artifact, false); err == nil || !strings.Contains(err.Error(), "is not an image") {
		t.Errorf("an artifact: %v", err)
	}
	broken := e.putManifest(t, repo, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: e.configOf(t, vulnerable), Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("gone"), Size: 4}}})
	if _, err := e.s.scanManifest(ctx, repo, broken, false); err == nil || !strings.Contains(err.Error(), "layer "+digest.FromString("gone").String()) {
		t.Errorf("an image with a layer missing: %v", err)
	}

	for series, want := range map[string]float64{
		`shoal_scans_total{result="vulnerable"}`:             3,
		`shoal_scans_total{result="clean"}`:                  1,
		`shoal_scans_total{result="failed"}`:                 2,
		`shoal_images_by_worst_severity{severity="high"}`:    1,
		`shoal_images_by_worst_severity{severity="none"}`:    1,
		`shoal_images_by_worst_severity{severity="unknown"}`: 0,
	} {
		if got := e.metric(t, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// configOf is image m's config descriptor.
func (e *testEnv) configOf(t *testing.T, m *oci.Manifest) ocispec.Descriptor {
	t.Helper()
	i := info(t, m)
	for _, b := range i.Blobs {
		if scan.IsImageConfig(b.MediaType) {
			return b
		}
	}
	t.Fatal("no config")
	return ocispec.Descriptor{}
}

// TestScanOnPull: with scan on pull and a database, each image manifest
// stored is scanned in the background, once; indexes, referrers,
// artifacts and the database itself are not, nor is anything stored
// before a database was loaded, nor an image whose scan failed lately.
// Missing (the gate's call) queues a scan with or without scan on pull.
func TestScanOnPull(t *testing.T) {
	for _, onPull := range []bool{true, false} {
		name := "scan on pull"
		if !onPull {
			name = "without scan on pull"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOptions{onPull: onPull})
			repo := repository.Local("team/app")
			early := e.putImage(t, repo, "early", "busybox 0.9")
			e.s.ManifestStored(repo, early.Digest, info(t, early)) // no database yet
			e.importDB(t, time.Now(), busyboxVuln)

			img := e.putImage(t, repo, "v1", "busybox 1.0")
			index := e.putManifest(t, repo, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex,
				Manifests: []ocispec.Descriptor{{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(img.Bytes))}}})
			referrer := e.putManifest(t, repo, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				ArtifactType: "application/vnd.example+json", Config: emptyDescriptor(), Layers: []ocispec.Descriptor{emptyDescriptor()},
				Subject: &ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: int64(len(img.Bytes))}})
			artifact := e.putManifest(t, repo, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				Config: ocispec.Descriptor{MediaType: "application/vnd.example.config+json", Digest: emptyDescriptor().Digest, Size: 2}})
			inDBRepo := e.putImage(t, repository.Local(vulnDBRepo), "image", "busybox 0.8")
			broken := e.putManifest(t, repo, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
				Config: e.configOf(t, img), Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromString("gone"), Size: 4}}})

			for _, s := range []struct {
				repo repository.Name
				m    *oci.Manifest
			}{{repo, index}, {repo, referrer}, {repo, artifact}, {repository.Local(vulnDBRepo), inDBRepo}} {
				e.s.ManifestStored(s.repo, s.m.Digest, info(t, s.m))
			}
			e.s.ManifestStored(repo, img.Digest, nil)

			// A failed scan is not queued again for a while.
			e.s.Missing(repo, broken.Digest, info(t, broken))
			waitFor(t, "the failed scan", func() bool {
				e.s.mu.Lock()
				defer e.s.mu.Unlock()
				return !e.s.failed[broken.Digest].IsZero() && !e.s.queued[broken.Digest]
			})
			e.s.Missing(repo, broken.Digest, info(t, broken))
			e.s.ManifestStored(repo, broken.Digest, info(t, broken))

			// The worker takes the queue in order: once the last image's
			// report is held, nothing queued before it is left.
			last := e.putImage(t, repo, "last", "musl 1.2")
			e.s.ManifestStored(repo, img.Digest, info(t, img))
			e.s.Missing(repo, last.Digest, info(t, last))
			waitFor(t, "the last image's report", func() bool { return e.s.Trusted(last.Digest) != nil })

			want := int32(2) // broken, last
			if onPull {
				want = 3 // and img
			}
			if got := e.engine.inventories.Load(); got != want {
				t.Errorf("%d images scanned, want %d", got, want)
			}
			if got := e.s.Trusted(img.Digest) != nil; got != onPull {
				t.Errorf("the image stored was scanned: %v, want %v", got, onPull)
			}
			for _, d := range []digest.Digest{early.Digest, index.Digest, referrer.Digest, artifact.Digest, inDBRepo.Digest, broken.Digest} {
				if e.s.heldReport(d) != nil {
					t.Errorf("%s was scanned", d)
				}
			}
		})
	}
}
