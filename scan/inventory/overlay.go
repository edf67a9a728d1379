package inventory

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// The overlay is the merged file system of the layers applied so far, reduced
// to what the scan needs: the contents of the files that matter, every
// symlink (to resolve paths as the runtime would), and the packages read
// from each Go binary, language package manifest or Java archive. Other files
// leave no trace, so memory follows the number of symlinks and packages, not
// the image size.

type nodeKind uint8

const (
	kindFile     nodeKind = iota + 1 // a kept regular file (data)
	kindSymlink                      // target
	kindPackages                     // pkgs read from the file (Go binary, language package manifest or lock file, Java archive)
)

type node struct {
	kind   nodeKind
	layer  int // index of the layer that wrote it: whiteouts hide only lower layers
	data   []byte
	target string
	pkgs   []scan.Package // Location is "" or, inside a Java archive, the nested path
}

// maxSymlinkHops bounds path resolution, as the kernel's 40 (ELOOP) does.
const maxSymlinkHops = 40

type overlay struct {
	nodes map[string]*node
	// below counts the nodes strictly under each directory, so replacing or
	// whiting out a path only walks the map when something lies beneath it.
	below    map[string]int
	symlinks int
}

func newOverlay() *overlay {
	return &overlay{nodes: make(map[string]*node), below: make(map[string]int)}
}

// apply merges one tar entry of layer index into the overlay, reading r for
// the entry's content when it matters.
func (o *overlay) apply(layer int, hdr *tar.Header, r io.Reader) error {
	name := cleanPath(hdr.Name)
	if name == "" {
		return nil
	}
	dir, base := path.Split(name)
	// The runtime creates an entry inside its parent as resolved through
	// symlinks already present (lib -> usr/lib), so do the same.
	dir = o.resolve(strings.TrimSuffix(dir, "/"), true)

	if strings.HasPrefix(base, ".wh.") {
		if base == ".wh..wh..opq" {
			o.removeBelow(dir, layer)
			return nil
		}
		target := path.Join(dir, strings.TrimPrefix(base, ".wh."))
		o.removeAt(target, layer)
		o.removeBelow(target, layer)
		return nil
	}
	p := path.Join(dir, base)

	if hdr.Typeflag == tar.TypeDir {
		// A directory replaces a non-directory; it merges with a directory.
		o.removeAt(p, -1)
		return nil
	}
	// Anything else replaces whatever was at p, directory trees included.
	o.removeAt(p, -1)
	o.removeBelow(p, -1)

	switch hdr.Typeflag {
	case tar.TypeSymlink:
		o.add(p, &node{kind: kindSymlink, layer: layer, target: hdr.Linkname})
	case tar.TypeLink:
		// Hardlinks name their target by its path from the root, within
		// this layer or a lower one; only a tracked target can be copied.
		target := o.resolve(cleanPath(hdr.Linkname), false)
		if t, ok := o.nodes[target]; ok && t.kind != kindSymlink {
			if t.kind == kindPackages || o.wanted(p) {
				c := *t
				c.layer = layer
				o.add(p, &c)
			}
		}
	case tar.TypeReg:
		return o.regular(layer, p, hdr, r)
	}
	return nil
}

func (o *overlay) regular(layer int, p string, hdr *tar.Header, r io.Reader) error {
	if o.wanted(p) {
		limit := int64(maxMetadataFile)
		if o.isRPMDatabase(p) {
			limit = maxRPMDB
		}
		if o.isFileListPath(p) {
			// A file list only marks owners: one too large to keep is
			// left out rather than failing the scan.
			if hdr.Size > maxDpkgList {
				return nil
			}
			limit = maxDpkgList
		}
		if hdr.Size > limit {
			return fmt.Errorf("%d bytes is over the %d byte limit for package metadata", hdr.Size, limit)
		}
		data, err := io.ReadAll(io.LimitReader(r, limit))
		if err != nil {
			return err
		}
		o.add(p, &node{kind: kindFile, layer: layer, data: data})
		return nil
	}
	read := packageReaderFor(p, hdr)
	if read == nil {
		return nil
	}
	pkgs, err := read(r, hdr.Size)
	if err != nil {
		return err
	}
	if len(pkgs) > 0 {
		o.add(p, &node{kind: kindPackages, layer: layer, pkgs: pkgs})
	}
	return nil
}

// wanted reports whether p, a path with its parent already resolved, is one
// of the files whose content the scan reads, reached by any symlinks the
// image holds now.
func (o *overlay) wanted(p string) bool {
	switch p {
	case dpkgStatusPath, apkInstalled, osReleasePath, osReleaseUsrLib:
		return true
	}
	if o.isRPMDatabase(p) {
		return true
	}
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if dir == dpkgStatusDir && isStatusDEntry(base) || dir == dpkgInfoDir && isDpkgList(base) {
		return true
	}
	if o.symlinks == 0 {
		return false
	}
	if isDpkgList(base) && o.resolve(dpkgInfoDir, true) == dir {
		return true
	}
	for _, w := range [...]string{dpkgStatusPath, apkInstalled, osReleasePath, osReleaseUsrLib} {
		if o.resolve(w, true) == p {
			return true
		}
	}
	return isStatusDEntry(base) && o.resolve(dpkgStatusDir, true) == dir
}

