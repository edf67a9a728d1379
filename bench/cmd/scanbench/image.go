package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// builtImage is the generated image and what the report says about it.
type builtImage struct {
	img          v1.Image
	blobs        []string // gzip'd layer files, in order; the same bytes the node stores
	uncompressed int64    // tar bytes of all layers
	compressed   int64
	files        int // regular files in all layers
	goBinaries   []string
	installed    int // dpkg packages with Status: install ok installed
	goVersion    string
}

// tarFile is one regular file to write into a layer; body fills it.
type tarFile struct {
	name string
	mode int64
	size int64
	body func(w io.Writer) error
}

// goAppSource is the program copied into the image as Go binaries. It uses
// golang.org/x/text v0.3.5, which the Go vulnerability database says is
// affected by GO-2021-0113 and GO-2022-1059.
const goAppSource = `package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	for _, a := range os.Args[1:] {
		t, err := language.Parse(a)
		fmt.Println(t, err)
	}
}
`

// buildGoApp builds goAppSource with the go command on PATH, through the
// module proxy (or the module cache), and returns the binary's path.
func buildGoApp(ctx context.Context, dir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	gomod := "module example.com/scanbench/app\n\ngo 1.22\n\nrequire golang.org/x/text v0.3.5\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goAppSource), 0o644); err != nil {
		return "", err
	}
	env := append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	for _, args := range [][]string{
		{"mod", "download", "golang.org/x/text"},
		{"build", "-o", "app", "."},
	} {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return filepath.Join(dir, "app"), nil
}

// buildImage writes the layers of the benchmark image under dir, gzip'd,
// and returns the image.
//
//	layer 0: a Debian 12 base: etc/os-release, var/lib/dpkg/status with
//	         packages installed stanzas (plus a few removed ones), and
//	         per package a copyright file, a .list and a .md5sums;
//	layer 1: the Go binaries, 0755, under different paths;
//	layers 2..: files of random and of compressible (text-like) data,
//	         making up the rest of size.
func buildImage(ctx context.Context, dir string, o options, goApp string) (*builtImage, error) {
	app, err := os.ReadFile(goApp)
	if err != nil {
		return nil, err
	}
	var layers [][]tarFile
	layers = append(layers, debianLayer(o.packages))
	var bins []tarFile
	var binPaths []string
	binDirs := []string{"usr/local/bin/app", "usr/bin/langtool", "opt/acme/bin/acmed", "usr/local/sbin/agent",
		"srv/tools/bin/migrate", "opt/vendor/exporter", "usr/lib/acme/helper", "app/server", "bin/entrypoint", "usr/libexec/probe"}
	for i := 0; i < o.goBinaries && i < len(binDirs); i++ {
		bins = append(bins, tarFile{name: binDirs[i], mode: 0o755, size: int64(len(app)), body: bytesBody(app)})
		binPaths = append(binPaths, binDirs[i])
	}
	// Some shell scripts marked executable: a scanner must look at, and
	// pass over, executables that are not Go binaries.
	for i := 0; i < 20; i++ {
		s := []byte(fmt.Sprintf("#!/bin/sh\n# helper %d\nexec /usr/local/bin/app \"$@\"\n", i))
		bins = append(bins, tarFile{name: fmt.Sprintf("usr/local/bin/helper-%02d.sh", i), mode: 0o755, size: int64(len(s)), body: bytesBody(s)})
	}
	layers = append(layers, bins)

	var fixed int64
	for _, l := range layers {
		for _, f := range l {
			fixed += f.size
		}
	}
	rest := o.size - fixed
	if rest < 0 {
		rest = 0
	}
	dataLayers := max(1, o.layers-2)
	for i := 0; i < dataLayers; i++ {
		layers = append(layers, dataLayer(uint64(i+1), i, rest/int64(dataLayers)))
	}

	bi := &builtImage{goBinaries: binPaths, blobs: make([]string, len(layers))}
	for _, l := range layers {
		bi.files += len(l)
	}
	type result struct {
		raw, gz int64
		digest  string
		err     error
	}
	results := make([]result, len(layers))
	// Compress the layers in parallel, on at most 4 goroutines.
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, l := range layers {
		bi.blobs[i] = filepath.Join(dir, fmt.Sprintf("layer-%d.tar.gz", i))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := &results[i]
			r.raw, r.gz, r.digest, r.err = writeLayer(ctx, bi.blobs[i], l)
		}()
	}
	wg.Wait()
	img := empty.Image
	for i := range layers {
		r := results[i]
		if r.err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, r.err)
		}
		bi.uncompressed += r.raw
		bi.compressed += r.gz
		path := bi.blobs[i]
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(path) })
		if err != nil {
			return nil, err
		}
		d, err := layer.Digest()
		if err != nil {
			return nil, err
		}
		// The node must store exactly these bytes, or the gzip|tar
		// baseline would not read what the node reads.
		if d.String() != r.digest {
			return nil, fmt.Errorf("layer %d: go-containerregistry digests it as %s, the file is %s", i, d, r.digest)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{"/bin/entrypoint"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	bi.img = img
	bi.installed = o.packages
	return bi, nil
}

// writeLayer writes files as a tar, gzip'd at the default level, to path,
// and returns the tar size, the gzip size and the gzip's digest.
func writeLayer(ctx context.Context, path string, files []tarFile) (raw, gz int64, digest string, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	gzCount := &counter{}
	bw := bufio.NewWriterSize(io.MultiWriter(f, h, gzCount), 1<<20)
	zw := gzip.NewWriter(bw)
	rawCount := &counter{}
	tw := tar.NewWriter(io.MultiWriter(zw, rawCount))
	mtime := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	dirs := map[string]bool{}
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			return 0, 0, "", err
		}
		// Parent directories first, as real layers have them.
		var parents []string
		for d := filepath.Dir(file.name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
			dirs[d] = true
		}
		for j := len(parents) - 1; j >= 0; j-- {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: parents[j] + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
				return 0, 0, "", err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: file.name, Mode: file.mode, Size: file.size, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return 0, 0, "", err
		}
		cw := &counter{w: tw}
		if err := file.body(cw); err != nil {
			return 0, 0, "", fmt.Errorf("%s: %w", file.name, err)
		}
		if cw.n != file.size {
			return 0, 0, "", fmt.Errorf("%s: wrote %d bytes, want %d", file.name, cw.n, file.size)
		}
	}
	if err := tw.Close(); err != nil {
		return 0, 0, "", err
	}
	if err := zw.Close(); err != nil {
		return 0, 0, "", err
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, "", err
	}
	return rawCount.n, gzCount.n, "sha256:" + hex.EncodeToString(h.Sum(nil)), f.Close()
}

