package inventory

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/shoal-dev/shoal/scan"
)

// entry is one tar entry of a test layer.
type entry struct {
	name string
	typ  byte // tar.TypeReg when 0
	body string
	mode int64 // 0644 when 0
	link string
}

func file(name, body string) entry { return entry{name: name, body: body} }
func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: target}
}
func hardlink(name, target string) entry { return entry{name: name, typ: tar.TypeLink, link: target} }
func dir(name string) entry              { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func whiteout(name string) entry         { return entry{name: name} }

type compression int

const (
	plain compression = iota
	gzipped
	zstded
)

func tarBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t testing.TB, c compression, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case plain:
		return raw
	case gzipped:
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case zstded:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func bytesLayer(b []byte) Layer {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// layer builds a gzip'd layer (the common case).
func layer(t testing.TB, entries ...entry) Layer {
	return bytesLayer(compress(t, gzipped, tarBytes(t, entries)))
}

// scanEntries scans an image of gzip'd layers, one per slice of entries.
func scanEntries(t testing.TB, layers [][]entry) (*scan.Inventory, error) {
	var ls []Layer
	for _, l := range layers {
		ls = append(ls, layer(t, l...))
	}
	return Scan(context.Background(), "linux/amd64", ls)
}

func layerWith(t testing.TB, c compression, entries ...entry) Layer {
	return bytesLayer(compress(t, c, tarBytes(t, entries)))
}

// testdataFile is testdata/dir/name's content.
func testdataFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
