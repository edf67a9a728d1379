package inventory

import (
	"reflect"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func TestParseDpkgStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		require bool
		want    []dpkgEntry
	}{
		{"installed only", debianStatus, true, []dpkgEntry{
			{"libc6", "2.36-9+deb12u2", "glibc", "amd64", "install ok installed"},
			{"libssl3", "3.0.11-1~deb12u2", "openssl (3.0.11-1~deb12u1)", "amd64", "install ok installed"},
			{"held", "2:1.0-1", "", "all", "hold ok installed"},
		}},
		{"status.d: no Status needed", stanza("a", "1"), false, []dpkgEntry{{"a", "1", "", "amd64", ""}}},
		{"status file: no Status means not installed", stanza("a", "1"), true, nil},
		{"status.d: explicit not-installed", stanza("a", "1") + "Status: purge ok not-installed\n", false, nil},
		{"half-installed is not installed", stanza("a", "1") + "Status: install reinstreq half-installed\n", true, nil},
		{"CRLF, lower-case keys, no trailing newline", "package: a\r\nversion: 1\r\nstatus: install ok installed", true,
			[]dpkgEntry{{"a", "1", "", "", "install ok installed"}}},
		{"blank lines with spaces separate stanzas", stanza("a", "1") + "  \n" + stanza("b", "2"), false,
			[]dpkgEntry{{"a", "1", "", "amd64", ""}, {"b", "2", "", "amd64", ""}}},
		{"stanza without Version skipped", "Package: a\n\n" + stanza("b", "2"), false, []dpkgEntry{{"b", "2", "", "amd64", ""}}},
		{"continuation lines ignored", "Package: a\nDescription: x\n Version: 9\nVersion: 1\n", false, []dpkgEntry{{"a", "1", "", "", ""}}},
		{"empty", "", false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseDpkgStatus([]byte(tc.in), tc.require); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDpkgPackagesEcosystem(t *testing.T) {
	e := []dpkgEntry{{Package: "libc6", Version: "2.35-0ubuntu3.4", Source: "glibc", Architecture: "arm64"}}
	tests := []struct {
		os       scan.OSRelease
		eco, url string
	}{
		{scan.OSRelease{ID: "ubuntu", VersionID: "22.04"}, "Ubuntu:22.04", "pkg:deb/ubuntu/libc6@2.35-0ubuntu3.4?arch=arm64&distro=ubuntu-22.04"},
		{scan.OSRelease{ID: "debian", VersionID: "11"}, "Debian:11", "pkg:deb/debian/libc6@2.35-0ubuntu3.4?arch=arm64&distro=debian-11"},
		{scan.OSRelease{ID: "debian"}, "Debian", "pkg:deb/debian/libc6@2.35-0ubuntu3.4?arch=arm64"}, // testing/sid: no VERSION_ID
		{scan.OSRelease{}, "Debian", "pkg:deb/debian/libc6@2.35-0ubuntu3.4?arch=arm64"},
	}
	for _, tc := range tests {
		got := dpkgPackages(e, tc.os)
		if len(got) != 1 || got[0].Ecosystem != tc.eco || got[0].PURL != tc.url || got[0].Source != "glibc" {
			t.Errorf("%+v: got %+v, want ecosystem %q purl %q", tc.os, got, tc.eco, tc.url)
		}
	}
}

func TestParseApkInstalled(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []apkEntry
	}{
		{"two records", apkInstalledDB, []apkEntry{{Name: "busybox", Version: "1.30.1-r1", Origin: "busybox", Arch: "x86_64"}, {Name: "ssl_client", Version: "1.30.1-r1", Origin: "busybox", Arch: "x86_64"}}},
		{"no trailing blank line, CRLF", "P:musl\r\nV:1.1.22-r3\r\nA:x86_64", []apkEntry{{Name: "musl", Version: "1.1.22-r3", Arch: "x86_64"}}},
		{"record without V skipped", "P:a\n\nP:b\nV:1\n", []apkEntry{{Name: "b", Version: "1"}}},
		{"junk lines ignored", "garbage\nPX\n:\nP:a\nV:1\n", []apkEntry{{Name: "a", Version: "1"}}},
		// apk writes F: for each folder, then R: for each file in it; a
		// record's folders do not carry over to the next record.
		{"files", "P:py3-yaml\nV:6.0.1-r1\nF:usr\nF:usr/lib/python3.11/site-packages/PyYAML-6.0.1.dist-info\nR:METADATA\nR:RECORD\nF:usr/bin\n\nP:b\nV:1\nR:top\n",
			[]apkEntry{{Name: "py3-yaml", Version: "6.0.1-r1", Files: []string{"usr/lib/python3.11/site-packages/PyYAML-6.0.1.dist-info/METADATA", "usr/lib/python3.11/site-packages/PyYAML-6.0.1.dist-info/RECORD"}},
				{Name: "b", Version: "1", Files: []string{"top"}}}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseApkInstalled([]byte(tc.in)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestApkEcosystem(t *testing.T) {
	tests := []struct {
		os  scan.OSRelease
		eco string
	}{
		{scan.OSRelease{ID: "alpine", VersionID: "3.10.4"}, "Alpine:v3.10"},
		{scan.OSRelease{ID: "alpine", VersionID: "3.21_alpha20240807"}, "Alpine:v3.21"},
		{scan.OSRelease{ID: "alpine", VersionID: "edge"}, "Alpine"},
		{scan.OSRelease{ID: "wolfi", VersionID: "20230201"}, "Wolfi"},
		{scan.OSRelease{}, "Alpine"},
	}
	for _, tc := range tests {
		got := apkPackages([]apkEntry{{Name: "a", Version: "1"}}, tc.os)
		if got[0].Ecosystem != tc.eco {
			t.Errorf("%+v: ecosystem %q, want %q", tc.os, got[0].Ecosystem, tc.eco)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		in   string
		want scan.OSRelease
	}{
		{debian12OSRelease, debian12},
		{alpine310OSRelease, alpine310},
		{"# comment\nID='ubuntu'\nVERSION_ID=\"22.04\"\nPRETTY_NAME=\"Ubuntu \\\"Jammy\\\"\"\nVERSION_CODENAME=jammy\nJUNK\n",
			scan.OSRelease{ID: "ubuntu", VersionID: "22.04", VersionCodename: "jammy", PrettyName: `Ubuntu "Jammy"`}},
		{"", scan.OSRelease{}},
	}
	for _, tc := range tests {
		if got := parseOSRelease([]byte(tc.in)); got != tc.want {
			t.Errorf("parseOSRelease(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestPURL(t *testing.T) {
	tests := []struct {
		typ, ns, name, version string
		quals                  [][2]string
		want                   string
	}{
		{"deb", "debian", "libc6", "2.36-9+deb12u2", qualifiers("arch", "amd64", "distro", "debian-12"), "pkg:deb/debian/libc6@2.36-9%2Bdeb12u2?arch=amd64&distro=debian-12"},
		{"deb", "debian", "attr", "1:2.4.47-2", qualifiers("arch", "", "distro", "debian-12"), "pkg:deb/debian/attr@1:2.4.47-2?distro=debian-12"},
		{"golang", "", "golang.org/x/text", "v0.3.5", nil, "pkg:golang/golang.org/x/text@v0.3.5"},
		{"golang", "", "stdlib", "v1.21.3", nil, "pkg:golang/stdlib@v1.21.3"},
		{"golang", "", "example.com/a b", "", nil, "pkg:golang/example.com/a%20b"},
		{"apk", "alpine", "busybox", "1.30.1-r1", qualifiers("arch", "x86_64"), "pkg:apk/alpine/busybox@1.30.1-r1?arch=x86_64"},
	}
	for _, tc := range tests {
		if got := purl(tc.typ, tc.ns, tc.name, tc.version, tc.quals); got != tc.want {
			t.Errorf("purl(%q, %q, %q, %q) = %q, want %q", tc.typ, tc.ns, tc.name, tc.version, got, tc.want)
		}
	}
}

func TestMajorMinor(t *testing.T) {
	for in, want := range map[string]string{"3.10.4": "3.10", "3.9": "3.9", "3": "", "": "", "x.1": "", "3.x": "", "3.18_rc1": "3.18"} {
		if got := majorMinor(in); got != want {
			t.Errorf("majorMinor(%q) = %q, want %q", in, got, want)
		}
	}
}
