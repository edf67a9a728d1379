package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestNameAnnotations(t *testing.T) {
	for _, tt := range []struct {
		name          string
		wantContainer bool
	}{
		{"docker.io/library/alpine:3.20", true},
		{"registry.example.com:5000/team/app@sha256:" + strings.Repeat("a", 64), true},
		{"localhost/app:1", true},
		{"myteam/app:1.0", false},
		{"app:1", false},
		{"3.20", false},
	} {
		want := map[string]string{ocispec.AnnotationRefName: tt.name}
		if tt.wantContainer {
			want[containerdNameAnnotation] = tt.name
		}
		if got := NameAnnotations(tt.name); !maps.Equal(got, want) {
			t.Errorf("NameAnnotations(%q) = %v, want %v", tt.name, got, want)
		}
	}
}

// untar returns the members of a tar in order, and their contents.
func untar(t *testing.T, b []byte) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	var hdrs []*tar.Header
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return hdrs, files
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, hdr)
		files[hdr.Name], _ = io.ReadAll(tr)
	}
}

func TestWriter(t *testing.T) {
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	layer := gzipped(t, layerTar(t, "one"))
	cfgD, layerD := digest.FromBytes(cfg), digest.FromBytes(layer)
	manifest := mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgD, Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layerD, Size: int64(len(layer))}},
	})
	top := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest)),
		Annotations: NameAnnotations("docker.io/library/app:1"), ArtifactType: ocispec.MediaTypeImageConfig,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, []ocispec.Descriptor{top})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{cfg, layer, manifest} {
		if err := w.WriteBlob(digest.FromBytes(b), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	// A blob written already is not read again.
	if err := w.WriteBlob(layerD, int64(len(layer)), iotest.ErrReader(errors.New("read again"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	hdrs, files := untar(t, buf.Bytes())
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Uname != "" || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: header %+v", h.Name, h)
		}
	}
	wantNames := []string{"oci-layout", "index.json", "blobs/sha256/" + cfgD.Encoded(), "blobs/sha256/" + layerD.Encoded(), "blobs/sha256/" + top.Digest.Encoded()}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("members %q, want %q", names, wantNames)
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout %s", files["oci-layout"])
	}
	// index.json is what go-containerregistry writes for the same index,
	// byte for byte.
	ggcrIndex, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
		MediaType: types.OCIManifestSchema1, Size: top.Size, Digest: v1.Hash{Algorithm: "sha256", Hex: top.Digest.Encoded()},
		Annotations: top.Annotations, ArtifactType: top.ArtifactType,
		Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
	}}})
	if !bytes.Equal(files["index.json"], ggcrIndex) {
		t.Fatalf("index.json\n%s\nwant\n%s", files["index.json"], ggcrIndex)
	}
}

func TestWriterRefuses(t *testing.T) {
	content := []byte("content")
	d := digest.FromBytes(content)
	tests := []struct {
		name  string
		write func(w *Writer) error
		want  string
	}{
		{
			name:  "content that is not its digest",
			write: func(w *Writer) error { return w.WriteBlob(d, 7, strings.NewReader("CONTENT")) },
			want:  "does not match its digest (its content is " + digest.FromString("CONTENT").String() + ")",
		},
		{
			name:  "fewer bytes than the size",
			write: func(w *Writer) error { return w.WriteBlob(d, 8, bytes.NewReader(content)) },
			want:  "blob " + d.String() + ": got 7 bytes, want 8",
		},
		{
			name:  "more bytes than the size",
			write: func(w *Writer) error { return w.WriteBlob(d, 6, bytes.NewReader(content)) },
			want:  "write too long",
		},
		{
			name:  "a read error",
			write: func(w *Writer) error { return w.WriteBlob(d, 7, iotest.ErrReader(errors.New("connection reset"))) },
			want:  "blob " + d.String() + ": connection reset",
		},
		{
			name:  "an invalid digest",
			write: func(w *Writer) error { return w.WriteBlob("sha256:../../x", 7, bytes.NewReader(content)) },
			want:  "invalid digest",
		},
		{
			name:  "an image of the index not written",
			write: func(w *Writer) error { return w.Close() },
			want:  "index.json lists " + d.String() + ", which was not written",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 7}})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(w); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := NewWriter(io.Discard, []ocispec.Descriptor{{Digest: "md5:abc"}}); err == nil {
		t.Fatal("NewWriter took an invalid digest")
	}
}

