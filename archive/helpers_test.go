package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// member is one member of a test tar: a regular file unless typeflag
// says otherwise.
type member struct {
	name     string
	body     []byte
	typeflag byte
	linkname string
	pax      map[string]string
}

func tarOf(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		hdr := &tar.Header{Name: m.name, Mode: 0o644, Typeflag: m.typeflag, Linkname: m.linkname, PAXRecords: m.pax}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(m.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readBytes reads an archive held in memory, with the default limits.
func readBytes(b []byte) (*Contents, error) {
	return Read(bytes.NewReader(b), int64(len(b)), 0)
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// layerTar is a small uncompressed layer holding one file.
func layerTar(t testing.TB, content string) []byte {
	t.Helper()
	return tarOf(t, member{name: "etc/" + content, body: []byte(content)})
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// testLayout builds an OCI image layout in a tar, under prefix.
type testLayout struct {
	t       testing.TB
	prefix  string
	members []member
	// skip are blobs left out of the tar.
	skip map[digest.Digest]bool
}

func newLayout(t testing.TB) *testLayout {
	return &testLayout{t: t, skip: map[digest.Digest]bool{}}
}

// blob adds b and returns its descriptor.
func (l *testLayout) blob(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	l.members = append(l.members, member{name: l.prefix + "blobs/sha256/" + d.Encoded(), body: b})
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// image adds an image of the given (gzipped) layers and returns its
// manifest's descriptor.
func (l *testLayout) image(layers ...[]byte) ocispec.Descriptor {
	cfg := l.blob(ocispec.MediaTypeImageConfig, fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"n":%d}`, len(l.members)))
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg}
	for _, b := range layers {
		m.Layers = append(m.Layers, l.blob(ocispec.MediaTypeImageLayerGzip, b))
	}
	return l.blob(ocispec.MediaTypeImageManifest, mustJSON(l.t, m))
}

// index adds an index of the given manifests and returns its descriptor.
func (l *testLayout) index(children ...ocispec.Descriptor) ocispec.Descriptor {
	return l.blob(ocispec.MediaTypeImageIndex, mustJSON(l.t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: children}))
}

// tar is the layout's tar, its index.json listing top.
func (l *testLayout) tar(top ...ocispec.Descriptor) []byte {
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: top}
	members := []member{
		{name: l.prefix + "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: l.prefix + "index.json", body: mustJSON(l.t, index)},
	}
	for _, m := range l.members {
		if d := digest.NewDigestFromEncoded(digest.SHA256, m.name[len(l.prefix+"blobs/sha256/"):]); l.skip[d] {
			continue
		}
		members = append(members, m)
	}
	return tarOf(l.t, members...)
}

// named is desc annotated with annotations.
func named(desc ocispec.Descriptor, annotations map[string]string) ocispec.Descriptor {
	desc.Annotations = annotations
	return desc
}

// testDockerSave builds a docker save tarball.
type testDockerSave struct {
	t       testing.TB
	members []member
	has     map[string]bool
}

// image adds an image whose layers are the given files (plain or
// compressed tars of the uncompressed layers); each layer is stored at
// ID/layer.tar. The config's diff_ids are the digests of uncompressed.
func (s *testDockerSave) image(repoTags []string, uncompressed [][]byte, files [][]byte) tarball.Descriptor {
	var diffIDs []string
	for _, u := range uncompressed {
		diffIDs = append(diffIDs, digest.FromBytes(u).String())
	}
	cfg := mustJSON(s.t, map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	s.add(cfgName, cfg)
	e := tarball.Descriptor{Config: cfgName, RepoTags: repoTags}
	for _, f := range files {
		name := digest.FromBytes(f).Encoded() + "/layer.tar"
		s.add(name, f)
		e.Layers = append(e.Layers, name)
	}
	return e
}

func (s *testDockerSave) add(name string, b []byte) {
	if s.has == nil {
		s.has = map[string]bool{}
	}
	if !s.has[name] {
		s.has[name] = true
		s.members = append(s.members, member{name: name, body: b})
	}
}

func (s *testDockerSave) tar(entries ...tarball.Descriptor) []byte {
	return tarOf(s.t, append(s.members, member{name: "manifest.json", body: mustJSON(s.t, tarball.Manifest(entries))})...)
}
