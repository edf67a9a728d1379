package scanning

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/scan"
)

// dbAnnouncement is key's announcement of a database with layer digest
// layer, its signature made over signedLayer.
func dbAnnouncement(t *testing.T, key crypto.PrivKey, layer, signedLayer digest.Digest, updated time.Time) p2p.ScanAnnouncement {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(vulnDBSigningInput(signedLayer))
	if err != nil {
		t.Fatal(err)
	}
	return p2p.ScanAnnouncement{Kind: p2p.AnnounceDB, Digest: layer, Size: 10, Signer: id.String(),
		Signature: base64.StdEncoding.EncodeToString(sig), Updated: updated}
}

// TestTakeDBChecksSigner: a database announced by a signer the policy
// does not trust, or whose signature does not verify, is refused before
// anything is fetched, and nothing is loaded.
func TestTakeDBChecksSigner(t *testing.T) {
	e := newEnv(t, envOptions{fleet: true})
	dbKey, _ := testpeer.Key(t)
	other, _ := testpeer.Key(t)
	e.setScanning(&policy.Scanning{DatabaseKeys: []string{pemOf(t, dbKey)}})

	layer := digest.FromString("a database")
	another := digest.FromString("another database")
	now := time.Now()
	for _, tc := range []struct {
		name string
		a    p2p.ScanAnnouncement
		want string
	}{
		{"a key the policy does not list", dbAnnouncement(t, other, layer, layer, now), "not trusted"},
		{"this node's own key, not listed", dbAnnouncement(t, e.s.key, layer, layer, now), "not trusted"},
		{"a signature over another digest", dbAnnouncement(t, other, another, layer, now), "does not verify"},
		{"the listed key's signature over another digest", dbAnnouncement(t, dbKey, another, layer, now), "does not verify"},
		{"a signer that is not a peer ID", func() p2p.ScanAnnouncement {
			a := dbAnnouncement(t, dbKey, layer, layer, now)
			a.Signer = "not-a-peer"
			return a
		}(), "not a peer ID"},
		{"a signature that is not base64", func() p2p.ScanAnnouncement {
			a := dbAnnouncement(t, dbKey, layer, layer, now)
			a.Signature = "%%%"
			return a
		}(), "not base64"},
		{"too large", func() p2p.ScanAnnouncement {
			a := dbAnnouncement(t, dbKey, layer, layer, now)
			a.Size = maxVulnDB + 1
			return a
		}(), "a database of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.s.takeDB(context.Background(), tc.a, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("takeDB = %v, want %q", err, tc.want)
			}
		})
	}
	if e.s.currentDB() != nil {
		t.Error("a database was loaded")
	}
	if f := e.fleet.fetches(); len(f) != 0 {
		t.Errorf("fetched %v", f)
	}
	if _, err := e.store.StatBlob(layer); err == nil {
		t.Error("the database is in the store")
	}
}

// TestTakeDB follows a node taking the databases a trusted key announces:
// the first, nothing older, a newer one, and nothing whose bytes are not
// what was signed; and loading the one taken again after a restart.
func TestTakeDB(t *testing.T) {
	e := newEnv(t, envOptions{fleet: true})
	dbKey, dbKeyID := testpeer.Key(t)
	e.setScanning(&policy.Scanning{DatabaseKeys: []string{pemOf(t, dbKey)}})
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	// db is a database updated at updated that the fleet holds, and its
	// announcement.
	db := func(updated time.Time) (digest.Digest, p2p.ScanAnnouncement) {
		body := encodeFakeDB(t, updated, scan.Finding{ID: "CVE-" + updated.Format("20060102")})
		d := digest.FromBytes(body)
		e.fleet.hold(d, body)
		return d, dbAnnouncement(t, dbKey, d, d, updated)
	}
	first, firstA := db(t0.Add(time.Hour))
	_, olderA := db(t0)
	newer, newerA := db(t0.Add(2 * time.Hour))
	// A peer serving other bytes than the digest it was asked for.
	lie := digest.FromString("the signed bytes")
	e.fleet.hold(lie, encodeFakeDB(t, t0.Add(3*time.Hour)))
	lieA := dbAnnouncement(t, dbKey, lie, lie, t0.Add(3*time.Hour))
	// Bytes that are what was signed, but no database.
	junk := digest.FromString("junk")
	e.fleet.hold(junk, []byte("junk"))
	junkA := dbAnnouncement(t, dbKey, junk, junk, t0.Add(4*time.Hour))

	for _, step := range []struct {
		name      string
		a         p2p.ScanAnnouncement
		wantErr   string
		wantDB    digest.Digest
		wantFetch bool
	}{
		{"the first", firstA, "", first, true},
		{"the same again", firstA, "", first, false},
		{"an older one", olderA, "", first, false},
		{"bytes that do not match the digest", lieA, cache.ErrDigestMismatch.Error(), first, true},
		{"bytes that are no database", junkA, "does not decode", first, true},
		{"a newer one", newerA, "", newer, true},
	} {
		t.Run(step.name, func(t *testing.T) {
			before := len(e.fleet.fetches())
			err := e.s.takeDB(context.Background(), step.a, []peer.ID{dbKeyID})
			if step.wantErr == "" && err != nil || step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)) {
				t.Errorf("takeDB = %v, want %q", err, step.wantErr)
			}
			if cur := e.s.currentDB(); cur == nil || cur.layer != step.wantDB {
				t.Errorf("the database in use is %+v, want %s", cur, step.wantDB)
			}
			if fetched := len(e.fleet.fetches()) > before; fetched != step.wantFetch {
				t.Errorf("fetched: %v, want %v", fetched, step.wantFetch)
			}
		})
	}

	// The database taken is stored as shoal/vulndb:latest under its
	// signer's signature, and loaded from there after a restart.
	d, _, err := e.store.Tag(vulnDBRepo, vulnDBTag)
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := e.store.GetManifest(vulnDBRepo, d)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != vulnDBArtifactType || len(m.Layers) != 1 || m.Layers[0].Digest != newer ||
		m.Annotations[annVulnDBSigner] != dbKeyID.String() || m.Annotations[annVulnDBSignature] != newerA.Signature {
		t.Errorf("the stored database: %s", body)
	}
	e.reopen(t)
	if cur := e.s.currentDB(); cur == nil || cur.layer != newer || cur.signer != dbKeyID.String() {
		t.Errorf("after a restart the database in use is %+v", cur)
	}
}

