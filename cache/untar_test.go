package cache

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

// untarStore extracts the store/ of a data dir fixture into a new dir
// and returns it.
func untarStore(t *testing.T, fixture string) string {
	t.Helper()
	dir := t.TempDir()
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
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(filepath.ToSlash(filepath.Clean(h.Name)), "store/")
		if !ok || strings.HasPrefix(name, "..") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
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
