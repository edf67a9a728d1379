package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// dockerSaveManifest is the file that makes a tar a docker save tarball.
const dockerSaveManifest = "manifest.json"

// Media types of manifests built for docker save images.
const (
	mediaTypeDockerConfig    = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
)

// readDockerSave reads a docker save tarball: manifest.json lists each
// image's config file and layer files. Layers are stored compressed: a
// plain tar layer is gzipped on the way in, a compressed one is kept; each
// is checked against its diff_id in the image config (Blob.VerifyLayer).
func readDockerSave(ix *tarIndex, lim limits) (*Contents, error) {
	body, err := ix.readFile(dockerSaveManifest, lim.jsonBytes)
	if err != nil {
		return nil, invalid("manifest.json: %v", err)
	}
	var entries tarball.Manifest
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, invalid("manifest.json is not a docker save manifest: %v", err)
	}
	if len(entries) == 0 {
		return nil, invalid("manifest.json lists no images")
	}
	r := &dockerSaveReader{
		ix: ix, lim: lim,
		contents: &Contents{Format: DockerSave},
		layers:   map[string]*Blob{},
		configs:  map[string]*dockerConfig{},
	}
	for i, e := range entries {
		label := fmt.Sprintf("manifest.json entry %d (%s)", i, e.Config)
		img, err := r.image(e)
		if err != nil {
			return nil, inContext(label, err)
		}
		img.Label = label
		r.contents.Images = append(r.contents.Images, img)
	}
	return r.contents, nil
}

// dockerSaveReader reads the images of a docker save tarball, sharing the
// configs and layers they have in common.
type dockerSaveReader struct {
	ix       *tarIndex
	lim      limits
	contents *Contents
	// layers and configs are by their path in the archive.
	layers  map[string]*Blob
	configs map[string]*dockerConfig
}

// dockerConfig is an image config file of a docker save tarball.
type dockerConfig struct {
	digest digest.Digest
	size   int64
	file   *v1.ConfigFile
}

// layerRef is one layer of a docker save image: a blob of the archive, or
// a foreign (non-distributable) layer that is referenced, not stored.
type layerRef struct {
	blob    *Blob
	foreign *v1.Descriptor
}

// image plans one entry of manifest.json: its config and layers, and how
// to build its manifest once the layers are verified.
func (r *dockerSaveReader) image(e tarball.Descriptor) (*Image, error) {
	cfgPath := cleanTarPath(e.Config)
	dc, ok := r.configs[cfgPath]
	if !ok {
		body, err := r.ix.readFile(cfgPath, r.lim.configBytes)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		file, err := v1.ParseConfigFile(bytes.NewReader(body))
		if err != nil {
			return nil, invalid("config %s is not an image config: %v", cfgPath, err)
		}
		dc = &dockerConfig{digest: digest.FromBytes(body), size: int64(len(body)), file: file}
		r.configs[cfgPath] = dc
		blob := r.ix.blob(r.ix.entries[cfgPath], dc.digest.String())
		blob.Digest = dc.digest
		r.contents.Blobs = append(r.contents.Blobs, blob)
	}
	cfg := dc.file
	if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return nil, invalid("config %s lists %d layers (diff_ids), manifest.json %d", cfgPath, len(cfg.RootFS.DiffIDs), len(e.Layers))
	}

	refs := make([]layerRef, len(e.Layers))
	anyZstd := false
	for i, lp := range e.Layers {
		diffID := digest.Digest(cfg.RootFS.DiffIDs[i].String())
		if src, ok := e.LayerSources[cfg.RootFS.DiffIDs[i]]; ok {
			refs[i].foreign = &src
			continue
		}
		lp = cleanTarPath(lp)
		if b, ok := r.layers[lp]; ok {
			if b.DiffID != diffID {
				return nil, invalid("layer %s is given two diff_ids (%s and %s)", lp, b.DiffID, diffID)
			}
			refs[i].blob = b
			anyZstd = anyZstd || b.Compression == Zstd
			continue
		}
		le, ok := r.ix.entries[lp]
		if !ok {
			return nil, &problem{kind: ErrMissing, msg: fmt.Sprintf("layer %s is not in the archive", lp)}
		}
		b := r.ix.blob(le, diffID.String())
		b.DiffID = diffID
		compression, err := sniffCompression(b)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", lp, err)
		}
		b.Compression = compression
		r.layers[lp] = b
		r.contents.Blobs = append(r.contents.Blobs, b)
		refs[i].blob = b
		anyZstd = anyZstd || compression == Zstd
	}
	build := func() (*Manifest, error) {
		return buildDockerManifest(dc, refs, anyZstd)
	}
	return &Image{Refs: e.RepoTags, build: build}, nil
}

// buildDockerManifest writes the manifest of a docker save image whose
// layers have been verified: Docker's own manifest format, as docker push
// writes, unless a zstd layer needs OCI's.
func buildDockerManifest(cfg *dockerConfig, refs []layerRef, anyZstd bool) (*Manifest, error) {
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: oci.MediaTypeDockerManifest,
		Config:    ocispec.Descriptor{MediaType: mediaTypeDockerConfig, Digest: cfg.digest, Size: cfg.size},
	}
	layerType := map[Compression]string{Uncompressed: mediaTypeDockerLayerGzip, Gzip: mediaTypeDockerLayerGzip}
	if anyZstd {
		m.MediaType = oci.MediaTypeOCIManifest
		m.Config.MediaType = ocispec.MediaTypeImageConfig
		layerType = map[Compression]string{Uncompressed: ocispec.MediaTypeImageLayerGzip, Gzip: ocispec.MediaTypeImageLayerGzip, Zstd: ocispec.MediaTypeImageLayerZstd}
	}
	for _, r := range refs {
		if r.foreign != nil {
			m.Layers = append(m.Layers, ocispec.Descriptor{
				MediaType: string(r.foreign.MediaType),
				Digest:    digest.Digest(r.foreign.Digest.String()),
				Size:      r.foreign.Size,
				URLs:      r.foreign.URLs,
			})
			continue
		}
		if !r.blob.verified {
			return nil, fmt.Errorf("layer %s has not been verified", r.blob.Label)
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: layerType[r.blob.Compression], Digest: r.blob.Digest, Size: r.blob.storedSize})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	info, err := oci.ParseManifest(m.MediaType, body)
	if err != nil {
		return nil, err
	}
	return &Manifest{Digest: digest.FromBytes(body), Body: body, Info: info}, nil
}

// sniffCompression tells a gzip or zstd layer from a plain tar by its
// first bytes.
func sniffCompression(b *Blob) (Compression, error) {
	var magic [4]byte
	n, err := b.file.ReadAt(magic[:min(int64(len(magic)), b.Size)], b.off)
	if err != nil && err != io.EOF {
		return "", err
	}
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return Gzip, nil
	case n >= 4 && bytes.Equal(magic[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd, nil
	}
	return Uncompressed, nil
}
