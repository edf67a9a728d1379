package vulndb

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// zipOf writes the named testdata files into one zip archive, as osv.dev's
// per-ecosystem all.zip holds records, and returns its path.
func zipOf(t *testing.T, files ...string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMatchRealLanguageRecords matches real advisories, imported as their
// databases ship them, against packages named as inventories read them.
// Expectations read by hand from the records:
//
//	PYSEC-2019-217 (jinja2): introduced 0, fixed 2.10.1; versions lists '2.10'
//	PYSEC-2023-74 (requests): introduced 2.3.0, fixed 2.31.0
func TestMatchRealLanguageRecords(t *testing.T) {
	pypaYAML := filepath.Join("testdata", "pypa-osv")
	pypaZip := zipOf(t, "pypa-osv/PYSEC-2019-217.yaml", "pypa-osv/PYSEC-2023-74.yaml")
	for _, tc := range []struct {
		name   string
		source string
		pkg    scan.Package
		id     string
		fixed  string // "" with affected false: not reported
		hit    bool
	}{
		{"jinja2 affected, METADATA spelling", pypaYAML, scan.Package{Ecosystem: "PyPI", Name: "Jinja2", Version: "2.10"}, "PYSEC-2019-217", "2.10.1", true},
		{"jinja2 affected, PEP 440 2.10.0 == 2.10", pypaYAML, scan.Package{Ecosystem: "PyPI", Name: "jinja2", Version: "2.10.0"}, "PYSEC-2019-217", "2.10.1", true},
		{"jinja2 at its fix", pypaYAML, scan.Package{Ecosystem: "PyPI", Name: "Jinja2", Version: "2.10.1"}, "PYSEC-2019-217", "", false},
		{"jinja2 above its fix", pypaYAML, scan.Package{Ecosystem: "PyPI", Name: "Jinja2", Version: "3.1.4"}, "PYSEC-2019-217", "", false},
		{"another package", pypaYAML, scan.Package{Ecosystem: "PyPI", Name: "jinja2-time", Version: "2.10"}, "PYSEC-2019-217", "", false},
		{"jinja2 in npm is not PyPI's", pypaYAML, scan.Package{Ecosystem: "npm", Name: "jinja2", Version: "2.10.0"}, "PYSEC-2019-217", "", false},
		{"requests affected", pypaYAML, scan.Package{Ecosystem: "PyPI", Name: "requests", Version: "2.28.1"}, "PYSEC-2023-74", "2.31.0", true},
		{"requests affected, from a zip", pypaZip, scan.Package{Ecosystem: "PyPI", Name: "Requests", Version: "2.30.0"}, "PYSEC-2023-74", "2.31.0", true},
		{"requests pre-release of the fix", pypaZip, scan.Package{Ecosystem: "PyPI", Name: "requests", Version: "2.31.0rc1"}, "PYSEC-2023-74", "2.31.0", true},
		{"requests below introduced", pypaZip, scan.Package{Ecosystem: "PyPI", Name: "requests", Version: "2.2.1"}, "PYSEC-2023-74", "", false},
		{"requests at its fix, from a zip", pypaZip, scan.Package{Ecosystem: "PyPI", Name: "requests", Version: "2.31.0"}, "PYSEC-2023-74", "", false},
		{"jinja2 from a zip", pypaZip, scan.Package{Ecosystem: "PyPI", Name: "Jinja2", Version: "2.9.6"}, "PYSEC-2019-217", "2.10.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Import(tc.source)
			if err != nil {
				t.Fatal(err)
			}
			if db.Skipped() != 0 {
				t.Fatalf("skipped: %v", db.Warnings())
			}
			got := found(db.Match(inventory(tc.pkg)), tc.pkg.Name)
			fixed, hit := got[tc.id]
			if hit != tc.hit || fixed != tc.fixed {
				t.Errorf("%s %s %s: got %v, want hit %v fixed %q", tc.pkg.Ecosystem, tc.pkg.Name, tc.pkg.Version, got, tc.hit, tc.fixed)
			}
		})
	}
}
