package node

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

// scanTestNode is a node with a policy root (no policy yet), serving its
// whole HTTP surface over loopback.
type scanTestNode struct {
	n    *Node
	url  string
	host string
	kit  *policyKit
}

func newScanTestNode(t *testing.T) *scanTestNode {
	t.Helper()
	kit := newPolicyKit(t)
	n, err := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), PolicyRoots: rootKeys(t, kit.rootPEM)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	return &scanTestNode{n: n, url: srv.URL, host: strings.TrimPrefix(srv.URL, "http://"), kit: kit}
}

// applyPolicy puts a policy in force that lets anyone do anything and
// has this scanning section.
func (tn *scanTestNode) applyPolicy(t *testing.T, version uint64, sc *policy.Scanning) {
	t.Helper()
	doc := testDoc(t, version, time.Now().Add(-time.Minute))
	doc.Identities = []policy.Identity{{Name: "anyone", Anonymous: true}}
	doc.Rules = []policy.Rule{{Identities: []string{"anyone"}, Actions: []policy.Action{"*"}, Repositories: []string{"**"}}}
	doc.Scanning = sc
	if _, err := tn.n.access.Apply(tn.kit.sign(t, doc), "test"); err != nil {
		t.Fatal(err)
	}
}

// osImage is a one-layer linux/amd64 image holding files.
func osImage(t *testing.T, files map[string]string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

const alpineOSRelease = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.10.9
PRETTY_NAME="Alpine Linux v3.10"
HOME_URL="https://alpinelinux.org/"
`

func alpineImage(t *testing.T, busybox string) v1.Image {
	return osImage(t, map[string]string{
		"etc/os-release":       alpineOSRelease,
		"lib/apk/db/installed": "C:Q1sCq0uM3w8hQ2Mxkz0CYb5Q9MTHM=\nP:busybox\nV:" + busybox + "\nA:x86_64\nS:500000\nI:900000\nT:Size optimized toolbox of many common UNIX utilities\nU:https://busybox.net/\nL:GPL-2.0-only\no:busybox\nm:Natanael Copa <ncopa@alpinelinux.org>\nt:1560000000\n\n",
	})
}

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`

func debianImage(t *testing.T, libc string) v1.Image {
	return osImage(t, map[string]string{
		"etc/os-release": debianOSRelease,
		"var/lib/dpkg/status": "Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 12986\n" +
			"Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nArchitecture: amd64\nMulti-Arch: same\nSource: glibc\nVersion: " + libc +
			"\nDescription: GNU C Library: Shared libraries\n\n",
	})
}

// push writes img to the node as ref (REPO:TAG) and returns its digest.
func (tn *scanTestNode) push(t *testing.T, ref string, img v1.Image) digest.Digest {
	t.Helper()
	r, err := name.ParseReference(tn.host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.Digest(d.String())
}

// importDB builds a database from testdata paths and PUTs it.
func (tn *scanTestNode) importDB(t *testing.T, paths ...string) adminapi.DBStatus {
	t.Helper()
	db, err := vulndb.Import(paths...)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := db.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	resp := tn.do(t, http.MethodPut, "/shoal/v1/scan/db", &buf)
	var st adminapi.DBStatus
	decodeOK(t, resp, &st)
	if st.Records != db.Records() || st.Digest != digest.FromBytes(mustEncode(t, db)).String() {
		t.Fatalf("db status = %+v, want %d records", st, db.Records())
	}
	return st
}

func mustEncode(t *testing.T, db *vulndb.DB) []byte {
	var buf bytes.Buffer
	if err := db.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (tn *scanTestNode) do(t *testing.T, method, path string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, tn.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decodeOK(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func (tn *scanTestNode) scan(t *testing.T, ref string) adminapi.ScanResult {
	t.Helper()
	var res adminapi.ScanResult
	decodeOK(t, tn.do(t, http.MethodPost, "/shoal/v1/scans?ref="+ref, nil), &res)
	if len(res.Reports) != 1 {
		t.Fatalf("scan %s: %d reports", ref, len(res.Reports))
	}
	return res
}

// cycloneDX is the artifactType of the SBOM stored beside each report.
const cycloneDX = "application/vnd.cyclonedx+json"

func findingIDs(r *scan.Report) []string {
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID+"/"+f.Package+"/"+string(f.Severity))
	}
	return ids
}

func hasFinding(r *scan.Report, id string) bool {
	for _, f := range r.Findings {
		if f.ID == id || strings.Contains(f.ID, id) {
			return true
		}
		for _, a := range f.Aliases {
			if a == id {
				return true
			}
		}
	}
	return false
}

func TestScanAlpineBusybox(t *testing.T) {
	tn := newScanTestNode(t)
	vulnerable := tn.push(t, "alpine/app:vulnerable", alpineImage(t, "1.30.1-r1"))
	patched := tn.push(t, "alpine/app:patched", alpineImage(t, "1.30.1-r2"))

	// No database yet: a clear refusal.
	resp := tn.do(t, http.MethodPost, "/shoal/v1/scans?ref=alpine/app:vulnerable", nil)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("scan without a database: %s", resp.Status)
	}

	st := tn.importDB(t, filepath.Join("testdata", "vulndata", "alpine-secdb"))
	if st.Signer != tn.n.scans.ID().String() {
		t.Errorf("db signer = %s, want the node %s", st.Signer, tn.n.scans.ID())
	}

	res := tn.scan(t, "alpine/app:vulnerable")
	rep := res.Reports[0]
	if rep.Image != vulnerable || rep.Platform != "linux/amd64" || rep.OS.ID != "alpine" || rep.Packages != 1 || !rep.Trusted {
		t.Errorf("report = %+v", rep)
	}
	if !hasFinding(rep.Report, "CVE-2019-5747") {
		t.Errorf("busybox 1.30.1-r1 is not reported for CVE-2019-5747: %v", findingIDs(rep.Report))
	}
	if rep.DB.String() != st.Digest || rep.DBAge == "" {
		t.Errorf("report db = %s (age %q), want %s", rep.DB, rep.DBAge, st.Digest)
	}

	res = tn.scan(t, "alpine/app@"+patched.String())
	if hasFinding(res.Reports[0].Report, "CVE-2019-5747") {
		t.Errorf("busybox 1.30.1-r2 is reported for CVE-2019-5747: %v", findingIDs(res.Reports[0].Report))
	}

	// The report is served by digest, and stored as a signed referrer
	// next to a CycloneDX SBOM.
	var got adminapi.ReportView
	decodeOK(t, tn.do(t, http.MethodGet, "/shoal/v1/scans/"+vulnerable.String(), nil), &got)
	if got.Image != vulnerable || !hasFinding(got.Report, "CVE-2019-5747") {
		t.Errorf("GET report = %+v", got)
	}
	if resp := tn.do(t, http.MethodGet, "/shoal/v1/scans/"+digest.FromString("nothing").String(), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET an unknown report: %s", resp.Status)
	}
	descs, err := tn.n.store.Referrers("alpine/app", vulnerable)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]digest.Digest{}
	for _, d := range descs {
		kinds[d.ArtifactType] = d.Digest
	}
	if kinds[scan.ReportArtifactType] == "" || kinds[cycloneDX] == "" {
		t.Fatalf("referrers = %+v", descs)
	}
	_, body, err := tn.n.store.GetManifest("alpine/app", kinds[scan.ReportArtifactType])
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Layers []struct {
			MediaType string        `json:"mediaType"`
			Digest    digest.Digest `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(body, &m); err != nil || len(m.Layers) != 1 || m.Layers[0].MediaType != scan.EnvelopeMediaType {
		t.Fatalf("report manifest = %s", body)
	}
	br, err := tn.n.store.OpenBlob(m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := io.ReadAll(br.Content)
	br.Close()
	vr, signer, err := scan.VerifyReport(env)
	if err != nil || signer != tn.n.scans.ID() || vr.Image != vulnerable {
		t.Errorf("stored envelope: %v, signer %s, image %s", err, signer, vr.Image)
	}

	resp = tn.do(t, http.MethodGet, "/metrics", nil)
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`shoal_scans_total{result="vulnerable"} 1`, `shoal_scans_total{result="clean"} 1`, `shoal_scans_total{result="failed"} 0`,
		`shoal_images_by_worst_severity{severity="unknown"} 1`, `shoal_images_by_worst_severity{severity="none"} 1`,
		"shoal_vulndb_age_seconds ",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The database is an artifact in the store and survives a restart,
	// as do the reports.
	if _, _, err := tn.n.store.Tag("shoal/vulndb", "latest"); err != nil {
		t.Errorf("shoal/vulndb:latest: %v", err)
	}
	dir := tn.n.cfg.DataDir
	tn.n.Close()
	n2, err := New(Config{DataDir: dir}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	rec := httptest.NewRecorder()
	n2.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/shoal/v1/scan/db", nil))
	var st2 adminapi.DBStatus
	if err := json.Unmarshal(rec.Body.Bytes(), &st2); rec.Code != http.StatusOK || err != nil || st2.Digest != st.Digest {
		t.Errorf("after a restart the database is %d %s", rec.Code, rec.Body)
	}
	if n2.scans.Trusted(vulnerable) == nil {
		t.Error("after a restart the report is gone")
	}
}

func TestScanDebianGlibcAndGate(t *testing.T) {
	tn := newScanTestNode(t)
	vulnerable := tn.push(t, "debian/app:vulnerable", debianImage(t, "2.36-9+deb12u2"))
	patched := tn.push(t, "debian/app:patched", debianImage(t, "2.36-9+deb12u3"))
	tn.importDB(t, filepath.Join("testdata", "vulndata", "debian"))

	// A policy that trusts only this node's reports and gates debian/**
	// at HIGH, refusing images with no report yet.
	tn.applyPolicy(t, 1, &policy.Scanning{
		Scanners: []string{tn.n.scans.ID().String()},
		Gates:    []policy.ScanGate{{Repositories: []string{"debian/**"}, Severity: "HIGH", Missing: "deny"}},
	})

	resp := tn.do(t, http.MethodGet, "/v2/debian/app/manifests/vulnerable", nil)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "DENIED") || !strings.Contains(string(b), "no trusted scan report") {
		t.Fatalf("an unscanned image under a deny gate: %s %s", resp.Status, b)
	}

	// (That a report signed by a key the policy does not list is refused
	// is scanning's TestOfferReport.)
	if resp := tn.do(t, http.MethodGet, "/shoal/v1/scans/"+patched.String(), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET an unscanned image's report: %s", resp.Status)
	}
	if resp := tn.do(t, http.MethodGet, "/v2/debian/app/manifests/patched", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another unscanned image: %s", resp.Status)
	}

	res := tn.scan(t, "debian/app:vulnerable")
	if !hasFinding(res.Reports[0].Report, "CVE-2023-4911") {
		t.Fatalf("libc6 2.36-9+deb12u2 is not reported for CVE-2023-4911: %v", findingIDs(res.Reports[0].Report))
	}
	if res.Reports[0].Image != vulnerable {
		t.Errorf("report image = %s", res.Reports[0].Image)
	}
	res = tn.scan(t, "debian/app:patched")
	if hasFinding(res.Reports[0].Report, "CVE-2023-4911") {
		t.Errorf("libc6 2.36-9+deb12u3 is reported for CVE-2023-4911: %v", findingIDs(res.Reports[0].Report))
	}

	resp = tn.do(t, http.MethodGet, "/v2/debian/app/manifests/vulnerable", nil)
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "DENIED") || !strings.Contains(string(b), "CVE-2023-4911") ||
		!strings.Contains(string(b), "glibc") && !strings.Contains(string(b), "libc6") || !strings.Contains(string(b), "HIGH") || !strings.Contains(string(b), "debian/**") {
		t.Errorf("the vulnerable tag: %s %s", resp.Status, b)
	}
	if resp := tn.do(t, http.MethodGet, "/v2/debian/app/manifests/patched", nil); resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("the patched tag: %s %s", resp.Status, b)
	}
	// The report artifacts themselves are not gated.
	descs, _ := tn.n.store.Referrers("debian/app", vulnerable)
	for _, d := range descs {
		if resp := tn.do(t, http.MethodGet, "/v2/debian/app/manifests/"+d.Digest.String(), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("referrer %s (%s): %s", d.Digest, d.ArtifactType, resp.Status)
		}
	}

	// An allow entry lets the finding through until it expires.
	tn.applyPolicy(t, 2, &policy.Scanning{
		Scanners: []string{tn.n.scans.ID().String()},
		Gates: []policy.ScanGate{{Repositories: []string{"debian/**"}, Severity: "HIGH", Missing: "deny",
			Allow: []policy.AllowedFinding{{ID: "CVE-2023-4911", Expires: time.Now().Add(time.Hour), Reason: "test"}}}},
	})
	if resp := tn.do(t, http.MethodGet, "/v2/debian/app/manifests/vulnerable", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("an allowed finding: %s", resp.Status)
	}
}

func TestScanOnPush(t *testing.T) {
	kit := newPolicyKit(t)
	n, err := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), PolicyRoots: rootKeys(t, kit.rootPEM), ScanOnPull: true}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	defer func() {
		srv.Close()
		n.Close()
	}()
	tn := &scanTestNode{n: n, url: srv.URL, host: strings.TrimPrefix(srv.URL, "http://"), kit: kit}
	tn.importDB(t, filepath.Join("testdata", "vulndata", "alpine-secdb"))
	d := tn.push(t, "alpine/pushed:1", alpineImage(t, "1.30.1-r1"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n.scans.Trusted(d) == nil {
		select {
		case <-ctx.Done():
			t.Fatal("no report after a push with --scan-on-pull")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !hasFinding(n.scans.Trusted(d), "CVE-2019-5747") {
		t.Error("the background scan missed CVE-2019-5747")
	}
}
