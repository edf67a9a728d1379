// Package inventory lists the packages installed in a container image: dpkg,
// apk and rpm databases, Go and Rust binaries, Python, npm, Java, PHP, .NET
// and Ruby packages and lock files, read from the image's layers as
// streams, with the OS package that installed each language package's file.
package inventory

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// SBOMMediaType is the media type of the SBOM that CycloneDX renders.
const SBOMMediaType = "application/vnd.cyclonedx+json"

// Layer opens one layer's blob (compressed: gzip, zstd or none; detect by magic bytes).
type Layer func() (io.ReadCloser, error)

// Limits that bound the work and memory one Scan may use.
const (
	// maxMetadataFile caps a kept file (dpkg status, apk db, os-release;
	// the rpm database has its own, maxRPMDB).
	// Real dpkg status files are a few MB; anything past this is refused
	// rather than silently truncated, which would hide packages.
	maxMetadataFile = 64 << 20
	// maxExecutable: larger executables are not inspected.
	maxExecutable = 512 << 20
	// minExecutable: no Go or Rust binary is this small; skipping tiny
	// files avoids spooling scripts and stubs.
	minExecutable = 4 << 10
)

// Paths of the files that matter, relative to the image root.
const (
	dpkgStatusPath  = "var/lib/dpkg/status"
	dpkgStatusDir   = "var/lib/dpkg/status.d"
	apkInstalled    = "lib/apk/db/installed"
	osReleasePath   = "etc/os-release"
	osReleaseUsrLib = "usr/lib/os-release"
)

// Scan applies the layers in order, honouring whiteouts (.wh.<name>, .wh..wh..opq), and reads
// var/lib/dpkg/status, var/lib/dpkg/status.d/*, lib/apk/db/installed, the rpm database (var/lib/rpm/rpmdb.sqlite, Packages.db or Packages), etc/os-release (usr/lib/os-release),
// every executable regular file that is a Go binary (debug/buildinfo: main module, deps with replacements, Go version → "stdlib")
// or an ELF Rust binary built with cargo-auditable (its .dep-v0 section: crates.io crates),
// Python metadata (*.dist-info/METADATA, *.egg-info/PKG-INFO, *.egg-info), package.json under node_modules, package-lock.json
// outside it, Java archives (*.jar, *.war, *.ear, *.jpi, *.hpi: pom.properties, MANIFEST.MF, nested archives, the file name),
// Composer, .NET and RubyGems metadata, the lock files lockFileParser names, and dpkg's info/*.list file lists (owners).
// It never extracts to disk; memory is bounded (it keeps only the files it needs and the packages read from the others, and
// reads executables and Java archives through size caps, via a temp file when large). docs/scanning.md has the rules.
func Scan(ctx context.Context, platform string, layers []Layer) (*scan.Inventory, error) {
	fs := newOverlay()
	for i, open := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if open == nil {
			return nil, fmt.Errorf("inventory: layer %d: nil opener", i)
		}
		if err := applyLayer(ctx, fs, i, open); err != nil {
			return nil, fmt.Errorf("inventory: layer %d: %w", i, err)
		}
	}
	return fs.inventory(platform)
}

func applyLayer(ctx context.Context, fs *overlay, index int, open Layer) (err error) {
	rc, err := open()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close: %w", cerr)
		}
	}()
	r, closeDecoder, err := decompress(&ctxReader{ctx: ctx, r: rc})
	if err != nil {
		return err
	}
	defer closeDecoder()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if err := fs.apply(index, hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
}

// inventory reads the packages out of the final file system state.
func (o *overlay) inventory(platform string) (*scan.Inventory, error) {
	inv := &scan.Inventory{Platform: platform}
	if n, ok := o.file(osReleasePath); ok {
		inv.OS = parseOSRelease(n.data)
	} else if n, ok := o.file(osReleaseUsrLib); ok {
		inv.OS = parseOSRelease(n.data)
	}
	var pkgs []scan.Package
	var lists []ownedFiles // what each OS package installed, to find the language packages they own

	if n, ok := o.file(dpkgStatusPath); ok {
		entries := parseDpkgStatus(n.data, true)
		debs := inLayer(dpkgPackages(entries, inv.OS), n.layer)
		lists = append(lists, o.dpkgOwnedFiles(entries, debs)...)
		pkgs = append(pkgs, debs...)
	}
	for _, n := range o.filesIn(dpkgStatusDir) {
		pkgs = append(pkgs, inLayer(dpkgPackages(parseDpkgStatus(n.data, false), inv.OS), n.layer)...)
	}
	lists = append(lists, o.statusDOwnedFiles(inv.OS)...)
	if n, ok := o.file(apkInstalled); ok {
		entries := parseApkInstalled(n.data)
		apks := inLayer(apkPackages(entries, inv.OS), n.layer)
		for i, e := range entries {
			lists = append(lists, ownedFiles{owner: apks[i].PURL, files: fileList(e.Files)})
		}
		pkgs = append(pkgs, apks...)
	}
	for _, db := range rpmDatabases {
		n, ok := o.file(db.path)
		if !ok {
			continue
		}
		// Only the newest format present is read, as rpm would. One that
		// cannot be read lists nothing rather than failing the scan: the
		// image's other packages are still worth reporting.
		if entries, err := db.read(n.data); err == nil {
			rpms := inLayer(rpmPackages(entries, inv.OS), n.layer)
			for i, e := range entries {
				lists = append(lists, ownedFiles{owner: rpms[i].PURL, files: fileList(e.Files)})
			}
			pkgs = append(pkgs, rpms...)
		}
		break
	}
	read := make(map[string]bool)
	for p, n := range o.nodes {
		if n.kind == kindPackages {
			read[p] = true
		}
	}
	owners := o.owners(read, lists)
	for p := range read {
		n := o.nodes[p]
		for _, fp := range n.pkgs {
			if fp.Location == "" {
				fp.Location = p
			} else {
				fp.Location = p + ":" + fp.Location
			}
			fp.Layer = n.layer
			fp.Owner = owners[p]
			pkgs = append(pkgs, fp)
		}
	}
	inv.Packages = sortPackages(dropInstalledFromLocks(dropLockDuplicates(pkgs)))
	return inv, nil
}

// inLayer sets the layer of packages read from one file.
func inLayer(pkgs []scan.Package, layer int) []scan.Package {
	for i := range pkgs {
		pkgs[i].Layer = layer
	}
	return pkgs
}

// sortPackages orders by Ecosystem, Name, Version, Location (then Source,
// PURL and Layer so the order is total) and drops duplicates, such as a
// package listed both in dpkg's status and in status.d: one that differs
// only in its layer keeps the lowest, where it first appeared.
func sortPackages(pkgs []scan.Package) []scan.Package {
	slices.SortFunc(pkgs, func(a, b scan.Package) int {
		for _, c := range [...][2]string{
			{a.Ecosystem, b.Ecosystem}, {a.Name, b.Name}, {a.Version, b.Version},
			{a.Location, b.Location}, {a.Source, b.Source}, {a.PURL, b.PURL},
		} {
			if d := strings.Compare(c[0], c[1]); d != 0 {
				return d
			}
		}
		return a.Layer - b.Layer
	})
	return slices.CompactFunc(pkgs, func(a, b scan.Package) bool {
		a.Layer, b.Layer = 0, 0
		return a == b
	})
}

// ctxReader stops a layer read when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// cleanPath turns a tar entry name into a root-relative path ("" for the
// root), so "./a/../b/" and "/b" both become "b" and nothing escapes the root.
func cleanPath(name string) string {
	p := path.Clean("/" + name)
	return strings.TrimPrefix(p, "/")
}
