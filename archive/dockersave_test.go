package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// storeLayers runs every docker save layer through VerifyLayer, as an
// importer does, and returns what it would store by digest.
func storeLayers(t *testing.T, c *Contents) (map[digest.Digest][]byte, error) {
	t.Helper()
	stored := map[digest.Digest][]byte{}
	for _, b := range c.Blobs {
		if b.DiffID == "" {
			content, _ := io.ReadAll(b.Open())
			stored[b.Digest] = content
			continue
		}
		var gz bytes.Buffer
		if err := b.VerifyLayer(b.Open(), &gz); err != nil {
			return nil, err
		}
		if b.Compression == Uncompressed {
			stored[b.Digest] = gz.Bytes()
		} else {
			if gz.Len() != 0 {
				t.Errorf("a %s layer was written to gz", b.Compression)
			}
			stored[b.Digest], _ = io.ReadAll(b.Open())
		}
	}
	return stored, nil
}

func TestReadDockerSave(t *testing.T) {
	plain1, plain2 := layerTar(t, "one"), layerTar(t, "two")
	gz1 := gzipped(t, plain1)
	zst2 := zstded(t, plain2)
	tests := []struct {
		name string
		// files are the layer files of one image, uncompressed its layers
		uncompressed, files [][]byte
		// want are the media types of the manifest, config and layers
		wantManifest, wantConfig string
		wantLayers               []string
	}{
		{
			name:         "plain layers are gzipped",
			uncompressed: [][]byte{plain1, plain2}, files: [][]byte{plain1, plain2},
			wantManifest: oci.MediaTypeDockerManifest, wantConfig: mediaTypeDockerConfig,
			wantLayers: []string{mediaTypeDockerLayerGzip, mediaTypeDockerLayerGzip},
		},
		{
			name:         "gzip layers are kept",
			uncompressed: [][]byte{plain1}, files: [][]byte{gz1},
			wantManifest: oci.MediaTypeDockerManifest, wantConfig: mediaTypeDockerConfig,
			wantLayers: []string{mediaTypeDockerLayerGzip},
		},
		{
			name:         "a zstd layer needs an OCI manifest",
			uncompressed: [][]byte{plain1, plain2}, files: [][]byte{plain1, zst2},
			wantManifest: ocispec.MediaTypeImageManifest, wantConfig: ocispec.MediaTypeImageConfig,
			wantLayers: []string{ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerZstd},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testDockerSave{t: t}
			c, err := readBytes(s.tar(s.image([]string{"myteam/app:1", "myteam/app:latest"}, tt.uncompressed, tt.files)))
			if err != nil {
				t.Fatal(err)
			}
			if c.Format != DockerSave || len(c.Images) != 1 || len(c.Blobs) != 1+len(tt.files) {
				t.Fatalf("contents %+v", c)
			}
			img := c.Images[0]
			if !slices.Equal(img.Refs, []string{"myteam/app:1", "myteam/app:latest"}) || img.Manifest != nil {
				t.Fatalf("image %+v", img)
			}
			if err := img.Build(); err == nil || !strings.Contains(err.Error(), "has not been verified") {
				t.Fatalf("Build before the layers are verified: %v", err)
			}
			stored, err := storeLayers(t, c)
			if err != nil {
				t.Fatal(err)
			}
			if err := img.Build(); err != nil {
				t.Fatal(err)
			}
			m := img.Manifest
			if m.Digest != digest.FromBytes(m.Body) || m.Info.MediaType != tt.wantManifest {
				t.Fatalf("manifest %s of type %s, want %s", m.Digest, m.Info.MediaType, tt.wantManifest)
			}
			if cfg := m.Info.Blobs[0]; cfg.MediaType != tt.wantConfig || cfg.Digest != c.Blobs[0].Digest {
				t.Fatalf("config %+v", cfg)
			}
			for i, l := range m.Info.Blobs[1:] {
				if l.MediaType != tt.wantLayers[i] {
					t.Errorf("layer %d is %s, want %s", i, l.MediaType, tt.wantLayers[i])
				}
				// What is stored is the descriptor's, and uncompresses to
				// the layer.
				b := stored[l.Digest]
				if digest.FromBytes(b) != l.Digest || int64(len(b)) != l.Size {
					t.Fatalf("layer %d: stored %d bytes, %s; descriptor %+v", i, len(b), digest.FromBytes(b), l)
				}
				compression := Gzip
				if l.MediaType == ocispec.MediaTypeImageLayerZstd {
					compression = Zstd
				}
				var u bytes.Buffer
				if err := decompress(&u, bytes.NewReader(b), compression); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(u.Bytes(), tt.uncompressed[i]) {
					t.Fatalf("layer %d does not uncompress to the layer", i)
				}
			}
			if b := c.Blobs[1]; b.Label != string(digest.FromBytes(tt.uncompressed[0])) || b.DiffID.String() != b.Label {
				t.Fatalf("layer blob %+v", b)
			}
		})
	}
}

