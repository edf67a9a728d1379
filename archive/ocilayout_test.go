package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// checkBlobs checks that every blob reads back as its digest says, and
// that no blob is listed twice.
func checkBlobs(t *testing.T, c *Contents) {
	t.Helper()
	seen := map[digest.Digest]bool{}
	for _, b := range c.Blobs {
		if seen[b.Digest] {
			t.Errorf("blob %s listed twice", b.Digest)
		}
		seen[b.Digest] = true
		content, err := io.ReadAll(b.Open())
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(content)) != b.Size || digest.FromBytes(content) != b.Digest {
			t.Errorf("blob %s reads back as %d bytes, %s", b.Digest, len(content), digest.FromBytes(content))
		}
	}
}

func blobDigests(c *Contents) []digest.Digest {
	var ds []digest.Digest
	for _, b := range c.Blobs {
		ds = append(ds, b.Digest)
	}
	slices.Sort(ds)
	return ds
}

func sortedDigests(descs ...ocispec.Descriptor) []digest.Digest {
	var ds []digest.Digest
	for _, d := range descs {
		ds = append(ds, d.Digest)
	}
	slices.Sort(ds)
	return slices.Compact(ds)
}

func TestReadOCILayout(t *testing.T) {
	l1, l2, l3 := gzipped(t, layerTar(t, "one")), gzipped(t, layerTar(t, "two")), gzipped(t, layerTar(t, "three"))
	tests := []struct {
		name  string
		build func(t *testing.T) ([]byte, func(t *testing.T, c *Contents))
	}{
		{
			name: "one image named by a full ref.name",
			build: func(t *testing.T) ([]byte, func(*testing.T, *Contents)) {
				l := newLayout(t)
				img := l.image(l1, l2)
				b := l.tar(named(img, map[string]string{ocispec.AnnotationRefName: "myteam/app:1.0"}))
				return b, func(t *testing.T, c *Contents) {
					if c.Format != OCILayout || len(c.Images) != 1 {
						t.Fatalf("format %s, %d images", c.Format, len(c.Images))
					}
					got := c.Images[0]
					if got.Manifest.Digest != img.Digest || !slices.Equal(got.Refs, []string{"myteam/app:1.0"}) || got.Tags != nil {
						t.Fatalf("image %+v", got)
					}
					if got.Label != fmt.Sprintf("index.json entry 0 (%s)", img.Digest) {
						t.Fatalf("label %q", got.Label)
					}
					if len(c.Blobs) != 3 || c.Blobs[0].Label != c.Blobs[0].Digest.String() {
						t.Fatalf("blobs %+v", c.Blobs)
					}
				}
			},
		},
		{
			name: "names: containerd name, bare tag, none",
			build: func(t *testing.T) ([]byte, func(*testing.T, *Contents)) {
				l := newLayout(t)
				a, b, c := l.image(l1), l.image(l2), l.image(l3)
				arch := l.tar(
					named(a, map[string]string{containerdNameAnnotation: "docker.io/library/a:1", ocispec.AnnotationRefName: "docker.io/library/a:1"}),
					named(b, map[string]string{containerdNameAnnotation: "docker.io/library/b:2", ocispec.AnnotationRefName: "2"}),
					c,
				)
				return arch, func(t *testing.T, got *Contents) {
					want := []struct{ refs, tags []string }{
						{refs: []string{"docker.io/library/a:1"}},
						{refs: []string{"docker.io/library/b:2"}, tags: []string{"2"}},
						{},
					}
					for i, w := range want {
						if img := got.Images[i]; !slices.Equal(img.Refs, w.refs) || !slices.Equal(img.Tags, w.tags) {
							t.Errorf("image %d: refs %q tags %q, want %q %q", i, img.Refs, img.Tags, w.refs, w.tags)
						}
					}
				}
			},
		},
		{
			name: "under a top-level directory",
			build: func(t *testing.T) ([]byte, func(*testing.T, *Contents)) {
				l := newLayout(t)
				l.prefix = "multi/"
				img := l.image(l1)
				return l.tar(img), func(t *testing.T, c *Contents) {
					if c.Images[0].Manifest.Digest != img.Digest || len(c.Blobs) != 2 {
						t.Fatalf("contents %+v", c)
					}
				}
			},
		},
		{
			name: "index and nested index, blobs shared between platforms listed once",
			build: func(t *testing.T) ([]byte, func(*testing.T, *Contents)) {
				l := newLayout(t)
				amd64, arm64 := l.image(l1, l2), l.image(l1, l3)
				amd64.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
				arm64.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
				inner := l.index(arm64)
				outer := l.index(amd64, inner)
				return l.tar(outer, inner), func(t *testing.T, c *Contents) {
					top := c.Images[0].Manifest
					if top.Digest != outer.Digest || len(top.Children) != 2 || top.Children[0].Digest != amd64.Digest {
						t.Fatalf("top %+v", top)
					}
					nested := top.Children[1]
					if nested.Digest != inner.Digest || len(nested.Children) != 1 || nested.Children[0].Digest != arm64.Digest {
						t.Fatalf("nested %+v", nested)
					}
					// The same index listed twice is read once.
					if c.Images[1].Manifest != nested {
						t.Fatal("the nested index was read twice")
					}
					if len(c.Blobs) != 5 { // two configs, three layers
						t.Fatalf("%d blobs, want 5", len(c.Blobs))
					}
					if len(c.Warnings) != 0 {
						t.Fatalf("warnings %q", c.Warnings)
					}
				}
			},
		},
		{
			name: "a platform the archive lacks is skipped with a warning",
			build: func(t *testing.T) ([]byte, func(*testing.T, *Contents)) {
				l := newLayout(t)
				amd64, arm64 := l.image(l1), l.image(l2)
				arm64.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
				idx := l.index(amd64, arm64)
				l.skip[arm64.Digest] = true
				return l.tar(idx), func(t *testing.T, c *Contents) {
					want := fmt.Sprintf("index %s: manifest %s (linux/arm64/v8) is not in the archive and is skipped", idx.Digest, arm64.Digest)
					if !slices.Equal(c.Warnings, []string{want}) {
						t.Fatalf("warnings %q, want %q", c.Warnings, want)
					}
					if m := c.Images[0].Manifest; len(m.Children) != 1 || m.Children[0].Digest != amd64.Digest {
						t.Fatalf("children %+v", m.Children)
					}
				}
			},
		},
		{
			name: "a non-distributable layer may be absent",
			build: func(t *testing.T) ([]byte, func(*testing.T, *Contents)) {
				l := newLayout(t)
				foreign := l.blob("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", l2)
				l.skip[foreign.Digest] = true
				cfg := l.blob(ocispec.MediaTypeImageConfig, []byte(`{}`))
				layer := l.blob(ocispec.MediaTypeImageLayerGzip, l1)
				m := l.blob(ocispec.MediaTypeImageManifest, mustJSON(t, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{foreign, layer}}))
				return l.tar(m), func(t *testing.T, c *Contents) {
					if got, want := blobDigests(c), sortedDigests(cfg, layer); !slices.Equal(got, want) {
						t.Fatalf("blobs %v, want %v", got, want)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, check := tt.build(t)
			c, err := readBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			checkBlobs(t, c)
			check(t, c)
		})
	}
}

// TestReadOCILayoutErrors checks what is refused, the error it is (which
// decides the node's answer) and its message.
func TestReadOCILayoutErrors(t *testing.T) {
	l1 := gzipped(t, layerTar(t, "one"))
	tests := []struct {
		name  string
		build func(t *testing.T) ([]byte, string) // the archive and the message wanted
		lim   func(*limits)
		want  error
	}{
		{
			name: "top manifest absent",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				img := l.image(l1)
				l.skip[img.Digest] = true
				return l.tar(img), fmt.Sprintf("index.json entry 0 (%[1]s): manifest %[1]s: not in the archive", img.Digest)
			},
			want: ErrMissing,
		},
		{
			name: "layer absent",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				img := l.image(l1)
				layer := digest.FromBytes(l1)
				l.skip[layer] = true
				return l.tar(img), fmt.Sprintf("index.json entry 0 (%[1]s): manifest %[1]s needs blob %[2]s, which is not in the archive", img.Digest, layer)
			},
			want: ErrMissing,
		},
		{
			name: "a platform's layer absent is not skipped",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				img := l.image(l1)
				idx := l.index(img)
				l.skip[digest.FromBytes(l1)] = true
				return l.tar(idx), "needs blob"
			},
			want: ErrMissing,
		},
		{
			name: "blob of another size",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				img := l.image(l1)
				img.Size++
				return l.tar(img), fmt.Sprintf("index.json entry 0 (%[1]s): blob %[1]s is %d bytes in the archive, but its descriptor says %d", img.Digest, img.Size-1, img.Size)
			},
			want: ErrSizeMismatch,
		},
		{
			name: "manifest that is not its digest",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				img := l.image(l1)
				body := l.members[len(l.members)-1].body
				body[len(body)-2] ^= 1
				return l.tar(img), fmt.Sprintf("index.json entry 0 (%[1]s): manifest %[1]s in the archive does not match its digest (it is %[2]s)", img.Digest, digest.FromBytes(body))
			},
			want: ErrDigestMismatch,
		},
		{
			name: "manifest over the limit",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				img := l.image(l1)
				return l.tar(img), fmt.Sprintf("index.json entry 0 (%[1]s): manifest %[1]s is %d bytes, more than the 100 allowed", img.Digest, img.Size)
			},
			lim:  func(l *limits) { l.manifestBytes = 100 },
			want: ErrTooLarge,
		},
		{
			name: "indexes nested too deep",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				d := l.image(l1)
				for range 3 {
					d = l.index(d)
				}
				return l.tar(d), "indexes nested more than 2 deep"
			},
			lim:  func(l *limits) { l.indexDepth = 2 },
			want: ErrInvalid,
		},
		{
			name: "manifest oci.ParseManifest refuses",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				m := l.blob(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":1}`))
				return l.tar(m), fmt.Sprintf("index.json entry 0 (%s): manifest invalid: schemaVersion must be 2", m.Digest)
			},
			want: ErrInvalid,
		},
		{
			name: "invalid digest in index.json",
			build: func(t *testing.T) ([]byte, string) {
				l := newLayout(t)
				return l.tar(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: "sha256:../../etc", Size: 2}), `index.json entry 0 (sha256:../../etc): invalid digest "sha256:../../etc"`
			},
			want: ErrInvalid,
		},
		{
			name: "layout version 2",
			build: func(t *testing.T) ([]byte, string) {
				return tarOf(t, member{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"2.0.0"}`)}), `OCI image layout version "2.0.0" is not supported (want 1.x)`
			},
			want: ErrUnsupportedVersion,
		},
		{
			name: "oci-layout not JSON",
			build: func(t *testing.T) ([]byte, string) {
				return tarOf(t, member{name: "oci-layout", body: []byte(`1.0.0`)}), "oci-layout is not valid JSON: "
			},
			want: ErrInvalid,
		},
		{
			name: "oci-layout over the limit",
			build: func(t *testing.T) ([]byte, string) {
				return tarOf(t, member{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}), "oci-layout: oci-layout is 30 bytes, more than the 10 allowed"
			},
			lim:  func(l *limits) { l.jsonBytes = 10 },
			want: ErrInvalid,
		},
		{
			name: "no index.json",
			build: func(t *testing.T) ([]byte, string) {
				return tarOf(t, member{name: "x/oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}), "index.json: x/index.json: not in the archive"
			},
			want: ErrInvalid,
		},
		{
			name: "index.json lists nothing",
			build: func(t *testing.T) ([]byte, string) {
				return newLayout(t).tar(), "index.json lists no images"
			},
			want: ErrInvalid,
		},
		{
			name: "two layouts side by side",
			build: func(t *testing.T) ([]byte, string) {
				layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
				return tarOf(t, member{name: "a/oci-layout", body: layout}, member{name: "b/oci-layout", body: layout}), "found neither oci-layout and index.json nor manifest.json"
			},
			want: ErrUnknownFormat,
		},
		{
			name: "a tar of something else",
			build: func(t *testing.T) ([]byte, string) {
				return tarOf(t, member{name: "README", body: []byte("hi")}), "found neither oci-layout and index.json nor manifest.json"
			},
			want: ErrUnknownFormat,
		},
		{
			name: "not a tar",
			build: func(t *testing.T) ([]byte, string) {
				return []byte("hello, this is not an archive at all"), "not a readable tar archive: unexpected EOF"
			},
			want: ErrUnknownFormat,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, wantMsg := tt.build(t)
			lim := defaultLimits(0)
			if tt.lim != nil {
				tt.lim(&lim)
			}
			_, err := read(bytes.NewReader(b), int64(len(b)), lim)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), wantMsg) {
				t.Fatalf("err = %q, want %q", err, wantMsg)
			}
		})
	}
}

// TestParseManifestDetail checks that a manifest refused by
// oci.ParseManifest keeps the detail of its *oci.Error.
func TestParseManifestDetail(t *testing.T) {
	l := newLayout(t)
	cfg := l.blob(ocispec.MediaTypeImageConfig, []byte(`{}`))
	cfg.Digest = "sha256:nothex"
	m := l.blob(ocispec.MediaTypeImageManifest, mustJSON(t, ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg}))
	_, err := readBytes(l.tar(m))
	var oe *oci.Error
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &oe) || oe.Detail == nil {
		t.Fatalf("err = %v (%#v), want ErrInvalid with an *oci.Error detail", err, oe)
	}
}
