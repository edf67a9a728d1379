package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/shoal-dev/shoal/node"
)

// testNode runs a node on loopback and returns its base URL.
func testNode(t *testing.T, cfg node.Config) *url.URL {
	t.Helper()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	n, err := node.New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	u, _ := url.Parse(srv.URL)
	return u
}

func testRef(t *testing.T, base *url.URL, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(base.Host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func hashOf(t *testing.T, v interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := v.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// untar extracts an archive of regular files into a new directory.
func untar(t *testing.T, file string) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExportImportRoundTrip exports mirrored and local images from one
// node and imports the file (as a tar, gzipped, and as a directory) into
// nodes that cannot reach the upstream, which then serve the same images
// under the same names.
func TestExportImportRoundTrip(t *testing.T) {
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	alpine, _ := random.Image(4096, 2)
	amd64 := randomImageFor(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	arm64 := randomImageFor(t, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	multi := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: amd64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm64, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	app, _ := random.Image(2048, 3)
	if err := remote.Write(testRef(t, upURL, "library/alpine:3.20"), alpine); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(testRef(t, upURL, "team/multi:1"), multi); err != nil {
		t.Fatal(err)
	}

	source := testNode(t, node.Config{Upstreams: rules(t, "docker.io="+up.URL), TagTTL: time.Minute})
	if err := remote.Write(testRef(t, source, "myteam/app:1.0"), app); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "images.tar")
	var stdout, stderr bytes.Buffer
	refs := []string{"docker.io/library/alpine:3.20", "docker.io/team/multi:1", "myteam/app:1.0"}
	linuxARM64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	if err := runExport(ctx, source, out, refs, linuxARM64, &stdout, &stderr); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "export: 3 image(s)") || strings.Contains(stderr.String(), "warning") {
		t.Fatalf("export summary missing, or a warning:\n%s", stderr.String())
	}
	// docker load reads manifest.json: each image by its name, the
	// multi-arch one for the platform asked for.
	for _, c := range []struct {
		ref string
		img v1.Image
	}{{"docker.io/library/alpine:3.20", alpine}, {"docker.io/team/multi:1", arm64}, {"myteam/app:1.0", app}} {
		checkDockerLoadable(t, out, c.ref, c.img)
	}

	// Other tools can read the file as an OCI image layout.
	layoutDir := untar(t, out)
	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("exported layout: %v", err)
	}

	gz := filepath.Join(t.TempDir(), "images.tar.gz")
	raw, _ := os.ReadFile(out)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(raw)
	zw.Close()
	os.WriteFile(gz, zb.Bytes(), 0o644)

	for _, src := range []struct{ name, arg string }{
		{"tar", out},
		{"gzipped tar", gz},
		{"directory", layoutDir},
	} {
		t.Run(src.name, func(t *testing.T) {
			// The upstream rule points nowhere: the images must come from
			// the import.
			site := testNode(t, node.Config{Upstreams: rules(t, "docker.io=http://127.0.0.1:1"), TagTTL: time.Hour})
			var stdout, stderr bytes.Buffer
			if err := runImport(ctx, testClient(t, site), "", src.arg, &stdout, &stderr); err != nil {
				if strings.Contains(err.Error(), "404") {
					t.Fatalf("import: %v: register the image routes (n.imageRoutes(mux)) in node/admin.go", err)
				}
				t.Fatalf("import: %v\n%s", err, stderr.String())
			}
			want := []string{
				"docker.io/library/alpine:3.20 " + hashOf(t, alpine),
				"docker.io/team/multi:1 " + hashOf(t, multi),
				"myteam/app:1.0 " + hashOf(t, app),
			}
			if got := strings.Fields(stdout.String()); strings.Join(got, " ") != strings.Join(strings.Fields(strings.Join(want, " ")), " ") {
				t.Fatalf("import printed %q, want %q", stdout.String(), want)
			}
			if !strings.Contains(stderr.String(), "import: 3 image(s)") {
				t.Fatalf("import summary missing:\n%s", stderr.String())
			}
			for _, c := range []struct {
				ref string
				img v1.Image
			}{{"docker.io/library/alpine:3.20", alpine}, {"myteam/app:1.0", app}} {
				got, err := remote.Image(testRef(t, site, c.ref))
				if err != nil {
					t.Fatalf("%s: %v", c.ref, err)
				}
				if err := validate.Image(got); err != nil {
					t.Fatalf("%s: %v", c.ref, err)
				}
				if hashOf(t, got) != hashOf(t, c.img) {
					t.Fatalf("%s: digest %s, want %s", c.ref, hashOf(t, got), hashOf(t, c.img))
				}
			}
			got, err := remote.Index(testRef(t, site, "docker.io/team/multi:1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Index(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// checkDockerLoadable checks that the docker save tarball reader of
// go-containerregistry finds img in archive under tag, as docker load
// would: the same config, and layers that are its diff_ids.
func checkDockerLoadable(t *testing.T, archive, tag string, img v1.Image) {
	t.Helper()
	nt, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tarball.ImageFromPath(archive, &nt)
	if err != nil {
		t.Fatalf("%s from manifest.json: %v", tag, err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("%s from manifest.json: %v", tag, err)
	}
	gotCfg, _ := got.ConfigName()
	wantCfg, _ := img.ConfigName()
	if gotCfg != wantCfg {
		t.Fatalf("%s from manifest.json has config %s, want %s", tag, gotCfg, wantCfg)
	}
}

// TestExportDockerLoadPlatform: a multi-arch image without the platform
// asked for is still exported whole, with a warning that docker load
// will not load it, and an image exported by digest is loaded untagged.
func TestExportDockerLoadPlatform(t *testing.T) {
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer up.Close()
	upURL, _ := url.Parse(up.URL)
	img := randomImageFor(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	multi := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	if err := remote.WriteIndex(testRef(t, upURL, "team/multi:1"), multi); err != nil {
		t.Fatal(err)
	}
	source := testNode(t, node.Config{Upstreams: rules(t, "docker.io="+up.URL), TagTTL: time.Minute})
	out := filepath.Join(t.TempDir(), "images.tar")
	var stderr bytes.Buffer
	imgDigest := hashOf(t, img)
	refs := []string{"docker.io/team/multi:1", "docker.io/team/multi@" + imgDigest}
	if err := runExport(context.Background(), source, out, refs, v1.Platform{OS: "linux", Architecture: "s390x"}, io.Discard, &stderr); err != nil {
		t.Fatalf("export: %v\n%s", err, stderr.String())
	}
	if want := "warning: docker.io/team/multi:1: docker load will not load it: it has no image for linux/s390x"; !strings.Contains(stderr.String(), want) {
		t.Fatalf("stderr:\n%s\nwant %q", stderr.String(), want)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 || len(m[0].RepoTags) != 0 || m[0].Config != "blobs/"+strings.Replace(configName(t, img), ":", "/", 1) {
		t.Fatalf("manifest.json %+v, want one untagged entry for %s", m, imgDigest)
	}
}

// randomImageFor is a random image whose config names platform p.
func randomImageFor(t *testing.T, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func configName(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestImportErrors(t *testing.T) {
	site := testNode(t, node.Config{})
	dir := t.TempDir()
	notImage := filepath.Join(dir, "notes.txt")
	os.WriteFile(notImage, []byte("not an archive"), 0o644)
	for _, tt := range []struct{ name, arg, want string }{
		{"missing file", filepath.Join(dir, "nope.tar"), "no such file"},
		{"directory without oci-layout", dir, "not an OCI image layout"},
		{"file that is no archive", notImage, "the node refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := runImport(context.Background(), testClient(t, site), "", tt.arg, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNodeEndpoint(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		err      bool
	}{
		{in: "http://127.0.0.1:5000", want: "http://127.0.0.1:5000"},
		{in: "https://shoal.example/", want: "https://shoal.example"},
		{in: "127.0.0.1:5000", err: true},
		{in: "ftp://host", err: true},
		{in: "http://host/v2", err: true},
	} {
		got, err := nodeEndpoint(tt.in)
		if (err != nil) != tt.err || (!tt.err && got.String() != tt.want) {
			t.Errorf("nodeEndpoint(%q) = %v, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestProgressLine(t *testing.T) {
	d := "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	for _, tt := range []struct {
		verb, item  string
		done, total int64
		want        string
	}{
		{"import", d, 12897485, 41943040, "import: sha256:abcdef012345… 12.3 MiB/40.0 MiB"},
		{"upload", "", 512, 2048, "upload: 512 B/2.0 KiB"},
		{"upload", "", 1536, -1, "upload: 1.5 KiB"},
		{"export", "short", 0, 0, "export: short 0 B"},
		{"preload", d, 5 << 30, 10 << 40, "preload: sha256:abcdef012345… 5.0 GiB/10.0 TiB"},
	} {
		if got := progressLine(tt.verb, tt.item, tt.done, tt.total); got != tt.want {
			t.Errorf("progressLine(%q, %q, %d, %d) = %q, want %q", tt.verb, tt.item, tt.done, tt.total, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1 << 20, "1.0 MiB"}, {3 << 29, "1.5 GiB"}, {1 << 62, "4.0 EiB"},
	} {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestLineProgressThrottles checks that plain progress prints at most one
// line a second, and the last state on Finish.
func TestLineProgressThrottles(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(0, 0)
	p := &lineProgress{w: &buf, verb: "import", now: func() time.Time { return now }, every: time.Second}
	steps := []struct {
		at   time.Duration
		done int64
	}{{0, 1}, {300 * time.Millisecond, 2}, {900 * time.Millisecond, 3}, {1000 * time.Millisecond, 4}, {1500 * time.Millisecond, 5}}
	for _, s := range steps {
		now = time.Unix(0, 0).Add(s.at)
		p.Update("", s.done<<20, 10<<20)
	}
	p.Finish()
	want := "import: 1.0 MiB/10.0 MiB\nimport: 4.0 MiB/10.0 MiB\nimport: 5.0 MiB/10.0 MiB\n"
	if buf.String() != want {
		t.Fatalf("printed\n%s\nwant\n%s", buf.String(), want)
	}
	p.Finish()
	if buf.String() != want {
		t.Fatal("a second Finish printed again")
	}
}

// TestNewProgressOffTerminal checks that a writer that is no terminal
// gets plain lines.
func TestNewProgressOffTerminal(t *testing.T) {
	if _, ok := newProgress(io.Discard, "x").(*lineProgress); !ok {
		t.Fatal("want plain lines off a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := newProgress(f, "x").(*lineProgress); !ok {
		t.Fatal("want plain lines for a regular file")
	}
}
