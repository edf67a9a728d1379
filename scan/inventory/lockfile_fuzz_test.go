package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// addLockSamples seeds f with the samples in testdata/lockfiles whose
// names match.
func addLockSamples(f *testing.F, names ...string) {
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "lockfiles", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzPythonLockFiles feeds the same bytes to every Python lock reader:
// none may panic, and every package is a pinned PyPI package with a
// well-formed purl.
func FuzzPythonLockFiles(f *testing.F) {
	addLockSamples(f, "requirements.txt", "Pipfile.lock", "poetry-1.1.lock", "poetry-2.1.lock", "uv.lock")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte) []scan.Package{
			requirementsPackages, pipfileLockPackages, poetryLockPackages, uvLockPackages,
		} {
			for _, p := range parse(data) {
				if p.Ecosystem != "PyPI" || p.Name == "" || p.Version == "" || !isPythonName(p.Name) || strings.ContainsAny(p.Version, " =<>,;") {
					t.Fatalf("bad package %+v", p)
				}
				checkPackage(t, p, "pkg:pypi/")
			}
		}
	})
}

func FuzzGemfileLock(f *testing.F) {
	addLockSamples(f, "Gemfile.lock")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range gemfileLockPackages(data) {
			if p.Ecosystem != "RubyGems" || p.Name == "" || p.Version == "" || strings.Contains(p.Version, "-") {
				t.Fatalf("bad package %+v", p)
			}
			checkPackage(t, p, "pkg:gem/")
		}
	})
}

func FuzzCargoLock(f *testing.F) {
	addLockSamples(f, "Cargo.lock")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range cargoLockPackages(data) {
			if p.Ecosystem != "crates.io" || p.Name == "" || p.Version == "" {
				t.Fatalf("bad package %+v", p)
			}
			checkPackage(t, p, "pkg:cargo/")
		}
	})
}
