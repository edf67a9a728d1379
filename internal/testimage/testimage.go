// Package testimage makes images, OCI layouts and archives for tests of
// several packages (ingest, node): random content from
// go-containerregistry, written the way real tools write them.
package testimage

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// Random is a random image of three 2 KiB layers.
func Random(t testing.TB) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// RandomIndex is a random index of two images of three 1 KiB layers.
func RandomIndex(t testing.TB) v1.ImageIndex {
	t.Helper()
	idx, err := random.Index(1024, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// Digest is the digest of an image, index or layer, as a string.
func Digest(t testing.TB, v interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := v.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// LayoutEntry is an image or an index to put in an OCI layout, with the
// annotations of its index.json entry.
type LayoutEntry struct {
	Image       v1.Image
	Index       v1.ImageIndex
	Annotations map[string]string
}

// LayoutDir writes an OCI image layout holding the entries given and
// returns its directory.
func LayoutDir(t testing.TB, entries ...LayoutEntry) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Image != nil {
			err = p.AppendImage(e.Image, layout.WithAnnotations(e.Annotations))
		} else {
			err = p.AppendIndex(e.Index, layout.WithAnnotations(e.Annotations))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TarDir tars dir, its members under prefix.
func TarDir(t testing.TB, dir, prefix string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: prefix + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