// layoutWriter feeds go-containerregistry images to a Writer, as shoal
// export does.
type layoutWriter struct {
	t *testing.T
	w *Writer
}

func (lw layoutWriter) blob(d v1.Hash, b []byte) {
	lw.t.Helper()
	if err := lw.w.WriteBlob(digest.Digest(d.String()), int64(len(b)), bytes.NewReader(b)); err != nil {
		lw.t.Fatal(err)
	}
}

func (lw layoutWriter) image(img v1.Image) {
	lw.t.Helper()
	cfg, _ := img.RawConfigFile()
	name, _ := img.ConfigName()
	lw.blob(name, cfg)
	layers, _ := img.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		size, _ := l.Size()
		rc, _ := l.Compressed()
		if err := lw.w.WriteBlob(digest.Digest(d.String()), size, rc); err != nil {
			lw.t.Fatal(err)
		}
		rc.Close()
	}
	raw, _ := img.RawManifest()
	d, _ := img.Digest()
	lw.blob(d, raw)
}

func (lw layoutWriter) index(idx v1.ImageIndex) {
	lw.t.Helper()
	im, _ := idx.IndexManifest()
	for _, c := range im.Manifests {
		img, err := idx.Image(c.Digest)
		if err != nil {
			lw.t.Fatal(err)
		}
		lw.image(img)
	}
	raw, _ := idx.RawManifest()
	d, _ := idx.Digest()
	lw.blob(d, raw)
}

func descriptorOf(t *testing.T, v interface {
	Digest() (v1.Hash, error)
	RawManifest() ([]byte, error)
	MediaType() (types.MediaType, error)
}, name string) ocispec.Descriptor {
	t.Helper()
	d, _ := v.Digest()
	raw, _ := v.RawManifest()
	mt, _ := v.MediaType()
	return ocispec.Descriptor{MediaType: string(mt), Digest: digest.Digest(d.String()), Size: int64(len(raw)), Annotations: NameAnnotations(name)}
}

// TestRoundTrip writes images with Writer and reads them back with Read:
// the same images, under the same names, with every blob.
func TestRoundTrip(t *testing.T) {
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(512, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	top := []ocispec.Descriptor{
		descriptorOf(t, img, "registry.example.com/team/app:1"),
		descriptorOf(t, idx, "team/multi:2"),
		descriptorOf(t, tagged, "3.20"),
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, top)
	if err != nil {
		t.Fatal(err)
	}
	lw := layoutWriter{t, w}
	lw.image(img)
	lw.index(idx)
	lw.image(tagged)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	c, err := readBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != OCILayout || len(c.Images) != 3 || len(c.Warnings) != 0 {
		t.Fatalf("format %s, %d images, warnings %q", c.Format, len(c.Images), c.Warnings)
	}
	wantNames := []struct{ refs, tags []string }{
		{refs: []string{"registry.example.com/team/app:1"}},
		{refs: []string{"team/multi:2"}},
		{tags: []string{"3.20"}},
	}
	for i, got := range c.Images {
		if got.Manifest.Digest != top[i].Digest {
			t.Errorf("image %d is %s, want %s", i, got.Manifest.Digest, top[i].Digest)
		}
		if !slices.Equal(got.Refs, wantNames[i].refs) || !slices.Equal(got.Tags, wantNames[i].tags) {
			t.Errorf("image %d: refs %q tags %q, want %+v", i, got.Refs, got.Tags, wantNames[i])
		}
	}
	if n := len(c.Images[1].Manifest.Children); n != 3 {
		t.Fatalf("the index has %d children, want 3", n)
	}
	checkBlobs(t, c)
	// Every config and layer: 1+3 of img, 3×(1+2) of idx, 1+1 of tagged.
	if want := 4 + 9 + 2; len(c.Blobs) != want {
		t.Fatalf("%d blobs, want %d", len(c.Blobs), want)
	}
}
