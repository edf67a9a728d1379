package inventory

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchImage.dir != "" {
		_ = os.RemoveAll(benchImage.dir)
	}
	os.Exit(code)
}

// benchImage is generated once per test binary into a temporary directory
// (never committed) and removed by TestMain.
var benchImage struct {
	once     sync.Once
	dir      string
	layers   []string
	rawBytes int64 // uncompressed tar bytes
	blobs    int64 // compressed bytes
	err      error
}

// BenchmarkScan scans a synthetic image of SHOAL_BENCH_IMAGE_MB (default
// 500) MB of uncompressed layer content: 10 layers (gzip, zstd and plain in
// turn) of files from 1 KiB to 4 MiB, half random and half text, some of
// them non-Go ELF executables that take the spooling path, whiteouts, and a
// dpkg status of 2,000 packages. MB/s is of uncompressed tar.
func BenchmarkScan(b *testing.B) {
	size := int64(500)
	if s := os.Getenv("SHOAL_BENCH_IMAGE_MB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("SHOAL_BENCH_IMAGE_MB=%q", s)
		}
		size = n
	}
	benchImage.once.Do(func() { benchImage.err = generateBenchImage(size << 20) })
	if benchImage.err != nil {
		b.Fatal(benchImage.err)
	}
	layers := make([]Layer, len(benchImage.layers))
	for i, p := range benchImage.layers {
		layers[i] = func() (io.ReadCloser, error) { return os.Open(p) }
	}
	b.SetBytes(benchImage.rawBytes)
	b.ReportAllocs()
	b.ResetTimer()
	var pkgs int
	for b.Loop() {
		inv, err := Scan(context.Background(), "linux/amd64", layers)
		if err != nil {
			b.Fatal(err)
		}
		pkgs = len(inv.Packages)
	}
	if pkgs != 2000 {
		b.Fatalf("%d packages, want 2000", pkgs)
	}
	b.ReportMetric(float64(benchImage.blobs)/(1<<20), "blob-MB")
}

func generateBenchImage(target int64) error {
	dir, err := os.MkdirTemp("", "shoal-inventory-bench-*")
	if err != nil {
		return err
	}
	benchImage.dir = dir
	rng := rand.New(rand.NewChaCha8([32]byte{1}))
	const nLayers = 10
	perLayer := target / nLayers
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog 0123456789\n", 80000))
	random := make([]byte, 4<<20)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	for li := range nLayers {
		p := filepath.Join(dir, fmt.Sprintf("layer%02d", li))
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		cw := &countingWriter{w: f}
		var zw io.WriteCloser
		switch li % 3 {
		case 0:
			zw, err = gzip.NewWriterLevel(cw, gzip.BestSpeed)
		case 1:
			zw, err = zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedFastest))
		default:
			zw = nopWriteCloser{cw}
		}
		if err != nil {
			return err
		}
		raw := &countingWriter{w: zw}
		tw := tar.NewWriter(raw)
		write := func(h *tar.Header, body []byte) error {
			h.Size = int64(len(body))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			_, err := tw.Write(body)
			return err
		}
		if li == 0 {
			var st strings.Builder
			for i := range 2000 {
				fmt.Fprintf(&st, "Package: pkg%04d\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nSource: src%03d (1.%d-1)\nVersion: 1.%d-1+deb12u1\nDescription: synthetic package %d\n a longer description line for the parser to skip\n\n", i, i/4, i, i, i)
			}
			if err := write(&tar.Header{Name: "etc/os-release", Mode: 0o644}, []byte(debian12OSRelease)); err != nil {
				return err
			}
			if err := write(&tar.Header{Name: "var/lib/dpkg/status", Mode: 0o644}, []byte(st.String())); err != nil {
				return err
			}
		}
		for n := 0; raw.n < perLayer; n++ {
			size := 1<<10 + rng.IntN(4<<20-1<<10)
			var body []byte
			if n%2 == 0 {
				off := rng.IntN(len(random) - size + 1)
				body = random[off : off+size]
			} else {
				body = text[:size]
			}
			h := &tar.Header{Name: fmt.Sprintf("usr/share/l%d/d%d/f%d", li, n%50, n), Mode: 0o644}
			if n%20 == 0 { // a non-Go executable: spooled, then rejected
				h.Mode = 0o755
				body = append([]byte("\x7fELF"), body...)
			}
			if err := write(h, body); err != nil {
				return err
			}
		}
		if li > 0 { // whiteouts of the previous layer's files
			for n := range 20 {
				if err := write(&tar.Header{Name: fmt.Sprintf("usr/share/l%d/d%d/.wh.f%d", li-1, n%50, n), Mode: 0o644}, nil); err != nil {
					return err
				}
			}
		}
		if err := tw.Close(); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		benchImage.layers = append(benchImage.layers, p)
		benchImage.rawBytes += raw.n
		benchImage.blobs += cw.n
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// BenchmarkScanMixedImage scans the mixed image of this machine's files
// (mixedimage_test.go: a dpkg status, Python metadata, npm's node_modules,
// /usr/share/java and two Go binaries), which exercises every reader. The
// layers are tarred from disk as they are read, so the time includes that.
func BenchmarkScanMixedImage(b *testing.B) {
	layers := mixedImageLayers(b)
	if layers == nil {
		b.Skip("this machine lacks a source of the mixed image")
	}
	b.ReportAllocs()
	var pkgs int
	for b.Loop() {
		inv, err := Scan(context.Background(), "linux/amd64", layers)
		if err != nil {
			b.Fatal(err)
		}
		pkgs = len(inv.Packages)
	}
	b.ReportMetric(float64(pkgs), "packages")
}
