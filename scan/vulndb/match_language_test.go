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
//	GHSA-35jh-r3h4-6jhm (npm lodash and lodash-es): introduced 0, fixed 4.17.21
//	GHSA-jfh8-c2jp-5v3q (Maven org.apache.logging.log4j:log4j-core): three
//	  entries, 2.13.0 to 2.15.0, 0 to 2.3.1, 2.4 to 2.12.2
func TestMatchRealLanguageRecords(t *testing.T) {
	pypaYAML := filepath.Join("testdata", "pypa-osv")
	pypaZip := zipOf(t, "pypa-osv/PYSEC-2019-217.yaml", "pypa-osv/PYSEC-2023-74.yaml")
	lodashJSON := filepath.Join("testdata", "ghsa", "GHSA-35jh-r3h4-6jhm.json")
	log4jJSON := filepath.Join("testdata", "ghsa", "GHSA-jfh8-c2jp-5v3q.json")
	ghsaZip := zipOf(t, "ghsa/GHSA-35jh-r3h4-6jhm.json", "ghsa/GHSA-jfh8-c2jp-5v3q.json")
	const log4j = "org.apache.logging.log4j:log4j-core"
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

		{"lodash affected", lodashJSON, scan.Package{Ecosystem: "npm", Name: "lodash", Version: "4.17.20"}, "GHSA-35jh-r3h4-6jhm", "4.17.21", true},
		{"lodash pre-release of the fix", lodashJSON, scan.Package{Ecosystem: "npm", Name: "lodash", Version: "4.17.21-beta.1"}, "GHSA-35jh-r3h4-6jhm", "4.17.21", true},
		{"lodash at its fix", lodashJSON, scan.Package{Ecosystem: "npm", Name: "lodash", Version: "4.17.21"}, "GHSA-35jh-r3h4-6jhm", "", false},
		{"lodash-es affected, from a zip", ghsaZip, scan.Package{Ecosystem: "npm", Name: "lodash-es", Version: "4.17.15"}, "GHSA-35jh-r3h4-6jhm", "4.17.21", true},
		{"npm names are case-sensitive", lodashJSON, scan.Package{Ecosystem: "npm", Name: "Lodash", Version: "4.17.20"}, "GHSA-35jh-r3h4-6jhm", "", false},
		{"another npm package", lodashJSON, scan.Package{Ecosystem: "npm", Name: "lodash.template", Version: "4.5.0"}, "GHSA-35jh-r3h4-6jhm", "", false},
		{"lodash in PyPI is not npm's", lodashJSON, scan.Package{Ecosystem: "PyPI", Name: "lodash", Version: "4.17.20"}, "GHSA-35jh-r3h4-6jhm", "", false},

		{"log4j-core 2.14.1 affected", log4jJSON, scan.Package{Ecosystem: "Maven", Name: log4j, Version: "2.14.1"}, "GHSA-jfh8-c2jp-5v3q", "2.15.0", true},
		{"log4j-core at 2.15.0", log4jJSON, scan.Package{Ecosystem: "Maven", Name: log4j, Version: "2.15.0"}, "GHSA-jfh8-c2jp-5v3q", "", false},
		{"log4j-core 2.12.1, backport branch", ghsaZip, scan.Package{Ecosystem: "Maven", Name: log4j, Version: "2.12.1"}, "GHSA-jfh8-c2jp-5v3q", "2.12.2", true},
		{"log4j-core at backport 2.12.2", ghsaZip, scan.Package{Ecosystem: "Maven", Name: log4j, Version: "2.12.2"}, "GHSA-jfh8-c2jp-5v3q", "", false},
		{"log4j-core 2.0-beta9", log4jJSON, scan.Package{Ecosystem: "Maven", Name: log4j, Version: "2.0-beta9"}, "GHSA-jfh8-c2jp-5v3q", "2.3.1", true},
		{"log4j-core at backport 2.3.1", log4jJSON, scan.Package{Ecosystem: "Maven", Name: log4j, Version: "2.3.1"}, "GHSA-jfh8-c2jp-5v3q", "", false},
		{"log4j-core 2.16.0", log4jJSON, scan.Package{Ecosystem: "Maven", Name: log4j, Version: "2.16.0"}, "GHSA-jfh8-c2jp-5v3q", "", false},
		{"log4j-api is not named", log4jJSON, scan.Package{Ecosystem: "Maven", Name: "org.apache.logging.log4j:log4j-api", Version: "2.14.1"}, "GHSA-jfh8-c2jp-5v3q", "", false},
		{"artifactId alone is not the Maven name", log4jJSON, scan.Package{Ecosystem: "Maven", Name: "log4j-core", Version: "2.14.1"}, "GHSA-jfh8-c2jp-5v3q", "", false},
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
