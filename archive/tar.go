package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// errAbsent is a file that is not in the archive. Where it matters, the
// reader tells a file that is simply absent (a platform a partial copy
// left out) from one the metadata needs (ErrMissing).
var errAbsent = errors.New("not in the archive")

// tarEntry locates a regular file's bytes inside the archive.
type tarEntry struct {
	off, size int64
}

// tarIndex is the table of contents of a tar archive, so that its files
// can be read in any order without extracting them.
type tarIndex struct {
	r       io.ReaderAt
	entries map[string]tarEntry
}

// cleanTarPath turns a tar member name into a relative slash path, or ""
// for the root. A name cannot leave the archive's root: "../x" is "x".
// Nothing is extracted, so such a name can do no harm beyond naming a
// file of the archive.
func cleanTarPath(name string) string {
	p := path.Clean("/" + strings.TrimPrefix(name, "./"))
	p = strings.TrimPrefix(p, "/")
	if p == "." {
		return ""
	}
	return p
}

// indexTar reads the headers of the tar archive of size bytes in r.
// Regular files are located by offset; hard and symbolic links to them
// (docker save links identical layers) resolve to their target.
func indexTar(r io.ReaderAt, size int64, maxEntries int) (*tarIndex, error) {
	sr := io.NewSectionReader(r, 0, size)
	ix := &tarIndex{r: r, entries: map[string]tarEntry{}}
	links := map[string]string{}
	tr := tar.NewReader(sr)
	for count := 0; ; count++ {
		if count > maxEntries {
			return nil, fmt.Errorf("more than %d entries", maxEntries)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable tar archive: %w", err)
		}
		name := cleanTarPath(hdr.Name)
		if name == "" {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			if _, sparse := hdr.PAXRecords["GNU.sparse.major"]; sparse {
				return nil, fmt.Errorf("%s is a sparse file, which image archives never hold", name)
			}
			// tar.Reader reads sr itself, without buffering, so sr's
			// offset is where this member's data starts.
			off, err := sr.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			if hdr.Size > size-off {
				return nil, fmt.Errorf("the archive is truncated: %s is cut short", name)
			}
			ix.entries[name] = tarEntry{off: off, size: hdr.Size}
			delete(links, name)
		case tar.TypeLink:
			links[name] = cleanTarPath(hdr.Linkname)
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			links[name] = cleanTarPath(target)
		}
	}
	// A link resolves through at most 8 others, so that loops end.
	for name, target := range links {
		for hops := 0; hops < 8 && target != ""; hops++ {
			if e, ok := ix.entries[target]; ok {
				ix.entries[name] = e
				break
			}
			target = links[target]
		}
	}
	return ix, nil
}

func (ix *tarIndex) has(name string) bool {
	_, ok := ix.entries[name]
	return ok
}

// readFile returns the content of name, refusing files larger than max.
func (ix *tarIndex) readFile(name string, max int64) ([]byte, error) {
	e, ok := ix.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, errAbsent)
	}
	if e.size > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", name, e.size, max)
	}
	b := make([]byte, e.size)
	// A ReaderAt may answer io.EOF along with the last bytes.
	if n, err := ix.r.ReadAt(b, e.off); err != nil && n < len(b) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// blob is a Blob of the file e.
func (ix *tarIndex) blob(e tarEntry, label string) *Blob {
	return &Blob{Size: e.size, Label: label, file: ix.r, off: e.off}
}
