package oci

import (
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ManifestInfo is what a registry needs to know about a manifest's content.
type ManifestInfo struct {
	// MediaType is the manifest's own media type.
	MediaType string
	// ArtifactType is the artifactType field, or for an image manifest
	// without one, its config's media type (as the referrers API reports).
	ArtifactType string
	Annotations  map[string]string
	// Subject is the manifest this one refers to, or nil.
	Subject *ocispec.Descriptor
	// Blobs are the config and layers of an image manifest.
	Blobs []ocispec.Descriptor
	// Manifests are the children of an index.
	Manifests []ocispec.Descriptor
}

// Referrer is the descriptor of manifest m as the referrers API lists it.
func (i *ManifestInfo) Referrer(d digest.Digest, size int64) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    i.MediaType,
		Digest:       d,
		Size:         size,
		ArtifactType: i.ArtifactType,
		Annotations:  i.Annotations,
	}
}
