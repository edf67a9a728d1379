package inventory

import (
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// Seeds beyond testdata/fuzz: the fixtures the unit tests use.

func FuzzDpkgStatus(f *testing.F) {
	f.Add([]byte(debianStatus), true)
	f.Add([]byte(stanza("a", "1")), false)
	f.Fuzz(func(t *testing.T, data []byte, requireInstalled bool) {
		entries := parseDpkgStatus(data, requireInstalled)
		for _, e := range entries {
			if e.Package == "" || e.Version == "" {
				t.Fatalf("entry without Package or Version: %+v", e)
			}
			if requireInstalled && !strings.HasSuffix(e.Status, "installed") {
				t.Fatalf("not installed: %+v", e)
			}
			if strings.ContainsAny(e.Package+e.Version+e.Source+e.Architecture, "\n") {
				t.Fatalf("field spans lines: %+v", e)
			}
		}
		pkgs := dpkgPackages(entries, scan.OSRelease{ID: "debian", VersionID: "12"})
		if len(pkgs) != len(entries) {
			t.Fatalf("%d entries became %d packages", len(entries), len(pkgs))
		}
		for _, p := range pkgs {
			checkPackage(t, p, "pkg:deb/debian/")
		}
	})
}

func FuzzApkInstalled(f *testing.F) {
	f.Add([]byte(apkInstalledDB))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries := parseApkInstalled(data)
		for _, e := range entries {
			if e.Name == "" || e.Version == "" {
				t.Fatalf("entry without name or version: %+v", e)
			}
		}
		pkgs := apkPackages(entries, scan.OSRelease{ID: "alpine", VersionID: "3.10.4"})
		if len(pkgs) != len(entries) {
			t.Fatalf("%d entries became %d packages", len(entries), len(pkgs))
		}
		for _, p := range pkgs {
			checkPackage(t, p, "pkg:apk/alpine/")
		}
	})
}

// checkPackage: a package URL never carries raw separators from a field.
func checkPackage(t *testing.T, p scan.Package, prefix string) {
	t.Helper()
	if p.Source == p.Name {
		t.Fatalf("Source repeats Name: %+v", p)
	}
	if !strings.HasPrefix(p.PURL, prefix) {
		t.Fatalf("PURL %q lacks %q", p.PURL, prefix)
	}
	rest := strings.TrimPrefix(p.PURL, prefix)
	if strings.Count(rest, "@") != 1 || strings.Count(rest, "?") > 1 || strings.ContainsAny(rest, " \n#/") {
		t.Fatalf("malformed PURL %q for %+v", p.PURL, p)
	}
}
