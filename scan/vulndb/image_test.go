package vulndb_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/scan/inventory"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

// An image the test builds, holding a Python package, an npm package and
// a Java artifact, is scanned and matched against real advisories (the
// records in testdata, with their sources in testdata/README.md): each is
// reported at an affected version and not at the version that fixed it.
func TestRealAdvisoriesInAnImage(t *testing.T) {
	db, err := vulndb.Import("testdata/pypa-osv/PYSEC-2019-217.yaml", "testdata/ghsa/GHSA-35jh-r3h4-6jhm.json", "testdata/ghsa/GHSA-jfh8-c2jp-5v3q.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                             string
		jinja2, lodash, log4jCore        string
		wantJinja, wantLodash, wantLog4j string // the advisory each must carry, "" for none
	}{
		{name: "affected versions", jinja2: "2.10", lodash: "4.17.20", log4jCore: "2.14.1",
			wantJinja: "PYSEC-2019-217", wantLodash: "GHSA-35jh-r3h4-6jhm", wantLog4j: "GHSA-jfh8-c2jp-5v3q"},
		{name: "fixed versions", jinja2: "2.10.1", lodash: "4.17.21", log4jCore: "2.15.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layer := tarLayer(t, map[string][]byte{
				"usr/lib/python3/dist-packages/Jinja2-" + tt.jinja2 + ".dist-info/METADATA": []byte("Metadata-Version: 2.1\nName: Jinja2\nVersion: " + tt.jinja2 + "\nSummary: A very fast and expressive template engine.\n"),
				"app/node_modules/lodash/package.json":                                      []byte(`{"name": "lodash", "version": "` + tt.lodash + `", "license": "MIT"}`),
				"opt/app/lib/log4j-core-" + tt.log4jCore + ".jar":                           jar(t, "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties", "groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion="+tt.log4jCore+"\n"),
			})
			inv, err := inventory.Scan(context.Background(), "linux/amd64", []inventory.Layer{func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }})
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]map[string]bool{}
			for _, f := range db.Match(inv) {
				if found[f.Package] == nil {
					found[f.Package] = map[string]bool{}
				}
				found[f.Package][f.ID] = true
			}
			for _, c := range []struct{ pkg, want string }{
				{"Jinja2", tt.wantJinja},
				{"lodash", tt.wantLodash},
				{"org.apache.logging.log4j:log4j-core", tt.wantLog4j},
			} {
				if !inInventory(inv, c.pkg) {
					t.Errorf("%s is not in the inventory: %+v", c.pkg, inv.Packages)
				}
				switch {
				case c.want != "" && !found[c.pkg][c.want]:
					t.Errorf("%s: not reported for %s (findings %v)", c.pkg, c.want, found[c.pkg])
				case c.want == "" && len(found[c.pkg]) > 0:
					t.Errorf("%s at its fixed version: reported %v", c.pkg, found[c.pkg])
				}
			}
		})
	}
}

func inInventory(inv *scan.Inventory, name string) bool {
	for _, p := range inv.Packages {
		if p.Name == name {
			return true
		}
	}
	return false
}

// tarLayer is an uncompressed layer of regular files.
func tarLayer(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jar is a zip holding one file.
func jar(t *testing.T, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// importJSON imports OSV records, one JSON file each, and fails t if any
// is skipped.
func importJSON(t *testing.T, records ...string) *vulndb.DB {
	t.Helper()
	dir := t.TempDir()
	for i, rec := range records {
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)+".json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err := vulndb.Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db.Skipped() != 0 {
		t.Fatal(db.Warnings())
	}
	return db
}
