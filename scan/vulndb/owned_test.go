package vulndb

import (
	"maps"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// A language package an OS package installed is matched against the
// language ecosystem only while the database has no records of the
// owner's distribution release; a same-named package nobody owns always is.
// PYSEC-2019-217: jinja2 < 2.10.1. DEBIAN-CVE-2019-10906 (Debian:10): jinja2
// source < 2.10-2.
func TestMatchOwnedPackages(t *testing.T) {
	const (
		debPURL  = "pkg:deb/debian/python3-jinja2@2.10-1?arch=all&distro=debian-10"
		distInfo = "usr/lib/python3/dist-packages/Jinja2-2.10.dist-info/METADATA"
		venv     = "opt/venv/lib/python3.7/site-packages/Jinja2-2.10.dist-info/METADATA"
	)
	deb := func(version string) scan.Package {
		return scan.Package{Ecosystem: "Debian:10", Name: "python3-jinja2", Source: "jinja2", Version: version, PURL: debPURL}
	}
	pypi := func(loc, owner string) scan.Package {
		return scan.Package{Ecosystem: "PyPI", Name: "Jinja2", Version: "2.10", PURL: "pkg:pypi/jinja2@2.10", Location: loc, Owner: owner}
	}
	withDebian := []string{"pypa-osv/PYSEC-2019-217.yaml", "debian/DEBIAN-CVE-2019-10906.json"}
	tests := []struct {
		name    string
		records []string
		pkgs    []scan.Package
		want    map[string]bool // "ID package location"
	}{
		{"distribution vulnerable: once, on the deb; the venv copy by PyPA",
			withDebian, []scan.Package{deb("2.10-1"), pypi(distInfo, debPURL), pypi(venv, "")},
			map[string]bool{"DEBIAN-CVE-2019-10906 python3-jinja2 ": true, "PYSEC-2019-217 Jinja2 " + venv: true}},
		{"distribution fixed by a backport: the owned copy is not reported",
			withDebian, []scan.Package{deb("2.10-2"), pypi(distInfo, debPURL), pypi(venv, "")},
			map[string]bool{"PYSEC-2019-217 Jinja2 " + venv: true}},
		{"no records of the distribution: PyPA's are all there is",
			[]string{"pypa-osv/PYSEC-2019-217.yaml"}, []scan.Package{deb("2.10-2"), pypi(distInfo, debPURL), pypi(venv, "")},
			map[string]bool{"PYSEC-2019-217 Jinja2 " + distInfo: true, "PYSEC-2019-217 Jinja2 " + venv: true}},
		{"records of another release only: not covered",
			[]string{"pypa-osv/PYSEC-2019-217.yaml", "debian/DEBIAN-CVE-2023-4911.json"}, []scan.Package{deb("2.10-2"), pypi(distInfo, debPURL)},
			map[string]bool{"PYSEC-2019-217 Jinja2 " + distInfo: true}},
		{"owner not in the inventory: matched as unowned",
			withDebian, []scan.Package{pypi(distInfo, debPURL)},
			map[string]bool{"PYSEC-2019-217 Jinja2 " + distInfo: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := importTestdata(t, slices.Clone(tc.records)...)
			got := map[string]bool{}
			for _, f := range db.Match(inventory(tc.pkgs...)) {
				got[f.ID+" "+f.Package+" "+f.Location] = true
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("findings %v\nwant %v", got, tc.want)
			}
		})
	}
}
