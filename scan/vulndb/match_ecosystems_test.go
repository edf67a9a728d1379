package vulndb

import (
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// ecosystemRecords are synthetic OSV records, one per ecosystem whose order
// scan/version learnt after the first ones, each with an ECOSYSTEM range
// that only that order evaluates correctly.
var ecosystemRecords = []string{
	`{"id":"TEST-ALMA","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"AlmaLinux:8","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"7.61.1-34.el8_10.2"}]}]}]}`,
	`{"id":"TEST-REDHAT","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Red Hat","name":"kernel"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0:4.18.0-553.5.1.el8_10"}]}]}]}`,
	`{"id":"TEST-SUSE","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"openSUSE:Tumbleweed","name":"vim"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"9.1.0~rc1-1.1"}]}]}]}`,
	`{"id":"TEST-GEM","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"RubyGems","name":"rack"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.0.beta1"}]}]}]}`,
	`{"id":"TEST-CRATE","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"crates.io","name":"tokio"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0-alpha.1"},{"fixed":"1.18.4"}]}]}]}`,
	`{"id":"TEST-NUGET","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"NuGet","name":"Newtonsoft.Json"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"13.0.1"}]}]}]}`,
	`{"id":"TEST-PACKAGIST","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Packagist","name":"symfony/http-kernel"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"5.0.0"},{"fixed":"5.4.20"}]}]}]}`,
}

func ecosystemDB(t testing.TB) *DB {
	t.Helper()
	return importRecords(t, ecosystemRecords)
}

func TestMatchEcosystemOrders(t *testing.T) {
	db := ecosystemDB(t)
	for _, tc := range []struct {
		name string
		pkg  scan.Package
		want map[string]string
	}{
		{"RPM release below the fix", scan.Package{Ecosystem: "AlmaLinux:8", Name: "curl", Version: "7.61.1-34.el8_10.1"}, map[string]string{"TEST-ALMA": "7.61.1-34.el8_10.2"}},
		{"RPM release number 10 above 2", scan.Package{Ecosystem: "AlmaLinux:8", Name: "curl", Version: "7.61.1-34.el8_10.10"}, map[string]string{}},
		{"RPM at the fix", scan.Package{Ecosystem: "AlmaLinux:8", Name: "curl", Version: "7.61.1-34.el8_10.2"}, map[string]string{}},
		{"RPM epoch 0 spelt out or not", scan.Package{Ecosystem: "Red Hat", Name: "kernel", Version: "4.18.0-553.el8_10"}, map[string]string{"TEST-REDHAT": "0:4.18.0-553.5.1.el8_10"}},
		{"RPM epoch 1 above any epoch 0", scan.Package{Ecosystem: "Red Hat", Name: "kernel", Version: "1:4.18.0-1"}, map[string]string{}},
		{"RPM snapshot of an older version", scan.Package{Ecosystem: "openSUSE:Tumbleweed", Name: "vim", Version: "9.0^20231201-1"}, map[string]string{"TEST-SUSE": "9.1.0~rc1-1.1"}},
		{"RPM release after the tilde pre-release", scan.Package{Ecosystem: "openSUSE:Tumbleweed", Name: "vim", Version: "9.1.0-1.1"}, map[string]string{}},
		{"gem pre-release below the fixing pre-release", scan.Package{Ecosystem: "RubyGems", Name: "rack", Version: "3.0.0.alpha"}, map[string]string{"TEST-GEM": "3.0.0.beta1"}},
		{"gem release below the fixing pre-release", scan.Package{Ecosystem: "RubyGems", Name: "rack", Version: "2.2.10"}, map[string]string{"TEST-GEM": "3.0.0.beta1"}},
		{"gem release of the fixing pre-release", scan.Package{Ecosystem: "RubyGems", Name: "rack", Version: "3.0"}, map[string]string{}},
		{"gem later pre-release", scan.Package{Ecosystem: "RubyGems", Name: "rack", Version: "3.0.0.beta10"}, map[string]string{}},
		{"crate below the fix, 18 above 4 numerically", scan.Package{Ecosystem: "crates.io", Name: "tokio", Version: "1.18.3"}, map[string]string{"TEST-CRATE": "1.18.4"}},
		{"crate at the introducing pre-release", scan.Package{Ecosystem: "crates.io", Name: "tokio", Version: "1.0.0-alpha.1"}, map[string]string{"TEST-CRATE": "1.18.4"}},
		{"crate pre-release before the introducing one", scan.Package{Ecosystem: "crates.io", Name: "tokio", Version: "1.0.0-alpha"}, map[string]string{}},
		{"crate at the fix, build metadata ignored", scan.Package{Ecosystem: "crates.io", Name: "tokio", Version: "1.18.4+vendored"}, map[string]string{}},
		{"NuGet four-part version below the fix", scan.Package{Ecosystem: "NuGet", Name: "Newtonsoft.Json", Version: "12.0.3.1"}, map[string]string{"TEST-NUGET": "13.0.1"}},
		{"NuGet ID in another case", scan.Package{Ecosystem: "NuGet", Name: "newtonsoft.json", Version: "12.0.3"}, map[string]string{"TEST-NUGET": "13.0.1"}},
		{"NuGet pre-release of the fix", scan.Package{Ecosystem: "NuGet", Name: "Newtonsoft.Json", Version: "13.0.1-Beta1"}, map[string]string{"TEST-NUGET": "13.0.1"}},
		{"NuGet the fix with a fourth zero and metadata", scan.Package{Ecosystem: "NuGet", Name: "Newtonsoft.Json", Version: "13.0.1.0+sha.abc"}, map[string]string{}},
		{"Packagist tag with v below the fix", scan.Package{Ecosystem: "Packagist", Name: "symfony/http-kernel", Version: "v5.4.19"}, map[string]string{"TEST-PACKAGIST": "5.4.20"}},
		{"Packagist RC of the fix", scan.Package{Ecosystem: "Packagist", Name: "symfony/http-kernel", Version: "5.4.20-RC1"}, map[string]string{"TEST-PACKAGIST": "5.4.20"}},
		{"Packagist normalised fix", scan.Package{Ecosystem: "Packagist", Name: "symfony/http-kernel", Version: "5.4.20.0"}, map[string]string{}},
		{"Packagist dev of the introducing release", scan.Package{Ecosystem: "Packagist", Name: "symfony/http-kernel", Version: "5.0.0-dev"}, map[string]string{}},
	} {
		fs := db.Match(inventory(tc.pkg))
		if got := found(fs, tc.pkg.Name); !mapsEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