// isRPMDatabase says whether p, a path with its parent resolved, is one of
// the rpm databases, directly or through the image's symlinks.
func (o *overlay) isRPMDatabase(p string) bool {
	for _, db := range rpmDatabases {
		if p == db.path || o.symlinks > 0 && o.resolve(db.path, true) == p {
			return true
		}
	}
	return false
}

// isFileListPath says whether p is a dpkg file list (info/*.list, or
// status.d/*.md5sums), which wanted keeps.
func (o *overlay) isFileListPath(p string) bool {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	return isDpkgList(base) && dir == o.resolve(dpkgInfoDir, true) ||
		strings.HasSuffix(base, ".md5sums") && dir == o.resolve(dpkgStatusDir, true)
}

// isStatusDEntry: a status.d stanza file or its .md5sums list, which
// names the package's files (distroless has no info/*.list).
func isStatusDEntry(base string) bool {
	return base != "" && !strings.HasPrefix(base, ".")
}

// isStatusDFile: distroless writes one stanza file per package into
// status.d, next to its .md5sums list.
func isStatusDFile(base string) bool {
	return base != "" && !strings.HasSuffix(base, ".md5sums") && !strings.HasPrefix(base, ".")
}

func (o *overlay) add(p string, n *node) {
	if old, ok := o.nodes[p]; ok {
		if old.kind == kindSymlink {
			o.symlinks--
		}
	} else {
		forEachParent(p, func(d string) { o.below[d]++ })
	}
	if n.kind == kindSymlink {
		o.symlinks++
	}
	o.nodes[p] = n
}

// removeAt deletes the node at p if a layer below beforeLayer wrote it
// (beforeLayer -1: whichever wrote it).
func (o *overlay) removeAt(p string, beforeLayer int) {
	n, ok := o.nodes[p]
	if !ok || (beforeLayer >= 0 && n.layer >= beforeLayer) {
		return
	}
	if n.kind == kindSymlink {
		o.symlinks--
	}
	delete(o.nodes, p)
	forEachParent(p, func(d string) {
		if o.below[d]--; o.below[d] <= 0 {
			delete(o.below, d)
		}
	})
}

// removeBelow deletes the nodes under directory dir ("" is the root) that a
// layer below beforeLayer wrote (-1: all).
func (o *overlay) removeBelow(dir string, beforeLayer int) {
	if o.below[dir] == 0 {
		return
	}
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	var doomed []string
	for p := range o.nodes {
		if strings.HasPrefix(p, prefix) {
			doomed = append(doomed, p)
		}
	}
	for _, p := range doomed {
		o.removeAt(p, beforeLayer)
	}
}

// forEachParent calls f with every directory above p: "" (the root), "a", "a/b" for "a/b/c".
func forEachParent(p string, f func(string)) {
	f("")
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			f(p[:i])
		}
	}
}

// resolve follows symlinks in p's components (and in the last one if
// followLast), staying within the image root: ".." stops at the root and
// absolute targets start from it. On a loop it returns p's best effort.
func (o *overlay) resolve(p string, followLast bool) string {
	if o.symlinks == 0 || !o.hasSymlinkPrefix(p, followLast) {
		return p
	}
	var done []string
	rest := strings.Split(p, "/")
	for hops := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cand := strings.Join(append(done, c), "/")
		if n, ok := o.nodes[cand]; ok && n.kind == kindSymlink && (len(rest) > 0 || followLast) {
			if hops++; hops > maxSymlinkHops {
				return p
			}
			if strings.HasPrefix(n.target, "/") {
				done = done[:0]
			}
			rest = append(strings.Split(n.target, "/"), rest...)
			continue
		}
		done = append(done, c)
	}
	return strings.Join(done, "/")
}

// hasSymlinkPrefix is resolve's allocation-free fast path: most paths cross
// no symlink.
func (o *overlay) hasSymlinkPrefix(p string, followLast bool) bool {
	for i := 0; i <= len(p); i++ {
		if i == len(p) && !followLast {
			break
		}
		if i == len(p) || p[i] == '/' {
			if n, ok := o.nodes[p[:i]]; ok && n.kind == kindSymlink {
				return true
			}
		}
	}
	return false
}

// file returns the kept file at p, following symlinks.
func (o *overlay) file(p string) (*node, bool) {
	n, ok := o.nodes[o.resolve(p, true)]
	if !ok || n.kind != kindFile {
		return nil, false
	}
	return n, true
}

// filesIn returns the kept files directly in dir, by name.
func (o *overlay) filesIn(dir string) []*node {
	dir = o.resolve(dir, true)
	var names []string
	for p, n := range o.nodes {
		if d, base := path.Split(p); strings.TrimSuffix(d, "/") == dir && isStatusDFile(base) {
			if n.kind == kindFile || n.kind == kindSymlink {
				names = append(names, p)
			}
		}
	}
	sort.Strings(names)
	var out []*node
	for _, p := range names {
		if n, ok := o.file(p); ok {
			out = append(out, n)
		}
	}
	return out
}
