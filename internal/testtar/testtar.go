// Package testtar unpacks the gzip'd tar fixtures tests start from (a
// data dir written by an earlier release) into a test's own directory.
package testtar

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Extract unpacks the entries of fixture under prefix ("" for all, else
// a directory such as "store/", which is cut from their names) into dest,
// directories 0700 and files 0600, and fails t on any error. Entries
// that would land outside dest are refused.
func Extract(t testing.TB, fixture, prefix, dest string) {
	t.Helper()
	f, err := os.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(filepath.ToSlash(filepath.Clean(h.Name)), prefix)
		if !ok {
			continue
		}
		p := filepath.Join(dest, filepath.FromSlash(name))
		if p != dest && !strings.HasPrefix(p, dest+string(filepath.Separator)) {
			t.Fatalf("tar entry %q leaves %s", h.Name, dest)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o700)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				if err = os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
					err = os.WriteFile(p, b, 0o600)
				}
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