// counter counts the bytes written through it (to w, when set).
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	if c.w == nil {
		c.n += int64(len(p))
		return len(p), nil
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func bytesBody(b []byte) func(io.Writer) error {
	return func(w io.Writer) error { _, err := w.Write(b); return err }
}

// dataLayer is files totalling about size bytes, alternately random
// (incompressible) and text-like (gzip takes it to about a third), of 64
// KiB to 16 MiB.
func dataLayer(seed uint64, index int, size int64) []tarFile {
	rng := rand.New(rand.NewPCG(seed, 0x5ca2))
	var files []tarFile
	var total int64
	for n := 0; total < size; n++ {
		sz := int64(64<<10) << rng.IntN(9) // 64 KiB .. 16 MiB
		sz += rng.Int64N(sz / 2)
		if total+sz > size {
			sz = size - total
		}
		fileSeed := rng.Uint64()
		random := n%2 == 0
		name := fmt.Sprintf("usr/share/data%d/%03d/blob-%05d.bin", index, n/64, n)
		if !random {
			name = fmt.Sprintf("usr/share/data%d/%03d/text-%05d.txt", index, n/64, n)
		}
		files = append(files, tarFile{name: name, mode: 0o644, size: sz, body: func(w io.Writer) error {
			if random {
				return randomBody(w, fileSeed, sz)
			}
			return textBody(w, fileSeed, sz)
		}})
		total += sz
	}
	return files
}

func randomBody(w io.Writer, seed uint64, size int64) error {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), byte(seed >> 32), byte(seed >> 40), byte(seed >> 48), byte(seed >> 56)})
	_, err := io.CopyN(w, r, size)
	return err
}

var words = strings.Fields(`the of and to in is for on that with as by this be are from at or an it not
which have has config server client request response error value return function package module
version install library system file directory memory network cache registry image layer digest
manifest blob token user group permission socket thread process signal buffer stream handler
debian alpine kernel linux runtime compile build test release stable security update patch`)

func textBody(w io.Writer, seed uint64, size int64) error {
	rng := rand.New(rand.NewPCG(seed, 7))
	bw := bufio.NewWriterSize(w, 64<<10)
	var n int64
	line := make([]byte, 0, 256)
	for n < size {
		line = line[:0]
		for k := 4 + rng.IntN(12); k > 0; k-- {
			line = append(line, words[rng.IntN(len(words))]...)
			line = append(line, ' ')
		}
		line = fmt.Appendf(line, "%d\n", rng.IntN(100000))
		if int64(len(line)) > size-n {
			line = line[:size-n]
		}
		m, err := bw.Write(line)
		n += int64(m)
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}
