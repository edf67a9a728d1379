package vulndb

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/scan"
)

// sharedVulndata is the project's real vulnerability data (see
// ../shared/vulndata/README.md), beside the module root.
const sharedVulndata = "../../../shared/vulndata"

func needShared(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(sharedVulndata, "go-osv")); err != nil {
		t.Skipf("shared vulndata not present: %v", err)
	}
}

// TestImportShared imports ../shared/vulndata: the 4,291 Go records (17
// withdrawn), every Alpine secdb file and every PyPA YAML record.
func TestImportShared(t *testing.T) {
	needShared(t)
	goDB, err := Import(filepath.Join(sharedVulndata, "go-osv"))
	if err != nil {
		t.Fatal(err)
	}
	goFiles, _ := filepath.Glob(filepath.Join(sharedVulndata, "go-osv", "*.json"))
	if len(goFiles) != 4291 {
		t.Fatalf("%d Go records on disk, README says 4,291", len(goFiles))
	}
	if goDB.Records()+goDB.Withdrawn() != len(goFiles) || goDB.Skipped() != 0 {
		t.Errorf("Go: %d records + %d withdrawn != %d files; skipped %d: %v", goDB.Records(), goDB.Withdrawn(), len(goFiles), goDB.Skipped(), goDB.Warnings())
	}
	alpineDB, err := Import(filepath.Join(sharedVulndata, "alpine-secdb"))
	if err != nil {
		t.Fatal(err)
	}
	if alpineDB.Skipped() != 0 {
		t.Errorf("alpine: skipped %v", alpineDB.Warnings())
	}
	// The PyPA database: OSV in YAML, one file per record, beside Alpine's
	// YAML; every file must be read as OSV (none skipped).
	pypaDB, err := Import(filepath.Join(sharedVulndata, "pypa-osv"))
	if err != nil {
		t.Fatal(err)
	}
	pypaFiles, _ := filepath.Glob(filepath.Join(sharedVulndata, "pypa-osv", "vulns", "*", "*.yaml"))
	if len(pypaFiles) < 2000 {
		t.Fatalf("%d PyPA records on disk", len(pypaFiles))
	}
	if pypaDB.Records()+pypaDB.Withdrawn() != len(pypaFiles) || pypaDB.Skipped() != 0 {
		t.Errorf("PyPA: %d records + %d withdrawn != %d files; skipped %d: %v", pypaDB.Records(), pypaDB.Withdrawn(), len(pypaFiles), pypaDB.Skipped(), pypaDB.Warnings())
	}
	t.Logf("PyPA: %d records (%d withdrawn left out)", pypaDB.Records(), pypaDB.Withdrawn())
	all, err := Import(filepath.Join(sharedVulndata, "go-osv"), filepath.Join(sharedVulndata, "alpine-secdb"))
	if err != nil {
		t.Fatal(err)
	}
	if all.Records() != goDB.Records()+alpineDB.Records() || all.Skipped() != 0 {
		t.Errorf("all: %d records, want %d+%d; skipped %v", all.Records(), goDB.Records(), alpineDB.Records(), all.Warnings())
	}
	// Go records carry modified 0001-01-01; Updated falls back to published.
	if u := all.Updated(); u.Before(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("Updated = %v", u)
	}
	t.Logf("Go: %d records (%d withdrawn left out); Alpine secdb: %d advisory IDs; all: %d records; updated %s",
		goDB.Records(), goDB.Withdrawn(), alpineDB.Records(), all.Records(), all.Updated().Format(time.RFC3339))

	// Merging the two parts gives the same DB as importing both.
	merged := newDB()
	merged.Merge(alpineDB)
	merged.Merge(goDB)
	if !bytes.Equal(encode(t, merged), encode(t, all)) {
		t.Error("Merge(alpine, go) differs from Import(both)")
	}
}

