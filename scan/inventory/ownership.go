package inventory

import (
	"bytes"
	"path"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// dpkgInfoDir holds dpkg's per-package file lists, "<package>[:<arch>].list":
// every path the package installed, one absolute path a line.
const dpkgInfoDir = "var/lib/dpkg/info"

// maxDpkgList caps one kept .list file; the largest real ones (kernel
// headers, documentation) are a few MB. A full Debian system's lists are
// ~10 MB in all, which the scan keeps in memory until the layers are applied.
const maxDpkgList = 16 << 20

// ownedFiles is what one OS package's manager says it installed: the
// owner's purl and its file paths (absolute or root-relative, as listed).
// The paths are bytes so that a dpkg list's ~10^5 lines are looked at in
// place, not each copied into a string.
type ownedFiles struct {
	owner string
	files func(yield func([]byte) bool)
}

// fileList iterates the paths of a list of them, one per element.
func fileList(files []string) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for _, f := range files {
			if !yield([]byte(f)) {
				return
			}
		}
	}
}

// lineList iterates the non-empty lines of a dpkg .list file.
func lineList(data []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for line := range bytes.Lines(data) {
			line = bytes.TrimRight(line, "\r\n")
			if len(line) > 0 && !yield(line) {
				return
			}
		}
	}
}

// isDpkgList says whether base, in dpkg's info folder, is a package's file list.
func isDpkgList(base string) bool {
	return strings.HasSuffix(base, ".list") && len(base) > len(".list") && !strings.HasPrefix(base, ".")
}

// dpkgOwnedFiles pairs each dpkg .list file in the image with the installed
// package it names: "libc6.list", or "libc6:amd64.list" for a Multi-Arch:
// same package. The list of a package that is not installed (removed, its
// conffiles kept) names no package here and is left out.
func (o *overlay) dpkgOwnedFiles(entries []dpkgEntry, pkgs []scan.Package) []ownedFiles {
	purls := make(map[string]string, 2*len(entries))
	for i, e := range entries {
		purls[e.Package+":"+e.Architecture] = pkgs[i].PURL
		if _, ok := purls[e.Package]; !ok {
			purls[e.Package] = pkgs[i].PURL
		}
	}
	dir := o.resolve(dpkgInfoDir, true)
	var names []string
	for p, n := range o.nodes {
		if d, base := path.Split(p); n.kind == kindFile && strings.TrimSuffix(d, "/") == dir && isDpkgList(base) {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	var out []ownedFiles
	for _, p := range names {
		if owner, ok := purls[strings.TrimSuffix(path.Base(p), ".list")]; ok {
			out = append(out, ownedFiles{owner: owner, files: lineList(o.nodes[p].data)})
		}
	}
	return out
}

// statusDOwnedFiles pairs each distroless status.d/<package>.md5sums
// ("<md5>  <path>" lines, root-relative) with the package of its stanza
// file status.d/<package>.
func (o *overlay) statusDOwnedFiles(osr scan.OSRelease) []ownedFiles {
	dir := o.resolve(dpkgStatusDir, true)
	var names []string
	for p, n := range o.nodes {
		if d, base := path.Split(p); n.kind == kindFile && strings.TrimSuffix(d, "/") == dir && strings.HasSuffix(base, ".md5sums") {
			names = append(names, p)
		}
	}
	slices.Sort(names)
	var out []ownedFiles
	for _, p := range names {
		name := strings.TrimSuffix(path.Base(p), ".md5sums")
		stanza, ok := o.file(path.Join(dir, name))
		if !ok {
			continue
		}
		entries := parseDpkgStatus(stanza.data, false)
		pkgs := dpkgPackages(entries, osr)
		for i, e := range entries {
			if e.Package == name || len(entries) == 1 {
				out = append(out, ownedFiles{owner: pkgs[i].PURL, files: md5sumsList(o.nodes[p].data)})
				break
			}
		}
	}
	return out
}

// md5sumsList iterates the paths of a dpkg md5sums file.
func md5sumsList(data []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for line := range bytes.Lines(data) {
			_, file, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(" "))
			if file = bytes.TrimLeft(file, " *"); ok && len(file) > 0 && !yield(file) {
				return
			}
		}
	}
}

// owners maps each path in candidates (files language packages were read
// from, their parents resolved as the overlay stores them) that an OS
// package lists to the purl of the first such package in lists. A listed
// path is resolved through the image's symlinks as the package manager's
// write of it would have been (a /lib/... path lands in usr/lib on a
// merged-/usr image), and only paths whose base name some candidate has
// are resolved at all: a full system lists ~10^5 files.
func (o *overlay) owners(candidates map[string]bool, lists []ownedFiles) map[string]string {
	if len(candidates) == 0 || len(lists) == 0 {
		return nil
	}
	bases := make(map[string]bool, len(candidates))
	for p := range candidates {
		bases[path.Base(p)] = true
	}
	out := make(map[string]string)
	for _, l := range lists {
		for line := range l.files {
			// A base name no candidate has rules the path out before any
			// copy or cleaning (m[string(b)] does not allocate).
			if !bases[string(line[bytes.LastIndexByte(line, '/')+1:])] {
				continue
			}
			dir, base := path.Split(cleanPath(string(line)))
			if !bases[base] {
				continue
			}
			p := path.Join(o.resolve(strings.TrimSuffix(dir, "/"), true), base)
			if _, taken := out[p]; candidates[p] && !taken {
				out[p] = l.owner
			}
		}
	}
	return out
}
