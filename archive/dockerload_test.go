package archive

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestDockerImageOf(t *testing.T) {
	cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromString("cfg"), Size: 3}
	layer := func(mt string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mt, Digest: digest.FromString(mt), Size: 1}
	}
	manifest := func(cfg ocispec.Descriptor, layers ...ocispec.Descriptor) []byte {
		return mustJSON(t, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
	}
	dockerCfg := cfg
	dockerCfg.MediaType = mediaTypeDockerConfig
	for _, tt := range []struct {
		name     string
		manifest []byte
		want     []digest.Digest // config, then layers
		err      string
	}{
		{
			name:     "an OCI image with plain, gzip and zstd layers",
			manifest: manifest(cfg, layer(ocispec.MediaTypeImageLayer), layer(ocispec.MediaTypeImageLayerGzip), layer(ocispec.MediaTypeImageLayerZstd)),
			want:     []digest.Digest{cfg.Digest, digest.FromString(ocispec.MediaTypeImageLayer), digest.FromString(ocispec.MediaTypeImageLayerGzip), digest.FromString(ocispec.MediaTypeImageLayerZstd)},
		},
		{
			name:     "a docker image",
			manifest: manifest(dockerCfg, layer(mediaTypeDockerLayerGzip)),
			want:     []digest.Digest{cfg.Digest, digest.FromString(mediaTypeDockerLayerGzip)},
		},
		{
			name:     "an image without layers",
			manifest: manifest(cfg),
			want:     []digest.Digest{cfg.Digest},
		},
		{
			name:     "an artifact",
			manifest: manifest(ocispec.Descriptor{MediaType: "application/vnd.cncf.helm.config.v1+json", Digest: cfg.Digest, Size: 3}, layer("application/vnd.cncf.helm.chart.content.v1.tar+gzip")),
			err:      `not a container image (its config is "application/vnd.cncf.helm.config.v1+json")`,
		},
		{
			name:     "a non-distributable layer",
			manifest: manifest(cfg, layer("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")),
			err:      "which docker load does not take",
		},
		{
			name:     "an index",
			manifest: mustJSON(t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex}),
			err:      `not a container image (its config is "")`,
		},
		{
			name:     "not JSON",
			manifest: []byte("{"),
			err:      "not an image manifest",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			img, err := DockerImageOf(tt.manifest, "app:1")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := append([]digest.Digest{img.Config}, img.Layers...)
			if !slices.Equal(got, tt.want) || !slices.Equal(img.RepoTags, []string{"app:1"}) {
				t.Fatalf("got %+v, want config and layers %v", img, tt.want)
			}
		})
	}
}

// TestWriterDockerManifest writes an image with its docker load entry:
// manifest.json comes last, names the blobs by their paths in blobs/,
// reads back as a docker save tarball whose layers match the config's
// diff_ids, and does not change how the archive reads as a layout.
func TestWriterDockerManifest(t *testing.T) {
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	byDigest, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	top := []ocispec.Descriptor{descriptorOf(t, img, "docker.io/team/app:1"), descriptorOf(t, byDigest, "team/app@sha256:"+strings.Repeat("a", 64))}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, top)
	if err != nil {
		t.Fatal(err)
	}
	lw := layoutWriter{t, w}
	lw.image(img)
	lw.image(byDigest)
	var entries []DockerImage
	for i, im := range []interface{ RawManifest() ([]byte, error) }{img, byDigest} {
		raw, _ := im.RawManifest()
		tags := []string{"docker.io/team/app:1"}
		if i == 1 {
			tags = nil
		}
		e, err := DockerImageOf(raw, tags...)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddDockerImage(e); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	hdrs, files := untar(t, buf.Bytes())
	if last := hdrs[len(hdrs)-1].Name; last != "manifest.json" {
		t.Fatalf("last member %s, want manifest.json", last)
	}
	want := `[{"Config":"blobs/sha256/` + entries[0].Config.Encoded() + `","RepoTags":["docker.io/team/app:1"],"Layers":["blobs/sha256/` +
		entries[0].Layers[0].Encoded() + `","blobs/sha256/` + entries[0].Layers[1].Encoded() + `"]},` +
		`{"Config":"blobs/sha256/` + entries[1].Config.Encoded() + `","RepoTags":null,"Layers":["blobs/sha256/` + entries[1].Layers[0].Encoded() + `"]}]`
	if got := string(files["manifest.json"]); got != want {
		t.Fatalf("manifest.json\n%s\nwant\n%s", got, want)
	}

	// Read still takes it for the layout it is.
	c, err := readBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != OCILayout || len(c.Images) != 2 || c.Images[0].Manifest.Digest != top[0].Digest {
		t.Fatalf("read back as %s with %d images", c.Format, len(c.Images))
	}

	// As docker load sees it: the docker save reader finds each image's
	// config and layers, every layer matching its diff_id.
	ix, err := indexTar(bytes.NewReader(buf.Bytes()), int64(buf.Len()), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := readDockerSave(ix, defaultLimits(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Images) != 2 || !slices.Equal(ds.Images[0].Refs, []string{"docker.io/team/app:1"}) || len(ds.Images[1].Refs) != 0 {
		t.Fatalf("docker save reader: %d images, names %q and %q", len(ds.Images), ds.Images[0].Refs, ds.Images[1].Refs)
	}
	for _, b := range ds.Blobs {
		if b.DiffID == "" {
			continue
		}
		if err := b.VerifyLayer(b.Open(), io.Discard); err != nil {
			t.Errorf("layer %s: %v", b.Label, err)
		}
	}
}

func TestWriterDockerManifestRefuses(t *testing.T) {
	content := []byte("content")
	d := digest.FromBytes(content)
	for _, tt := range []struct {
		name string
		img  DockerImage
		want string
	}{
		{"a config not written", DockerImage{Config: digest.FromString("other"), Layers: []digest.Digest{d}}, "manifest.json names config " + digest.FromString("other").String() + ", which was not written"},
		{"a layer not written", DockerImage{Config: d, Layers: []digest.Digest{digest.FromString("other")}}, "manifest.json names layer " + digest.FromString("other").String() + ", which was not written"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteBlob(d, int64(len(content)), bytes.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			if err := w.AddDockerImage(tt.img); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err == nil || err.Error() != tt.want {
				t.Fatalf("Close: %v, want %q", err, tt.want)
			}
		})
	}
	w, err := NewWriter(io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddDockerImage(DockerImage{Config: "sha256:../../etc", Layers: nil}); err == nil || !strings.Contains(err.Error(), "invalid digest") {
		t.Fatalf("AddDockerImage of an invalid digest: %v", err)
	}
}