func encode(t testing.TB, db *DB) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := db.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestImportArchives imports the test records from a zip (osv.dev's all.zip
// layout: records at the top level) and a tar.gz, and expects the same DB
// as from the directory.
func TestImportArchives(t *testing.T) {
	dir := t.TempDir()
	want := encode(t, importTestdata(t, "go-osv", "alpine-secdb", "debian", "pypa-osv", "ghsa"))

	var files []string
	for _, sub := range []string{"go-osv", "alpine-secdb", "debian", "pypa-osv", "ghsa"} {
		filepath.WalkDir(filepath.Join("testdata", sub), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return err
		})
	}

	zipPath := filepath.Join(dir, "all.zip")
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, f := range files {
		w, _ := zw.Create(strings.TrimPrefix(filepath.ToSlash(f), "testdata/"))
		data, _ := os.ReadFile(f)
		w.Write(data)
	}
	zw.Close()
	os.WriteFile(zipPath, zb.Bytes(), 0o644)

	tgzPath := filepath.Join(dir, "osv.tgz")
	var tb bytes.Buffer
	gw := gzip.NewWriter(&tb)
	tw := tar.NewWriter(gw)
	tw.WriteHeader(&tar.Header{Name: "osv/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, f := range files {
		data, _ := os.ReadFile(f)
		tw.WriteHeader(&tar.Header{Name: "osv/" + filepath.ToSlash(f), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	gw.Close()
	os.WriteFile(tgzPath, tb.Bytes(), 0o644)

	// The same zip under a name without an extension: recognised by content.
	noExt := filepath.Join(dir, "download")
	os.WriteFile(noExt, zb.Bytes(), 0o644)

	for _, p := range []string{zipPath, tgzPath, noExt} {
		db, err := Import(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if db.Withdrawn() != 1 || db.Skipped() != 0 {
			t.Errorf("%s: withdrawn %d skipped %d %v", p, db.Withdrawn(), db.Skipped(), db.Warnings())
		}
		if !bytes.Equal(encode(t, db), want) {
			t.Errorf("%s: imported DB differs from the directory import", p)
		}
	}
	// A directory holding archives imports them too.
	db, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, db), want) {
		t.Error("directory of archives differs")
	}
}

func TestImportSkips(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec, _ := os.ReadFile("testdata/go-osv/GO-2021-0113.json")
	write("GO-2021-0113.json", string(rec))
	write("index.json", `{"modified":"2024-01-01T00:00:00Z"}`)         // vuln.go.dev db.json: not OSV
	write("vulns.json", `[{"id":"GO-2021-0113"}]`)                     // an array: not OSV
	write("bad.json", `{"id":"X","modified":`)                         // truncated
	write("typed.json", `{"id":"X","modified":"x","affected":"oops"}`) // wrong shape
	write("big.json", `{"id":"BIG","modified":"2024-01-01T00:00:00Z","details":"`+strings.Repeat("a", MaxRecordSize)+`"}`)
	write("k8s.yaml", "apiVersion: v1\nkind: Pod\n")
	write("list.yml", "- a\n- b\n")
	write("README.md", "ignored: not a record extension")
	db, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db.Records() != 1 || db.Skipped() != 7 || len(db.Warnings()) != 7 {
		t.Errorf("records %d skipped %d, want 1 and 7: %q", db.Records(), db.Skipped(), db.Warnings())
	}
	if !strings.Contains(strings.Join(db.Warnings(), "\n"), "big.json: record larger than") {
		t.Errorf("no oversize warning: %q", db.Warnings())
	}

	if _, err := Import(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing path: no error")
	}
	write("broken.zip", "PK\x03\x04 not really")
	if _, err := Import(filepath.Join(dir, "broken.zip")); err == nil {
		t.Error("broken zip: no error")
	}
	write("broken.tgz", "\x1f\x8b garbage")
	if _, err := Import(filepath.Join(dir, "broken.tgz")); err == nil {
		t.Error("broken tgz: no error")
	}
}

// A zip entry whose header under-states its size is still bounded.
func TestImportZipBomb(t *testing.T) {
	dir := t.TempDir()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("huge.json")
	w.Write([]byte(`{"id":"BIG","modified":"2024-01-01T00:00:00Z","details":"`))
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for range 6 {
		w.Write(chunk)
	}
	w.Write([]byte(`"}`))
	zw.Close()
	p := filepath.Join(dir, "bomb.zip")
	os.WriteFile(p, zb.Bytes(), 0o644)
	db, err := Import(p)
	if err != nil {
		t.Fatal(err)
	}
	if db.Records() != 0 || db.Skipped() != 1 {
		t.Errorf("records %d skipped %d: %v", db.Records(), db.Skipped(), db.Warnings())
	}
}

func TestSecdbParse(t *testing.T) {
	recs, err := parseSecdb([]byte(`---
distroversion: v3.9
reponame: main
packages:
  - pkg:
      name: xen
      secfixes:
        "0":
          - CVE-2016-0001
        4.11.1-r1:
          - CVE-2017-8904 XSA-214
          - XSA-207
          - CVE-????-?????  XSA-295
          - CVE_2019-2426
          - CVE-2017-17434-1
          -  CVE-2016-6263
  - pkg:
      name: busybox
      secfixes:
        1.29.3-r10:
          - CVE-2019-5747
        1.30.1-r2:
          - CVE-2019-5747
  - pkg:
      name: empty
      secfixes:
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		for _, a := range r.Affected {
			line := r.ID + " " + strings.Join(r.Aliases, ",") + " " + a.Ecosystem + " " + a.Name
			for _, rg := range a.Ranges {
				line += " <" + rg.Events[1].Fixed
			}
			got = append(got, line)
		}
	}
	want := []string{
		"CVE-2016-6263  Alpine:v3.9 xen <4.11.1-r1",
		"CVE-2017-17434  Alpine:v3.9 xen <4.11.1-r1",
		"CVE-2017-8904 XSA-214 Alpine:v3.9 xen <4.11.1-r1",
		"CVE-2019-2426  Alpine:v3.9 xen <4.11.1-r1",
		"CVE-2019-5747  Alpine:v3.9 busybox <1.29.3-r10 <1.30.1-r2",
		"XSA-207  Alpine:v3.9 xen <4.11.1-r1",
		"XSA-295  Alpine:v3.9 xen <4.11.1-r1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// "0" lists CVEs never affecting the package: nothing is reported.
	db := newDB()
	for _, r := range recs {
		db.add(r)
	}
	db.reindex()
	if fs := db.Match(inventory(scan.Package{Ecosystem: "Alpine:v3.9", Name: "xen", Version: "4.11.1-r1"})); len(fs) != 0 {
		t.Errorf("xen at the fixing version: %v", fs)
	}
	if fs := db.Match(inventory(scan.Package{Ecosystem: "Alpine:v3.9", Name: "xen", Version: "4.10.0-r0"})); len(fs) != 6 {
		t.Errorf("xen 4.10.0-r0: %d findings, want 6", len(fs))
	}
	for _, bad := range []string{"", "just text", "distroversion: v3.9\n", "packages: []\n", "distroversion: [1]\npackages: []\n", "distroversion: v3.9\npackages: 7\n"} {
		if _, err := parseSecdb([]byte(bad)); err == nil {
			t.Errorf("%q: parsed as secdb", bad)
		}
	}
}
