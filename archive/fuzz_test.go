package archive

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzRead reads arbitrary bytes as an archive: no panic, every error one
// of the package's kinds, every blob inside the archive, and the docker
// save steps that follow a read (VerifyLayer, Build) safe too. The seed
// corpus in testdata/fuzz/FuzzRead holds small OCI layouts (nested
// indexes, a missing platform, a layout under a directory) and docker
// save tarballs (plain, gzip and zstd layers, linked layers, names that
// try to leave the archive).
func FuzzRead(f *testing.F) {
	l := newLayout(f)
	f.Add(l.tar(l.index(l.image([]byte("layer")))))
	s := &testDockerSave{t: f}
	f.Add(s.tar(s.image([]string{"a:1"}, [][]byte{[]byte("layer")}, [][]byte{[]byte("layer")})))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := defaultLimits(1 << 16)
		lim.entries = 1 << 10
		c, err := read(bytes.NewReader(data), int64(len(data)), lim)
		if err != nil {
			for _, kind := range []error{ErrUnknownFormat, ErrUnsupportedVersion, ErrInvalid, ErrMissing, ErrSizeMismatch, ErrDigestMismatch, ErrTooLarge} {
				if errors.Is(err, kind) {
					return
				}
			}
			t.Fatalf("an error of no kind: %v", err)
		}
		if len(c.Images) == 0 {
			t.Fatal("no images and no error")
		}
		for _, b := range c.Blobs {
			if b.off < 0 || b.Size < 0 || b.off+b.Size > int64(len(data)) {
				t.Fatalf("blob %s at %d+%d is outside the %d bytes", b.Label, b.off, b.Size, len(data))
			}
			if b.DiffID != "" {
				_ = b.VerifyLayer(b.Open(), io.Discard)
			}
		}
		for _, img := range c.Images {
			_ = img.Build()
		}
	})
}