// TestTakeDBThroughExchange: an announcement reaches takeDB through the
// handler the service gave the fleet.
func TestTakeDBThroughExchange(t *testing.T) {
	e := newEnv(t, envOptions{fleet: true})
	member, memberID := testpeer.Key(t)
	e.fleet.admit(memberID)
	body := encodeFakeDB(t, time.Now())
	d := digest.FromBytes(body)
	e.fleet.hold(d, body)
	e.fleet.mu.Lock()
	h := e.fleet.handler
	e.fleet.mu.Unlock()
	if h == nil {
		t.Fatal("the service did not join the scan exchange")
	}
	h.ScanAnnounced(context.Background(), dbAnnouncement(t, member, d, d, time.Now()), []peer.ID{memberID})
	if cur := e.s.currentDB(); cur == nil || cur.layer != d {
		t.Errorf("the database in use is %+v", cur)
	}
}

// TestOfferReport: a report from outside the node is held (and stored as
// a referrer of its image) only when it verifies, is about the image it
// was announced for, is signed by a trusted scanner and is fresh.
func TestOfferReport(t *testing.T) {
	e := newEnv(t, envOptions{})
	scanner, scannerID := testpeer.Key(t)
	other, _ := testpeer.Key(t)
	e.setScanning(&policy.Scanning{Scanners: []string{scannerID.String()}, MaxReportAge: "1h"})
	repo := repository.Local("team/app")
	now := time.Now()

	for _, tc := range []struct {
		name string
		// env makes the envelope offered for image.
		env       func(image digest.Digest) []byte
		repo      string
		announced func(image digest.Digest) digest.Digest
		wantErr   string
		wantHeld  bool
		wantStore bool
	}{
		{name: "a trusted scanner's report", env: func(img digest.Digest) []byte { return signedReport(t, scanner, img, now) },
			repo: repo.Key(), announced: same, wantHeld: true, wantStore: true},
		{name: "not announced for an image", env: func(img digest.Digest) []byte { return signedReport(t, scanner, img, now) },
			repo: repo.Key(), announced: none, wantHeld: true, wantStore: true},
		{name: "no repository", env: func(img digest.Digest) []byte { return signedReport(t, scanner, img, now) },
			repo: "", announced: same, wantHeld: true},
		{name: "a repository name that is not one", env: func(img digest.Digest) []byte { return signedReport(t, scanner, img, now) },
			repo: "Team/App", announced: same, wantHeld: true},
		{name: "from an untrusted signer", env: func(img digest.Digest) []byte { return signedReport(t, other, img, now) },
			repo: repo.Key(), announced: same, wantErr: "signer " + mustID(t, other).String() + " is not a trusted scanner"},
		{name: "announced for another image", env: func(img digest.Digest) []byte { return signedReport(t, scanner, img, now) },
			repo: repo.Key(), announced: func(digest.Digest) digest.Digest { return digest.FromString("another image") }, wantErr: "announced for"},
		{name: "older than max_report_age", env: func(img digest.Digest) []byte { return signedReport(t, scanner, img, now.Add(-2*time.Hour)) },
			repo: repo.Key(), announced: same, wantErr: "old, more than 1h0m0s"},
		{name: "tampered with", env: func(img digest.Digest) []byte { return tamper(t, signedReport(t, scanner, img, now)) },
			repo: repo.Key(), announced: same, wantErr: "does not verify"},
		{name: "not an envelope", env: func(digest.Digest) []byte { return []byte("{}") }, repo: repo.Key(), announced: same, wantErr: "payload type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := e.putImage(t, repo, "v1", tc.name+" 1.0").Digest
			err := e.s.offerReport(tc.env(img), tc.repo, tc.announced(img))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("offerReport = %v, want %q", err, tc.wantErr)
			}
			if held := e.s.heldReport(img) != nil; held != tc.wantHeld {
				t.Errorf("held: %v, want %v", held, tc.wantHeld)
			}
			if tc.wantHeld && e.s.Trusted(img) == nil {
				t.Error("the report taken does not count")
			}
			want := []string(nil)
			if tc.wantStore {
				want = []string{scan.ReportArtifactType}
			}
			if got := referrerTypes(t, e.store, repo.Key(), img); !slices.Equal(got, want) {
				t.Errorf("referrers of the image: %v, want %v", got, want)
			}
		})
	}
}

