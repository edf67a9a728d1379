package vulndb

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// MaxRecordSize bounds one input record (an OSV JSON or YAML file or an
// archive entry, or one secdb YAML file). Real OSV records are a few KiB; the
// largest Alpine secdb file is well under 1 MiB.
const MaxRecordSize = 4 << 20

// Import reads OSV records (JSON or YAML) and Alpine secdb YAML from paths:
// directories (walked; *.json, *.yaml, *.yml and archives inside them),
// .zip archives (osv.dev's per-ecosystem all.zip), .tar.gz/.tgz archives and
// single files. Files are recognised by content: YAML with "id" and
// "affected" is an OSV record, other YAML is read as secdb; JSON that is not
// an OSV record and YAML that is neither are skipped with a warning
// (see Warnings and Skipped), as are records over MaxRecordSize and
// malformed ones; withdrawn records are left out (see Withdrawn). An error
// means a path could not be read at all.
func Import(paths ...string) (*DB, error) {
	db := newDB()
	for _, p := range paths {
		if err := db.importPath(p); err != nil {
			return nil, err
		}
	}
	db.reindex()
	return db, nil
}

func (db *DB) importPath(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("vulndb: import: %w", err)
	}
	if !fi.IsDir() {
		return db.importFile(p, true)
	}
	var files []string
	err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && kindOf(f) != kindOther {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vulndb: import %s: %w", p, err)
	}
	slices.Sort(files) // WalkDir is lexical already; keep it explicit
	for _, f := range files {
		if err := db.importFile(f, false); err != nil {
			return err
		}
	}
	return nil
}

type fileKind int

const (
	kindOther fileKind = iota
	kindJSON
	kindYAML
	kindZip
	kindTarGz
)

func kindOf(name string) fileKind {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".json"):
		return kindJSON
	case strings.HasSuffix(n, ".yaml"), strings.HasSuffix(n, ".yml"):
		return kindYAML
	case strings.HasSuffix(n, ".zip"):
		return kindZip
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return kindTarGz
	}
	return kindOther
}

// importFile imports one file; named is true when the user named it, in
// which case an unknown extension is resolved by sniffing its content.
func (db *DB) importFile(name string, named bool) error {
	kind := kindOf(name)
	if kind == kindOther && named {
		k, err := sniffFile(name)
		if err != nil {
			return fmt.Errorf("vulndb: import: %w", err)
		}
		kind = k
	}
	switch kind {
	case kindZip:
		return db.importZip(name)
	case kindTarGz:
		return db.importTarGz(name)
	case kindJSON, kindYAML:
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("vulndb: import: %w", err)
		}
		defer f.Close()
		data, err := readBounded(f)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				db.warns.add(fmt.Sprintf("%s: %v", name, err))
				return nil
			}
			return fmt.Errorf("vulndb: import %s: %w", name, err)
		}
		db.importData(name, kind, data)
		return nil
	}
	db.warns.add(fmt.Sprintf("%s: unrecognised file", name))
	return nil
}

func sniffFile(name string) (fileKind, error) {
	f, err := os.Open(name)
	if err != nil {
		return kindOther, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	return sniff(head[:n]), nil
}

func sniff(head []byte) fileKind {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return kindZip
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return kindTarGz
	case bytes.HasPrefix(bytes.TrimSpace(head), []byte("{")):
		return kindJSON
	}
	return kindYAML
}

var errTooLarge = fmt.Errorf("record larger than %d bytes: refused", MaxRecordSize)

func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxRecordSize {
		return nil, errTooLarge
	}
	return data, nil
}

// importData parses one record file's bytes and adds what it holds.
func (db *DB) importData(name string, kind fileKind, data []byte) {
	if kind == kindYAML && looksLikeOSVYAML(data) {
		j, err := osvYAMLToJSON(data)
		if err != nil {
			db.warns.add(fmt.Sprintf("%s: skipped: %v", name, err))
			return
		}
		data, kind = j, kindJSON
	}
	if kind == kindJSON {
		r, err := parseOSV(data)
		switch {
		case errors.Is(err, errWithdrawn):
			db.warns.withdrawn++
		case err != nil:
			db.warns.add(fmt.Sprintf("%s: skipped: %v", name, err))
		default:
			db.add(r)
		}
		return
	}
	recs, err := parseSecdb(data)
	if err != nil {
		db.warns.add(fmt.Sprintf("%s: skipped: %v", name, err))
		return
	}
	for _, r := range recs {
		db.add(r)
	}
}

func (db *DB) importZip(name string) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return fmt.Errorf("vulndb: import %s: %w", name, err)
	}
	defer zr.Close()
	files := slices.Clone(zr.File)
	slices.SortStableFunc(files, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range files {
		kind := kindOf(f.Name)
		entry := name + "!" + f.Name
		if f.FileInfo().IsDir() || (kind != kindJSON && kind != kindYAML) {
			continue
		}
		if f.UncompressedSize64 > MaxRecordSize {
			db.warns.add(fmt.Sprintf("%s: %v", entry, errTooLarge))
			continue
		}
		rc, err := f.Open()
		if err != nil {
			db.warns.add(fmt.Sprintf("%s: skipped: %v", entry, err))
			continue
		}
		data, err := readBounded(rc) // the header's size may lie: bound the read too
		rc.Close()
		if err != nil {
			db.warns.add(fmt.Sprintf("%s: skipped: %v", entry, err))
			continue
		}
		db.importData(entry, kind, data)
	}
	return nil
}

func (db *DB) importTarGz(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("vulndb: import: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("vulndb: import %s: %w", name, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("vulndb: import %s: %w", name, err)
		}
		kind := kindOf(h.Name)
		if h.Typeflag != tar.TypeReg || (kind != kindJSON && kind != kindYAML) {
			continue
		}
		entry := name + "!" + path.Clean(h.Name)
		if h.Size > MaxRecordSize {
			db.warns.add(fmt.Sprintf("%s: %v", entry, errTooLarge))
			continue
		}
		data, err := readBounded(tr)
		if err != nil {
			return fmt.Errorf("vulndb: import %s: %w", entry, err)
		}
		db.importData(entry, kind, data)
	}
}
