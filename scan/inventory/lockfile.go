package inventory

import (
	"path"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// lockFileParser is the parser of a lock file of Python (pip's
// requirements.txt with pinned versions, Pipenv, Poetry, uv), Ruby
// (Bundler), PHP (Composer) or Rust (Cargo) named base, or nil. npm's
// package-lock.json has its own reader and rule (npmlock.go).
func lockFileParser(base string) func([]byte) []scan.Package {
	switch base {
	case "requirements.txt":
		return requirementsPackages
	case "Pipfile.lock":
		return pipfileLockPackages
	case "poetry.lock":
		return poetryLockPackages
	case "uv.lock":
		return uvLockPackages
	case "Gemfile.lock":
		return gemfileLockPackages
	case "composer.lock":
		// installed.json's Composer 2 shape: "packages", with
		// "packages-dev" (require-dev) left out.
		return composerPackages
	case "Cargo.lock":
		return cargoLockPackages
	}
	return nil
}

// lockParser is the parser of the lock file base in folder dir, or nil.
// A lock file inside a folder of installed or downloaded dependencies
// (a published package's own lock, Cargo's registry sources) pins what that
// package was developed with, not what the image holds, and is not read.
func lockParser(dir, base string) func([]byte) []scan.Package {
	if inDependencyFolder(dir) {
		return nil
	}
	return lockFileParser(base)
}

// inDependencyFolder says whether dir lies in a folder of installed or
// downloaded dependencies: npm's, Python's, Composer's (and Go's and cargo
// vendor's) vendor, gem homes, Cargo's caches.
func inDependencyFolder(dir string) bool {
	parts := strings.Split(dir, "/")
	for i, c := range parts {
		switch c {
		case "node_modules", "site-packages", "dist-packages", "vendor", "gems":
			return true
		}
		// ~/.cargo/registry/src/…, ~/.cargo/git/checkouts/…, Debian's
		// /usr/share/cargo/registry/….
		if (c == "registry" || c == "git") && i > 0 && (parts[i-1] == ".cargo" || parts[i-1] == "cargo") {
			return true
		}
	}
	return false
}

// isLockLocation says whether a package's Location is a lock file that
// lockParsers read.
func isLockLocation(loc string) bool {
	return lockFileParser(path.Base(loc)) != nil
}

// dropInstalledFromLocks drops a package read from a lock file when a
// package of the same ecosystem and purl (name and version) was read from
// what installs it anywhere in the image (a dist-info, a gemspec, Composer's
// installed.json, a Rust binary's audit data): the installed one is
// reported, at the file that shows it is there. A lock's pin that nothing
// installed matches (a different version installed, or none found) stays.
func dropInstalledFromLocks(pkgs []scan.Package) []scan.Package {
	type key struct{ ecosystem, purl string }
	installed := make(map[key]bool)
	for _, p := range pkgs {
		if p.Location != "" && !isLockLocation(p.Location) {
			installed[key{p.Ecosystem, p.PURL}] = true
		}
	}
	return slices.DeleteFunc(pkgs, func(p scan.Package) bool {
		return isLockLocation(p.Location) && installed[key{p.Ecosystem, p.PURL}]
	})
}
