package vulndb

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func importTestdata(t testing.TB, paths ...string) *DB {
	t.Helper()
	for i, p := range paths {
		paths[i] = filepath.Join("testdata", p)
	}
	db, err := Import(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// found returns "ID fixed" for each finding about pkg.
func found(fs []scan.Finding, pkg string) map[string]string {
	out := make(map[string]string)
	for _, f := range fs {
		if f.Package == pkg {
			out[f.ID] = f.Fixed
		}
	}
	return out
}

func inventory(pkgs ...scan.Package) *scan.Inventory {
	return &scan.Inventory{Platform: "linux/amd64", Packages: pkgs}
}

// TestMatchGoXText checks golang.org/x/text against every real Go
// vulnerability database record that names it. Read by hand from the
// records' ranges (all SEMVER, introduced 0):
//
//	GO-2020-0015 fixed 0.3.3  GO-2021-0113 fixed 0.3.7
//	GO-2022-1059 fixed 0.3.8  GO-2026-5970 fixed 0.39.0
func TestMatchGoXText(t *testing.T) {
	db := importTestdata(t, "go-osv")
	for _, tc := range []struct {
		version string
		want    map[string]string // ID → fixed
	}{
		{"v0.3.5", map[string]string{"GO-2021-0113": "v0.3.7", "GO-2022-1059": "v0.3.8", "GO-2026-5970": "v0.39.0"}},
		{"v0.3.2", map[string]string{"GO-2020-0015": "v0.3.3", "GO-2021-0113": "v0.3.7", "GO-2022-1059": "v0.3.8", "GO-2026-5970": "v0.39.0"}},
		{"v0.3.7", map[string]string{"GO-2022-1059": "v0.3.8", "GO-2026-5970": "v0.39.0"}},
		{"v0.3.8", map[string]string{"GO-2026-5970": "v0.39.0"}},
		{"v0.0.0-20210226181525-5fd6c6c7b75b", map[string]string{"GO-2020-0015": "v0.3.3", "GO-2021-0113": "v0.3.7", "GO-2022-1059": "v0.3.8", "GO-2026-5970": "v0.39.0"}},
		{"v0.39.0", map[string]string{}},
		{"(devel)", map[string]string{}}, // not a version: no range can be evaluated
	} {
		fs := db.Match(inventory(scan.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: tc.version, Location: "usr/bin/app"}))
		got := found(fs, "golang.org/x/text")
		if !mapsEqual(got, tc.want) {
			t.Errorf("x/text %s: got %v, want %v", tc.version, got, tc.want)
		}
		for _, f := range fs {
			if f.Location != "usr/bin/app" || f.Installed != tc.version || f.Ecosystem != "Go" || f.Severity != scan.SeverityUnknown {
				t.Errorf("x/text %s: finding %+v", tc.version, f)
			}
		}
	}
	// Aliases and summary come from the record.
	fs := db.Match(inventory(scan.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5"}))
	i := slices.IndexFunc(fs, func(f scan.Finding) bool { return f.ID == "GO-2021-0113" })
	if i < 0 || !slices.Equal(fs[i].Aliases, []string{"CVE-2021-38561", "GHSA-ppp9-7jff-5vj2"}) || fs[i].Summary != "Out-of-bounds read in golang.org/x/text/language" {
		t.Errorf("GO-2021-0113 finding: %+v", fs)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestMatchGoStdlib uses GO-2023-2185, whose two stdlib entries are
// "introduced 0, fixed 1.20.11, introduced 1.21.0-0, fixed 1.21.4" and
// "introduced 1.20.11, fixed 1.20.12, introduced 1.21.4, fixed 1.21.5" (the
// first fix was incomplete): several introduced/fixed pairs, the same
// advisory through two entries (one finding, nearest fix), and the toolchain
// spellings an inventory may carry.
func TestMatchGoStdlib(t *testing.T) {
	db := importTestdata(t, "go-osv")
	for _, tc := range []struct {
		version string
		fixed   string // "" = not affected
	}{
		{"v1.19.0", "v1.20.11"},
		{"v1.20.10", "v1.20.11"},
		{"v1.20.11", "v1.20.12"},
		{"v1.20.12", ""},
		{"v1.20.14", ""},
		{"v1.21.0", "v1.21.4"},
		{"v1.21.3", "v1.21.4"},
		{"go1.21.3", "1.21.4"},
		{"1.21.3", "1.21.4"},
		{"v1.21.4", "v1.21.5"},
		{"v1.21.5", ""},
		{"v1.22.0", ""},
	} {
		fs := db.Match(inventory(scan.Package{Ecosystem: "Go", Name: "stdlib", Version: tc.version}))
		got := found(fs, "stdlib")
		fixed, hit := got["GO-2023-2185"]
		if hit != (tc.fixed != "") || fixed != tc.fixed {
			t.Errorf("stdlib %s: GO-2023-2185 reported=%v fixed=%q, want fixed=%q", tc.version, hit, fixed, tc.fixed)
		}
	}
}

func TestMatchWithdrawnSkipped(t *testing.T) {
	db := importTestdata(t, "go-osv")
	if db.Records() != 5 || db.Withdrawn() != 1 || db.Skipped() != 0 {
		t.Errorf("records %d withdrawn %d skipped %d (%v), want 5, 1, 0", db.Records(), db.Withdrawn(), db.Skipped(), db.Warnings())
	}
	if _, ok := db.records["GO-2022-0617"]; ok {
		t.Error("withdrawn GO-2022-0617 imported")
	}
}

// TestMatchAlpine uses the real v3.10 main.yaml: busybox 1.30.1-r2 fixes
// CVE-2019-5747 (and 1.29.3-r10 fixed it on the 1.29 branch).
func TestMatchAlpine(t *testing.T) {
	db := importTestdata(t, "alpine-secdb")
	for _, tc := range []struct {
		pkg  scan.Package
		want map[string]string
	}{
		{scan.Package{Ecosystem: "Alpine:v3.10", Name: "busybox", Version: "1.30.1-r1"}, map[string]string{"CVE-2019-5747": "1.30.1-r2"}},
		{scan.Package{Ecosystem: "Alpine:v3.10", Name: "busybox", Version: "1.30.1-r2"}, map[string]string{}},
		{scan.Package{Ecosystem: "Alpine:v3.10", Name: "busybox", Version: "1.31.0-r0"}, map[string]string{}},
		// A subpackage matches through its origin.
		{scan.Package{Ecosystem: "Alpine:v3.10", Name: "ssl_client", Source: "busybox", Version: "1.30.1-r1"}, map[string]string{"CVE-2019-5747": "1.30.1-r2"}},
		// Another release's records do not apply.
		{scan.Package{Ecosystem: "Alpine:v3.11", Name: "busybox", Version: "1.30.1-r1"}, map[string]string{}},
		// Older busybox: every fix above it, the nearest fix reported.
		{scan.Package{Ecosystem: "Alpine:v3.10", Name: "busybox", Version: "1.27.2-r3"}, map[string]string{
			"CVE-2017-16544": "1.27.2-r4", "CVE-2017-15873": "1.27.2-r4", "CVE-2017-15874": "1.27.2-r4",
			"CVE-2018-20679": "1.29.3-r10", "CVE-2019-5747": "1.29.3-r10",
		}},
	} {
		fs := db.Match(inventory(tc.pkg))
		if got := found(fs, tc.pkg.Name); !mapsEqual(got, tc.want) {
			t.Errorf("%s %s %s: got %v, want %v", tc.pkg.Ecosystem, tc.pkg.Name, tc.pkg.Version, got, tc.want)
		}
	}
}

// TestMatchDebian uses the transcribed DEBIAN-CVE-2023-4911 record (Debian 12
// glibc fixed in 2.36-9+deb12u3).
func TestMatchDebian(t *testing.T) {
	db := importTestdata(t, "debian")
	for _, tc := range []struct {
		pkg   scan.Package
		fixed string // "" = not reported
	}{
		{scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u2"}, "2.36-9+deb12u3"},
		{scan.Package{Ecosystem: "Debian:12", Name: "libc-bin", Source: "glibc", Version: "2.36-9"}, "2.36-9+deb12u3"},
		{scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u3"}, ""},
		{scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u4"}, ""},
		{scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u10"}, ""},
		// Binary name alone does not match a source-package record.
		{scan.Package{Ecosystem: "Debian:12", Name: "libc6", Version: "2.36-9+deb12u2"}, ""},
		// Another release.
		{scan.Package{Ecosystem: "Debian:11", Name: "libc6", Source: "glibc", Version: "2.31-13"}, ""},
	} {
		fs := db.Match(inventory(tc.pkg))
		got := found(fs, tc.pkg.Name)
		fixed, hit := got["DEBIAN-CVE-2023-4911"]
		if hit != (tc.fixed != "") || fixed != tc.fixed {
			t.Errorf("%s %s %s: reported=%v fixed=%q, want fixed=%q", tc.pkg.Ecosystem, tc.pkg.Name, tc.pkg.Version, hit, fixed, tc.fixed)
		}
		if hit {
			f := fs[0]
			if f.Severity != scan.SeverityHigh || !slices.Equal(f.Aliases, []string{"CVE-2023-4911"}) || f.Package != tc.pkg.Name || f.Installed != tc.pkg.Version {
				t.Errorf("finding %+v", f)
			}
		}
	}
}

// Synthetic records (not real advisories) for the evaluation rules the real
// data above does not exercise.
var syntheticRecords = []string{
	`{"id":"TEST-BARE","modified":"2024-01-01T00:00:00Z","database_specific":{"severity":"LOW"},
 "affected":[{"package":{"ecosystem":"Debian","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u2"}]}]}]}`,
	`{"id":"TEST-BOTH","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Debian","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.12-1"}]}]},
             {"package":{"ecosystem":"Debian:12","name":"openssl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.11-1~deb12u3"}]}],"ecosystem_specific":{"severity":"HIGH"}}]}`,
	`{"id":"TEST-LAST","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"last_affected":"1.4.0"},{"introduced":"1.2.0"}]}]}]}`,
	`{"id":"TEST-LIMIT","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"limit":"1.1.0"}]}]}]}`,
	`{"id":"TEST-VERSIONS","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"versions":["1.5.0","v1.6.1"]}]}`,
	`{"id":"TEST-PAIRS","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"8.0.0-r0"},{"fixed":"8.5.0-r0"},{"introduced":"0"},{"fixed":"7.88.1-r2"}]}]}]}`,
	`{"id":"TEST-UBUNTU","modified":"2024-01-01T00:00:00Z","severity":[{"type":"Ubuntu","score":"medium"}],
 "affected":[{"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.11.dfsg-2ubuntu9.2"}]}]},
             {"package":{"ecosystem":"Ubuntu:Pro:22.04:LTS","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.2.11.dfsg-2ubuntu9.9"}]}]}]}`,
	`{"id":"TEST-PYPI","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"PyPI","name":"jinja2"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.3"}]}],"versions":["3.1.2"]}]}`,
	`{"id":"TEST-HEX","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Hex","name":"plug"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.15.3"}]}],"versions":["1.15.2"]}]}`,
}

func syntheticDB(t testing.TB) *DB {
	t.Helper()
	return importRecords(t, syntheticRecords)
}

// importRecords imports OSV records, one JSON file each, and fails t if
// any is skipped.
func importRecords(t testing.TB, records []string) *DB {
	t.Helper()
	dir := t.TempDir()
	for i, rec := range records {
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)+".json"), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db.Skipped() != 0 {
		t.Fatal(db.Warnings())
	}
	return db
}

func TestMatchRules(t *testing.T) {
	db := syntheticDB(t)
	for _, tc := range []struct {
		name string
		pkg  scan.Package
		want map[string]string
	}{
		{"bare Debian applies to Debian:12; release entry gives nearest fix",
			scan.Package{Ecosystem: "Debian:12", Name: "libssl3", Source: "openssl", Version: "3.0.11-1~deb12u1"},
			map[string]string{"TEST-BARE": "3.0.11-1~deb12u2", "TEST-BOTH": "3.0.11-1~deb12u3"}},
		{"fixed in release, still below the bare fix",
			scan.Package{Ecosystem: "Debian:12", Name: "libssl3", Source: "openssl", Version: "3.0.11-1~deb12u3"},
			map[string]string{"TEST-BOTH": "3.0.12-1"}},
		{"bare Debian applies to Debian:11",
			scan.Package{Ecosystem: "Debian:11", Name: "openssl", Version: "1.1.1w-0+deb11u1"},
			map[string]string{"TEST-BARE": "3.0.11-1~deb12u2", "TEST-BOTH": "3.0.12-1"}},
		{"last_affected is inclusive", scan.Package{Ecosystem: "Go", Name: "example.com/m", Version: "v1.4.0"}, map[string]string{"TEST-LAST": ""}},
		{"above last_affected", scan.Package{Ecosystem: "Go", Name: "example.com/m", Version: "v1.4.1"}, map[string]string{}},
		{"below introduced", scan.Package{Ecosystem: "Go", Name: "example.com/m", Version: "v1.1.9"}, map[string]string{}},
		{"below limit", scan.Package{Ecosystem: "Go", Name: "example.com/m", Version: "v1.0.9"}, map[string]string{"TEST-LIMIT": ""}},
		{"explicit versions", scan.Package{Ecosystem: "Go", Name: "example.com/m", Version: "v1.5.0"}, map[string]string{"TEST-VERSIONS": ""}},
		{"explicit versions with v", scan.Package{Ecosystem: "Go", Name: "example.com/m", Version: "v1.6.1"}, map[string]string{"TEST-VERSIONS": ""}},
		{"not in versions", scan.Package{Ecosystem: "Go", Name: "example.com/m", Version: "v1.6.0"}, map[string]string{}},
		{"second pair", scan.Package{Ecosystem: "Alpine:v3.19", Name: "curl", Version: "8.4.0-r0"}, map[string]string{"TEST-PAIRS": "8.5.0-r0"}},
		{"between pairs", scan.Package{Ecosystem: "Alpine:v3.19", Name: "curl", Version: "7.88.1-r2"}, map[string]string{}},
		{"first pair", scan.Package{Ecosystem: "Alpine:v3.19", Name: "curl", Version: "7.88.1-r1"}, map[string]string{"TEST-PAIRS": "7.88.1-r2"}},
		{"Ubuntu LTS suffix, not Pro", scan.Package{Ecosystem: "Ubuntu:22.04", Name: "zlib1g", Source: "zlib", Version: "1:1.2.11.dfsg-2ubuntu9.2"}, map[string]string{}},
		{"Ubuntu affected", scan.Package{Ecosystem: "Ubuntu:22.04", Name: "zlib1g", Source: "zlib", Version: "1:1.2.11.dfsg-2ubuntu9"}, map[string]string{"TEST-UBUNTU": "1:1.2.11.dfsg-2ubuntu9.2"}},
		{"unknown ecosystem: versions list only", scan.Package{Ecosystem: "Hex", Name: "plug", Version: "1.15.2"}, map[string]string{"TEST-HEX": ""}},
		{"unknown ecosystem: ranges not evaluated", scan.Package{Ecosystem: "Hex", Name: "plug", Version: "1.15.1"}, map[string]string{}},
		{"PyPI range, PEP 440 order", scan.Package{Ecosystem: "PyPI", Name: "jinja2", Version: "3.1.1"}, map[string]string{"TEST-PYPI": "3.1.3"}},
		{"PyPI pre-release of the fix is still affected", scan.Package{Ecosystem: "PyPI", Name: "jinja2", Version: "3.1.3rc1"}, map[string]string{"TEST-PYPI": "3.1.3"}},
		{"PyPI fixed", scan.Package{Ecosystem: "PyPI", Name: "jinja2", Version: "3.1.3"}, map[string]string{}},
	} {
		fs := db.Match(inventory(tc.pkg))
		if got := found(fs, tc.pkg.Name); !mapsEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMatchSeverityAndOrder(t *testing.T) {
	db := syntheticDB(t)
	db.Merge(importTestdata(t, "debian"))
	inv := inventory(
		scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u2"},
		scan.Package{Ecosystem: "Debian:12", Name: "libssl3", Source: "openssl", Version: "3.0.11-1~deb12u1"},
		scan.Package{Ecosystem: "Debian:12", Name: "openssl", Version: "3.0.11-1~deb12u1"},
		scan.Package{Ecosystem: "Ubuntu:22.04", Name: "zlib1g", Source: "zlib", Version: "1:1.2.11.dfsg-2ubuntu9"},
	)
	var got []string
	for _, f := range db.Match(inv) {
		got = append(got, f.ID+" "+f.Package+" "+string(f.Severity))
	}
	want := []string{
		// Severity: record CVSS first, then the affected entry's ecosystem_specific, then database_specific.
		"DEBIAN-CVE-2023-4911 libc6 HIGH",
		"TEST-BOTH libssl3 HIGH",
		"TEST-BOTH openssl HIGH",
		"TEST-UBUNTU zlib1g MEDIUM",
		"TEST-BARE libssl3 LOW",
		"TEST-BARE openssl LOW",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
}

func TestMatchDedupe(t *testing.T) {
	db := importTestdata(t, "go-osv")
	// The same module twice in one binary (a broken inventory) and once in
	// another binary: one finding per location.
	inv := inventory(
		scan.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5", Location: "a"},
		scan.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5", Location: "a"},
		scan.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5", Location: "b"},
	)
	n := 0
	for _, f := range db.Match(inv) {
		if f.ID == "GO-2021-0113" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("GO-2021-0113 reported %d times, want 2", n)
	}
	if got := db.Match(nil); got != nil {
		t.Errorf("Match(nil) = %v", got)
	}
	if got := (&DB{}).Match(inv); got != nil {
		t.Errorf("empty DB: %v", got)
	}
}