func same(d digest.Digest) digest.Digest { return d }
func none(digest.Digest) digest.Digest   { return "" }

func mustID(t *testing.T, k crypto.PrivKey) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestTakeReport: an announced report is fetched only from a trusted
// signer and when not held already; bytes that do not match the digest
// announced are refused and the peer that sent them penalised.
func TestTakeReport(t *testing.T) {
	e := newEnv(t, envOptions{fleet: true})
	scanner, scannerID := testpeer.Key(t)
	other, otherID := testpeer.Key(t)
	e.setScanning(&policy.Scanning{Scanners: []string{scannerID.String()}})
	repo := repository.Local("team/app")

	// announce is signer's report on a new image, held by the fleet
	// under served's digest (the envelope's when nil).
	announce := func(name string, signer crypto.PrivKey, served []byte) (digest.Digest, p2p.ScanAnnouncement) {
		img := e.putImage(t, repo, "v1", name+" 1.0").Digest
		env := signedReport(t, signer, img, time.Now())
		d := digest.FromBytes(env)
		if served == nil {
			served = env
		}
		e.fleet.hold(d, served)
		return img, p2p.ScanAnnouncement{Kind: p2p.AnnounceReport, Digest: d, Size: int64(len(env)), Signer: mustID(t, signer).String(), Image: img, Repo: repo.Key()}
	}
	goodImg, good := announce("good", scanner, nil)
	untrustedImg, untrusted := announce("untrusted", other, nil)
	lyingImg, lying := announce("lying", scanner, []byte("something else"))
	bigImg, big := announce("big", scanner, nil)
	big.Size = scan.MaxEnvelope + 1
	anonImg, anon := announce("anonymous", scanner, nil)
	anon.Signer = "nobody"

	for _, tc := range []struct {
		name      string
		img       digest.Digest
		a         p2p.ScanAnnouncement
		wantErr   string
		wantHeld  bool
		wantFetch bool
		penalised []peer.ID
	}{
		{name: "a trusted scanner's", img: goodImg, a: good, wantHeld: true, wantFetch: true},
		{name: "the same again", img: goodImg, a: good, wantHeld: true},
		{name: "an untrusted signer's", img: untrustedImg, a: untrusted, wantErr: "not a trusted scanner"},
		{name: "bytes that do not match the digest", img: lyingImg, a: lying, wantErr: "did not match", wantFetch: true, penalised: []peer.ID{otherID}},
		{name: "too large", img: bigImg, a: big, wantErr: "a report of"},
		{name: "a signer that is not a peer ID", img: anonImg, a: anon, wantErr: "peer ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.fleet.fetches())
			e.fleet.mu.Lock()
			e.fleet.penalised = nil
			e.fleet.mu.Unlock()
			// The first source is the peer that sent the bytes.
			err := e.s.takeReport(context.Background(), tc.a, []peer.ID{otherID, scannerID})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("takeReport = %v, want %q", err, tc.wantErr)
			}
			if held := e.s.Trusted(tc.img) != nil; held != tc.wantHeld {
				t.Errorf("held: %v, want %v", held, tc.wantHeld)
			}
			if fetched := len(e.fleet.fetches()) > before; fetched != tc.wantFetch {
				t.Errorf("fetched: %v, want %v", fetched, tc.wantFetch)
			}
			e.fleet.mu.Lock()
			penalised := e.fleet.penalised
			e.fleet.mu.Unlock()
			if !slices.Equal(penalised, tc.penalised) {
				t.Errorf("penalised %v, want %v", penalised, tc.penalised)
			}
		})
	}
}