// TestReadDockerSaveSharedLayers checks docker save's links: a layer
// repeated as a hard or symbolic link reads as the layer, and a layer two
// images share is stored once.
func TestReadDockerSaveSharedLayers(t *testing.T) {
	base, top := layerTar(t, "base"), layerTar(t, "top")
	for name, link := range map[string]member{
		"symbolic link": {name: "alias/layer.tar", typeflag: tar.TypeSymlink},
		"hard link":     {name: "alias/layer.tar", typeflag: tar.TypeLink},
	} {
		t.Run(name, func(t *testing.T) {
			s := &testDockerSave{t: t}
			a := s.image([]string{"a:1"}, [][]byte{base}, [][]byte{base})
			b := s.image([]string{"b:1"}, [][]byte{base, top}, [][]byte{base, top})
			link.linkname = a.Layers[0]
			if link.typeflag == tar.TypeSymlink {
				link.linkname = "../" + a.Layers[0]
			}
			s.members = append(s.members, link)
			b.Layers[0] = link.name
			c, err := readBytes(s.tar(a, b))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := storeLayers(t, c); err != nil {
				t.Fatal(err)
			}
			for _, img := range c.Images {
				if err := img.Build(); err != nil {
					t.Fatal(err)
				}
			}
			la, lb := c.Images[0].Manifest.Info.Blobs[1], c.Images[1].Manifest.Info.Blobs[1]
			if la.Digest != lb.Digest {
				t.Fatalf("the linked layer is %s in one image and %s in the other", la.Digest, lb.Digest)
			}
		})
	}
	t.Run("one path, two images", func(t *testing.T) {
		s := &testDockerSave{t: t}
		a := s.image([]string{"a:1"}, [][]byte{base}, [][]byte{base})
		b := s.image([]string{"b:1"}, [][]byte{base, top}, [][]byte{base, top})
		c, err := readBytes(s.tar(a, b))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Blobs) != 4 { // two configs, two layers
			t.Fatalf("%d blobs, want 4", len(c.Blobs))
		}
	})
}

func TestReadDockerSaveForeignLayer(t *testing.T) {
	plain, foreign := layerTar(t, "mine"), layerTar(t, "windows base")
	foreignDiffID := digest.FromBytes(foreign)
	s := &testDockerSave{t: t}
	e := s.image([]string{"win:1"}, [][]byte{foreign, plain}, [][]byte{plain})
	h, _ := v1.NewHash(foreignDiffID.String())
	src := v1.Descriptor{MediaType: types.DockerForeignLayer, Size: 1234, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("f", 64)}, URLs: []string{"https://example.com/layer"}}
	e.Layers = append([]string{"foreign/layer.tar"}, e.Layers...)
	e.LayerSources = map[v1.Hash]v1.Descriptor{h: src}
	c, err := readBytes(s.tar(e))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Blobs) != 2 {
		t.Fatalf("%d blobs, want the config and one layer", len(c.Blobs))
	}
	if _, err := storeLayers(t, c); err != nil {
		t.Fatal(err)
	}
	if err := c.Images[0].Build(); err != nil {
		t.Fatal(err)
	}
	got := c.Images[0].Manifest.Info.Blobs[1]
	if got.MediaType != string(types.DockerForeignLayer) || got.Digest.String() != src.Digest.String() || got.Size != 1234 || !slices.Equal(got.URLs, src.URLs) {
		t.Fatalf("foreign layer %+v", got)
	}
}

