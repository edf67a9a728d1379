package inventory

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// packageReader reads the packages out of one regular file of size bytes,
// Location left "" (or the path inside a Java archive). A file that turns out
// not to hold packages gives none and no error; an error is reserved for a
// layer that cannot be read.
type packageReader func(r io.Reader, size int64) ([]scan.Package, error)

// Caps on the language package files, beyond which a file is skipped: none
// real comes close, and reading on would let one file cost the node memory.
const (
	// maxManifest caps a Python METADATA/PKG-INFO (only its header block is
	// read), a package.json and a gemspec.
	maxManifest = 1 << 20
	// maxLockFile caps a lock file (package-lock.json, poetry.lock, …), a
	// Composer installed.json and a .NET deps.json; large monorepos reach a
	// few MB.
	maxLockFile = 16 << 20
)

// packageReaderFor picks how to read the regular file at p (its parent
// already resolved through symlinks), or nil for a file the scan ignores.
// Language files are known by their path; Go and Rust binaries by being
// executable.
func packageReaderFor(p string, hdr *tar.Header) packageReader {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case isPythonMetadata(dir, base):
		return readCapped(maxManifest, true, pythonPackages)
	case base == "package.json" && underNodeModules(dir):
		return readCapped(maxManifest, false, npmPackageJSON)
	case base == "package-lock.json" && !underNodeModules(dir):
		return readCapped(maxLockFile, false, npmLockPackages)
	case isComposerInstalled(p):
		return readCapped(maxLockFile, false, composerPackages)
	case isDotnetDeps(base):
		return readCapped(maxLockFile, false, dotnetPackages)
	case lockParser(dir, base) != nil:
		return readCapped(maxLockFile, false, lockParser(dir, base))
	case isGemspec(dir, base):
		return readCapped(maxManifest, false, func(data []byte) []scan.Package { return gemspecPackages(data, base) })
	case isJavaArchive(base):
		return func(r io.Reader, size int64) ([]scan.Package, error) { return readJavaArchive(r, size, base) }
	case hdr.Mode&0o111 != 0 && hdr.Size >= minExecutable && hdr.Size <= maxExecutable:
		return readExecutable
	}
	return nil
}

// readCapped reads a whole small file and parses it. A file over limit is
// skipped, or with truncate read only up to limit (for formats whose useful
// part comes first).
func readCapped(limit int64, truncate bool, parse func([]byte) []scan.Package) packageReader {
	return func(r io.Reader, size int64) ([]scan.Package, error) {
		if size > limit && !truncate {
			return nil, nil
		}
		data, err := io.ReadAll(io.LimitReader(r, limit))
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		return parse(data), nil
	}
}
