package archive

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// DockerImage is an image as "docker load" reads it from manifest.json:
// Docker's classic image store (the default of Docker Engine 28 and
// earlier) reads that file only, never index.json, so a layout without it
// is refused.
type DockerImage struct {
	// RepoTags are the NAME:TAG references docker load tags the image
	// with; an image without one is loaded untagged.
	RepoTags []string
	Config   digest.Digest
	Layers   []digest.Digest
}

// dockerManifestEntry is one entry of manifest.json, with paths into
// blobs/ as docker save (since Docker 25) writes them.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Media types docker load unpacks: it reads a layer file whatever its
// descriptor says, decompressing gzip and zstd (both checked on Docker
// 20.10 and later), so only what a type promises matters.
var (
	dockerConfigTypes = map[string]bool{
		ocispec.MediaTypeImageConfig: true,
		mediaTypeDockerConfig:        true,
	}
	dockerLayerTypes = map[string]bool{
		ocispec.MediaTypeImageLayer:     true,
		ocispec.MediaTypeImageLayerGzip: true,
		ocispec.MediaTypeImageLayerZstd: true,
		mediaTypeDockerLayerGzip:        true,
	}
)

// DockerImageOf is the docker load entry of an image manifest, or an
// error saying why docker load could not load the image: the manifest is
// an index or an artifact, or a layer is not a tar docker can unpack (a
// non-distributable layer, which an export does not carry, among them).
func DockerImageOf(manifest []byte, repoTags ...string) (DockerImage, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return DockerImage{}, fmt.Errorf("not an image manifest: %v", err)
	}
	if !dockerConfigTypes[m.Config.MediaType] {
		return DockerImage{}, fmt.Errorf("not a container image (its config is %q)", m.Config.MediaType)
	}
	img := DockerImage{RepoTags: repoTags, Config: m.Config.Digest}
	for _, l := range m.Layers {
		if !dockerLayerTypes[l.MediaType] {
			return DockerImage{}, fmt.Errorf("layer %s is %q, which docker load does not take", l.Digest, l.MediaType)
		}
		img.Layers = append(img.Layers, l.Digest)
	}
	return img, nil
}

// AddDockerImage lists img in the manifest.json that Close writes, so
// that docker load loads it from the same blobs. Its config and layers
// must be written with WriteBlob before Close.
func (w *Writer) AddDockerImage(img DockerImage) error {
	for _, d := range append([]digest.Digest{img.Config}, img.Layers...) {
		if _, err := oci.ParseDigest(d.String()); err != nil {
			return fmt.Errorf("docker image: invalid digest %q", d)
		}
	}
	w.docker = append(w.docker, img)
	return nil
}

// writeDockerManifest writes manifest.json when some image was added
// with AddDockerImage.
func (w *Writer) writeDockerManifest() error {
	if len(w.docker) == 0 {
		return nil
	}
	entries := make([]dockerManifestEntry, 0, len(w.docker))
	for _, img := range w.docker {
		e := dockerManifestEntry{Config: blobPath(img.Config), RepoTags: img.RepoTags, Layers: []string{}}
		if !w.written[img.Config] {
			return fmt.Errorf("manifest.json names config %s, which was not written", img.Config)
		}
		for _, l := range img.Layers {
			if !w.written[l] {
				return fmt.Errorf("manifest.json names layer %s, which was not written", l)
			}
			e.Layers = append(e.Layers, blobPath(l))
		}
		entries = append(entries, e)
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	return w.file(dockerSaveManifest, b)
}

// blobPath is where a blob lies in a layout.
func blobPath(d digest.Digest) string {
	return ocispec.ImageBlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}