// TestVerifyLayerRefuses checks layers whose content is not what the
// config says.
func TestVerifyLayerRefuses(t *testing.T) {
	plain, other := layerTar(t, "one"), layerTar(t, "other")
	corruptGzip := gzipped(t, plain)
	corruptGzip[len(corruptGzip)-6] ^= 0xff // in the CRC
	tests := []struct {
		name         string
		uncompressed []byte
		file         []byte
		want         error
		wantMsg      string
	}{
		{name: "plain layer, wrong diff_id", uncompressed: other, file: plain, want: ErrDigestMismatch, wantMsg: "does not match its diff_id in the image config (its content is " + digest.FromBytes(plain).String() + ")"},
		{name: "gzip layer, wrong diff_id", uncompressed: other, file: gzipped(t, plain), want: ErrDigestMismatch, wantMsg: "does not match its diff_id"},
		{name: "zstd layer, wrong diff_id", uncompressed: other, file: zstded(t, plain), want: ErrDigestMismatch, wantMsg: "does not match its diff_id"},
		{name: "corrupt gzip stream", uncompressed: plain, file: corruptGzip, wantMsg: "its gzip stream is corrupt"},
		{name: "corrupt zstd stream", uncompressed: plain, file: zstded(t, plain)[:20], wantMsg: "its zstd stream is corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &testDockerSave{t: t}
			c, err := readBytes(s.tar(s.image([]string{"a:1"}, [][]byte{tt.uncompressed}, [][]byte{tt.file})))
			if err != nil {
				t.Fatal(err)
			}
			layer := c.Blobs[1]
			err = layer.VerifyLayer(layer.Open(), io.Discard)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v %q", err, tt.want, tt.wantMsg)
			}
			if layer.Digest != "" {
				t.Fatal("a refused layer got a digest")
			}
		})
	}
	t.Run("a plain layer with nowhere to gzip to", func(t *testing.T) {
		s := &testDockerSave{t: t}
		c, _ := readBytes(s.tar(s.image([]string{"a:1"}, [][]byte{plain}, [][]byte{plain})))
		if err := c.Blobs[1].VerifyLayer(c.Blobs[1].Open(), nil); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("not a layer", func(t *testing.T) {
		s := &testDockerSave{t: t}
		c, _ := readBytes(s.tar(s.image([]string{"a:1"}, [][]byte{plain}, [][]byte{plain})))
		if err := c.Blobs[0].VerifyLayer(c.Blobs[0].Open(), io.Discard); err == nil {
			t.Fatal("a config was verified as a layer")
		}
	})
}

// TestVerifyLayerGzipIsStable checks that a plain layer gzips to the same
// bytes each time, so importing it twice stores one blob.
func TestVerifyLayerGzipIsStable(t *testing.T) {
	plain := layerTar(t, "one")
	var digests []digest.Digest
	for range 2 {
		s := &testDockerSave{t: t}
		c, err := readBytes(s.tar(s.image([]string{"a:1"}, [][]byte{plain}, [][]byte{plain})))
		if err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		if err := c.Blobs[1].VerifyLayer(c.Blobs[1].Open(), &gz); err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(&gz)
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := io.ReadAll(zr); !bytes.Equal(u, plain) {
			t.Fatal("the gzip does not uncompress to the layer")
		}
		digests = append(digests, c.Blobs[1].Digest)
	}
	if digests[0] != digests[1] {
		t.Fatalf("gzipped twice: %s and %s", digests[0], digests[1])
	}
}

func TestReadDockerSaveErrors(t *testing.T) {
	plain, other := layerTar(t, "one"), layerTar(t, "two")
	tests := []struct {
		name    string
		build   func(t *testing.T) []byte
		lim     func(*limits)
		want    error
		wantMsg string
	}{
		{
			name: "config absent",
			build: func(t *testing.T) []byte {
				return tarOf(t, member{name: "manifest.json", body: mustJSON(t, tarball.Manifest{{Config: "x.json"}})})
			},
			want:    ErrMissing,
			wantMsg: "manifest.json entry 0 (x.json): manifest config: x.json: not in the archive",
		},
		{
			name: "config outside the archive is inside it",
			build: func(t *testing.T) []byte {
				s := &testDockerSave{t: t}
				e := s.image(nil, [][]byte{plain}, [][]byte{plain})
				e.Config = "../../../" + e.Config
				return s.tar(e)
			},
		},
		{
			name: "layer path leaving the archive",
			build: func(t *testing.T) []byte {
				s := &testDockerSave{t: t}
				e := s.image(nil, [][]byte{plain}, [][]byte{plain})
				e.Layers[0] = "../../../etc/passwd"
				return s.tar(e)
			},
			want:    ErrMissing,
			wantMsg: "layer etc/passwd is not in the archive",
		},
		{
			name: "config over the limit",
			build: func(t *testing.T) []byte {
				s := &testDockerSave{t: t}
				return s.tar(s.image(nil, [][]byte{plain}, [][]byte{plain}))
			},
			lim:     func(l *limits) { l.configBytes = 10 },
			want:    ErrInvalid,
			wantMsg: "more than the 10 allowed",
		},
		{
			name: "config that is no config",
			build: func(t *testing.T) []byte {
				return tarOf(t, member{name: "c.json", body: []byte("[]")}, member{name: "manifest.json", body: mustJSON(t, tarball.Manifest{{Config: "c.json"}})})
			},
			want:    ErrInvalid,
			wantMsg: "manifest.json entry 0 (c.json): config c.json is not an image config: ",
		},
		{
			name: "fewer diff_ids than layers",
			build: func(t *testing.T) []byte {
				s := &testDockerSave{t: t}
				e := s.image(nil, [][]byte{plain}, [][]byte{plain, other})
				return s.tar(e)
			},
			want:    ErrInvalid,
			wantMsg: "lists 1 layers (diff_ids), manifest.json 2",
		},
		{
			name: "one layer file, two diff_ids",
			build: func(t *testing.T) []byte {
				s := &testDockerSave{t: t}
				a := s.image([]string{"a:1"}, [][]byte{plain}, [][]byte{plain})
				b := s.image([]string{"b:1"}, [][]byte{other}, [][]byte{other})
				b.Layers = a.Layers
				return s.tar(a, b)
			},
			want:    ErrInvalid,
			wantMsg: "is given two diff_ids",
		},
		{
			name: "manifest.json that is no docker save manifest",
			build: func(t *testing.T) []byte {
				return tarOf(t, member{name: "manifest.json", body: []byte(`{"schemaVersion":2}`)})
			},
			want:    ErrInvalid,
			wantMsg: "manifest.json is not a docker save manifest: ",
		},
		{
			name: "manifest.json lists nothing",
			build: func(t *testing.T) []byte {
				return tarOf(t, member{name: "manifest.json", body: []byte(`[]`)})
			},
			want:    ErrInvalid,
			wantMsg: "manifest.json lists no images",
		},
		{
			name: "manifest.json over the limit",
			build: func(t *testing.T) []byte {
				return tarOf(t, member{name: "manifest.json", body: []byte(`[{"Config":"a-long-config-name.json"}]`)})
			},
			lim:     func(l *limits) { l.jsonBytes = 10 },
			want:    ErrInvalid,
			wantMsg: "manifest.json: manifest.json is 38 bytes, more than the 10 allowed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.build(t)
			lim := defaultLimits(0)
			if tt.lim != nil {
				tt.lim(&lim)
			}
			_, err := read(bytes.NewReader(b), int64(len(b)), lim)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v %q", err, tt.want, tt.wantMsg)
			}
		})
	}
}
