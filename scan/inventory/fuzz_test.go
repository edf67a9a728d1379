package inventory

import (
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/internal/testelf"
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

func FuzzPythonMetadata(f *testing.F) {
	f.Add([]byte("Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0\n\nbody\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs := pythonPackages(data)
		if len(pkgs) > 1 {
			t.Fatalf("%d packages from one metadata file", len(pkgs))
		}
		for _, p := range pkgs {
			if p.Ecosystem != "PyPI" || p.Name == "" || p.Version == "" {
				t.Fatalf("bad package %+v", p)
			}
			if n := pep503Name(p.Name); n != pep503Name(n) || strings.ContainsAny(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.") || strings.Contains(n, "--") {
				t.Fatalf("pep503Name(%q) = %q is not normal", p.Name, n)
			}
			checkPackage(t, p, "pkg:pypi/")
		}
	})
}

func FuzzNpmPackageJSON(f *testing.F) {
	f.Add([]byte(`{"name":"@npmcli/arborist","version":"7.5.4"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range npmPackageJSON(data) {
			checkNpmPackage(t, p)
		}
	})
}

func FuzzNpmLock(f *testing.F) {
	f.Add([]byte(lockV3))
	f.Add([]byte(lockV1))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range npmLockPackages(data) {
			checkNpmPackage(t, p)
		}
	})
}

// checkNpmPackage: a scoped name puts its scope, and only it, in the purl's
// namespace.
func checkNpmPackage(t *testing.T, p scan.Package) {
	t.Helper()
	if p.Ecosystem != "npm" || p.Name == "" || p.Version == "" {
		t.Fatalf("bad package %+v", p)
	}
	rest := strings.TrimPrefix(p.PURL, "pkg:npm/")
	if rest == p.PURL || strings.Count(rest, "@") != 1 || strings.Count(rest, "/") > 1 || strings.ContainsAny(rest, " \n#?") {
		t.Fatalf("malformed PURL %q for %+v", p.PURL, p)
	}
}

func FuzzJavaArchive(f *testing.F) {
	f.Add(zipBytes(f, pomEntry("org.apache.logging.log4j", "log4j-core", "2.14.1")), "log4j-core-2.14.1.jar")
	f.Add(zipBytes(f, zipEntry{"META-INF/MANIFEST.MF", "Bundle-SymbolicName: a.b;singleton:=true\nBundle-Version: 1.0\n"}), "b.jar")
	f.Fuzz(func(t *testing.T, data []byte, base string) {
		pkgs, err := readJavaArchive(bytes.NewReader(data), int64(len(data)), base)
		if err != nil {
			t.Fatalf("in-memory archive: %v", err)
		}
		for _, p := range pkgs {
			if p.Ecosystem != "Maven" || p.Version == "" || javaArtifact(p.Name) == "" || strings.Count(p.Name, ":") > 1 {
				t.Fatalf("bad package %+v", p)
			}
			if !strings.HasPrefix(p.PURL, "pkg:maven/") || strings.ContainsAny(p.PURL, " \n#?") {
				t.Fatalf("malformed PURL %q for %+v", p.PURL, p)
			}
		}
	})
}

func FuzzJavaManifest(f *testing.F) {
	f.Add([]byte("Manifest-Version: 1.0\r\nImplementation-Title: x\r\nImplementation-Version: 1.2\r\n long\r\n\r\nName: a/\r\n"), "x.jar")
	f.Fuzz(func(t *testing.T, data []byte, base string) {
		name, version := javaNameFromFile(base)
		if version != "" && !strings.HasPrefix(base, name+"-"+version) {
			t.Fatalf("javaNameFromFile(%q) = %q, %q: not a split of the name", base, name, version)
		}
		if p, ok := javaManifestPackage(parseJavaManifest(data), name, version); ok && (p.Version == "" || strings.Contains(p.Name, ":")) {
			t.Fatalf("bad package %+v", p)
		}
		if p, ok := javaPomPackage(parseJavaProperties(data)); ok && strings.Count(p.Name, ":") != 1 {
			t.Fatalf("bad package %+v", p)
		}
	})
}

func FuzzComposerInstalled(f *testing.F) {
	f.Add([]byte(`{"packages":[{"name":"symfony/http-kernel","version":"v5.4.19"}]}`))
	f.Add([]byte(`[{"name":"guzzlehttp/guzzle","version":"6.5.5"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range composerPackages(data) {
			if p.Ecosystem != "Packagist" || p.Version == "" || strings.Count(p.Name, "/") != 1 {
				t.Fatalf("bad package %+v", p)
			}
			rest := strings.TrimPrefix(p.PURL, "pkg:composer/")
			if rest == p.PURL || strings.Count(rest, "/") != 1 || strings.Count(rest, "@") != 1 || strings.ContainsAny(rest, " \n#?") {
				t.Fatalf("malformed PURL %q for %+v", p.PURL, p)
			}
		}
	})
}

func FuzzDotnetDeps(f *testing.F) {
	f.Add([]byte(`{"libraries":{"Newtonsoft.Json/13.0.1":{"type":"package"},"MyApp/1.0.0":{"type":"project"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range dotnetPackages(data) {
			if p.Ecosystem != "NuGet" || p.Name == "" || p.Version == "" || strings.Contains(p.Name, "/") {
				t.Fatalf("bad package %+v", p)
			}
			checkPackage(t, p, "pkg:nuget/")
		}
	})
}

func FuzzGemspec(f *testing.F) {
	f.Add([]byte("Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\nend\n"), "rake-13.0.6.gemspec")
	f.Add([]byte("s.name = %q{json}\n"), "json-1.8.6.gemspec")
	f.Fuzz(func(t *testing.T, data []byte, base string) {
		name, version := gemNameFromFile(base)
		if version != "" && !strings.HasPrefix(base, name+"-"+version) {
			t.Fatalf("gemNameFromFile(%q) = %q, %q: not a split of the name", base, name, version)
		}
		pkgs := gemspecPackages(data, base)
		if len(pkgs) > 1 {
			t.Fatalf("%d packages from one gemspec", len(pkgs))
		}
		for _, p := range pkgs {
			if p.Ecosystem != "RubyGems" || p.Name == "" || p.Version == "" {
				t.Fatalf("bad package %+v", p)
			}
			checkPackage(t, p, "pkg:gem/")
		}
	})
}

func FuzzRustAuditData(f *testing.F) {
	good := testelf.Zlib(f, []byte(auditJSON))
	f.Add(good)
	f.Add(testelf.WithSection(f, auditSection, elf.SHT_PROGBITS, good, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The same bytes as a section's contents and as a whole file.
		for _, pkgs := range [][]scan.Package{auditDataPackages(data), rustELFPackages(bytes.NewReader(data))} {
			for _, p := range pkgs {
				if p.Ecosystem != "crates.io" || p.Name == "" || p.Version == "" {
					t.Fatalf("bad package %+v", p)
				}
				checkPackage(t, p, "pkg:cargo/")
			}
		}
	})
}

// FuzzRPMDB: go-rpmdb panics in a goroutine of its own could not be
// recovered and would end the test binary, so any input reaching one
// fails here.
func FuzzRPMDB(f *testing.F) {
	for _, name := range []string{"libuuid.Packages", "syft-coverage.Packages"} {
		data, err := os.ReadFile(filepath.Join("testdata", "rpm", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := readRPMBDB(data)
		if err != nil && entries != nil {
			t.Fatalf("entries with an error: %v", err)
		}
		for _, p := range rpmPackages(entries, scan.OSRelease{ID: "almalinux", VersionID: "8.8"}) {
			if p.Ecosystem != "AlmaLinux:8" || p.Version == "" {
				t.Fatalf("bad package %+v", p)
			}
			checkPackage(t, p, "pkg:rpm/almalinux/")
		}
	})
}

// FuzzRPMSQLite: the SQLite walk must end, in entries or an error, on any
// file, without a panic.
func FuzzRPMSQLite(f *testing.F) {
	f.Add(sqliteFixture(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := readRPMSQLite(data)
		checkRPMEntries(t, entries, err)
	})
}

// FuzzRPMNDB: as FuzzRPMSQLite, for ndb's Packages.db.
func FuzzRPMNDB(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "rpm", "sle15-bci.Packages.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := readRPMNDB(data)
		checkRPMEntries(t, entries, err)
	})
}

// FuzzRPMHeader: one header blob, as every format stores it.
func FuzzRPMHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, blob []byte) {
		e, err := parseRPMHeader(blob)
		if err != nil {
			return
		}
		checkRPMEntries(t, []rpmEntry{e}, nil)
		if len(e.Files) > len(blob) {
			t.Fatalf("%d files from %d bytes", len(e.Files), len(blob))
		}
	})
}

func checkRPMEntries(t *testing.T, entries []rpmEntry, err error) {
	t.Helper()
	if err != nil && entries != nil {
		t.Fatalf("entries with an error: %v", err)
	}
	for _, p := range rpmPackages(entries, scan.OSRelease{ID: "rocky", VersionID: "9.3"}) {
		if p.Ecosystem != "Rocky Linux:9" || p.Name == "" || p.Version == "" {
			t.Fatalf("bad package %+v", p)
		}
		checkPackage(t, p, "pkg:rpm/rocky/")
	}
}
