package vulndb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/scan"
	"github.com/shoal-dev/shoal/scan/inventory"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

// An image whose Jinja2 2.10 in dist-packages was installed by Debian's
// python3-jinja2 (dpkg's status and file list in one layer, the files in
// the next, as a base image and an `apt-get install` layer would be), with
// a second Jinja2 2.10 in a venv that no package owns. PyPA's record says
// 2.10 is affected (fixed 2.10.1); the Debian record says the source
// package is fixed from 2.10-2. The flaw is reported once for each copy:
// Debian's verdict for the owned one, PyPA's for the venv. The SBOM still
// lists both and names the owner.
func TestOwnedPackageInAnImage(t *testing.T) {
	const (
		distInfo = "usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA"
		venv     = "opt/venv/lib/python3.7/site-packages/Jinja2-2.10.dist-info/METADATA"
		metadata = "Metadata-Version: 2.1\nName: Jinja2\nVersion: 2.10\n"
		buster   = "PRETTY_NAME=\"Debian GNU/Linux 10 (buster)\"\nID=debian\nVERSION_ID=\"10\"\nVERSION_CODENAME=buster\n"
	)
	db, err := vulndb.Import("testdata/pypa-osv/PYSEC-2019-217.yaml", "testdata/debian/DEBIAN-CVE-2019-10906.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		debVersion string
		want       map[string]string // location ("" for the deb) → the one advisory reported there
	}{
		{"Debian not yet fixed", "2.10-1", map[string]string{"": "DEBIAN-CVE-2019-10906", venv: "PYSEC-2019-217"}},
		{"Debian fixed by a backport", "2.10-2", map[string]string{venv: "PYSEC-2019-217"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debPURL := "pkg:deb/debian/python3-jinja2@" + tt.debVersion + "?arch=all&distro=debian-10"
			base := tarLayer(t, map[string][]byte{
				"etc/os-release":      []byte(buster),
				"var/lib/dpkg/status": []byte("Package: python3-jinja2\nStatus: install ok installed\nArchitecture: all\nSource: jinja2\nVersion: " + tt.debVersion + "\n"),
				"var/lib/dpkg/info/python3-jinja2.list": []byte("/.\n/usr\n/usr/lib/python3/dist-packages\n" +
					"/usr/lib/python3/dist-packages/Jinja2-2.10.dist-info\n/" + distInfo + "\n/usr/lib/python3/dist-packages/jinja2/__init__.py\n"),
			})
			files := tarLayer(t, map[string][]byte{distInfo: []byte(metadata), venv: []byte(metadata)})
			inv, err := inventory.Scan(context.Background(), "linux/amd64", []inventory.Layer{
				func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(base)), nil },
				func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(files)), nil },
			})
			if err != nil {
				t.Fatal(err)
			}

			findings := db.Match(inv)
			got := map[string]string{}
			for _, f := range findings {
				if _, dup := got[f.Location]; dup {
					t.Errorf("%s: a second finding %s", f.Location, f.ID)
				}
				got[f.Location] = f.ID
			}
			if len(got) != len(tt.want) {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
			for loc, id := range tt.want {
				if got[loc] != id {
					t.Errorf("at %q: %q, want %q", loc, got[loc], id)
				}
			}

			// The table and SARIF render the findings: the owned copy has
			// no row of its own.
			r := &scan.Report{Image: digest.FromString("image"), Findings: findings, Packages: len(inv.Packages)}
			var table, sarif bytes.Buffer
			if err := scan.WriteTable(&table, r); err != nil {
				t.Fatal(err)
			}
			if err := scan.WriteSARIF(&sarif, r); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(table.String(), distInfo) || strings.Contains(sarif.String(), distInfo) {
				t.Errorf("the owned copy is reported:\n%s", table.String())
			}
			if n := strings.Count(table.String(), "PYSEC-2019-217 ") + strings.Count(table.String(), "DEBIAN-CVE-2019-10906 "); n != len(tt.want) {
				t.Errorf("%d table rows, want %d:\n%s", n, len(tt.want), table.String())
			}

			// Both copies stay in the SBOM; the owned one names its owner.
			sbom, err := inventory.CycloneDX(inv, digest.FromString("image"))
			if err != nil {
				t.Fatal(err)
			}
			owners := map[string]string{}
			var bom struct {
				Components []struct {
					Name       string `json:"name"`
					Properties []struct{ Name, Value string }
				} `json:"components"`
			}
			if err := json.Unmarshal(sbom, &bom); err != nil {
				t.Fatal(err)
			}
			for _, c := range bom.Components {
				if c.Name != "Jinja2" {
					continue
				}
				props := map[string]string{}
				for _, p := range c.Properties {
					props[p.Name] = p.Value
				}
				owners[props["shoal:location"]] = props["shoal:owner"]
			}
			if len(owners) != 2 || owners[distInfo] != debPURL || owners[venv] != "" {
				t.Errorf("SBOM Jinja2 owners %v, want %s owned by %s and %s by none", owners, distInfo, debPURL, venv)
			}
		})
	}
}
