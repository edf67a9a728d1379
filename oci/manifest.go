package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

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

// Media types ParseManifest knows by name.
const (
	MediaTypeOCIManifest         = ocispec.MediaTypeImageManifest
	MediaTypeOCIIndex            = ocispec.MediaTypeImageIndex
	MediaTypeDockerManifest      = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
	mediaTypeDockerForeignLayer  = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	maxManifestDescriptors       = 100000
)

// manifestJSON is the union of the fields of the manifest formats we read.
type manifestJSON struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// IsNonDistributable reports whether a layer of this media type may be
// absent from a registry (non-distributable or Docker foreign layers).
func IsNonDistributable(mediaType string) bool {
	return strings.Contains(mediaType, "nondistributable") || mediaType == mediaTypeDockerForeignLayer
}

// ParseManifest reads what a registry needs from a manifest's bytes.
// mediaType is the Content-Type it came with, without parameters, or "".
// When both it and the manifest's own mediaType field are set they must
// agree; when neither is, the type is inferred from the fields present.
// OCI and Docker v2 image manifests need a config; unknown media types are
// taken as an image manifest when they have config or layers and as an index
// when they have manifests. Docker schema 1 is refused. Errors are
// MANIFEST_INVALID *Errors.
func ParseManifest(mediaType string, body []byte) (*ManifestInfo, error) {
	invalid := func(format string, args ...any) error {
		return ErrManifestInvalid.WithMessage("manifest invalid: "+format, args...)
	}
	if !json.Valid(body) {
		return nil, invalid("not valid JSON")
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, invalid("not a JSON object")
	}
	var m manifestJSON
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, invalid("%v", err)
	}
	switch {
	case mediaType != "" && m.MediaType != "" && mediaType != m.MediaType:
		return nil, invalid("Content-Type %q differs from mediaType %q", truncate(mediaType, 256), truncate(m.MediaType, 256))
	case mediaType == "" && m.MediaType != "":
		mediaType = m.MediaType
	case mediaType == "" && m.Manifests != nil:
		mediaType = MediaTypeOCIIndex
	case mediaType == "":
		mediaType = MediaTypeOCIManifest
	}
	if len(mediaType) > 255 {
		return nil, invalid("media type too long")
	}

	isImage, isIndex := false, false
	switch mediaType {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		isImage = true
	case MediaTypeOCIIndex, MediaTypeDockerManifestList:
		isIndex = true
	case mediaTypeDockerSchema1, mediaTypeDockerSchema1Signed:
		return nil, invalid("Docker schema 1 manifests are not supported")
	default:
		isImage = m.Config != nil || m.Layers != nil
		isIndex = !isImage && m.Manifests != nil
	}
	known := mediaType == MediaTypeOCIManifest || mediaType == MediaTypeDockerManifest ||
		mediaType == MediaTypeOCIIndex || mediaType == MediaTypeDockerManifestList
	if known && (m.SchemaVersion == nil || *m.SchemaVersion != 2) {
		return nil, invalid("schemaVersion must be 2")
	}
	if len(m.Layers)+len(m.Manifests) > maxManifestDescriptors {
		return nil, invalid("too many descriptors")
	}

	info := &ManifestInfo{
		MediaType:    mediaType,
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
	if m.Subject != nil {
		if err := checkDescriptor("subject", *m.Subject); err != nil {
			return nil, err
		}
		s := *m.Subject
		info.Subject = &s
	}
	switch {
	case isImage:
		if m.Config == nil {
			if known {
				return nil, invalid("image manifest has no config")
			}
		} else {
			if err := checkDescriptor("config", *m.Config); err != nil {
				return nil, err
			}
			info.Blobs = append(info.Blobs, *m.Config)
			if info.ArtifactType == "" {
				info.ArtifactType = m.Config.MediaType
			}
		}
		for i, l := range m.Layers {
			if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), l); err != nil {
				return nil, err
			}
			info.Blobs = append(info.Blobs, l)
		}
		if known && m.Manifests != nil {
			return nil, invalid("image manifest has manifests")
		}
	case isIndex:
		for i, c := range m.Manifests {
			if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), c); err != nil {
				return nil, err
			}
		}
		info.Manifests = m.Manifests
		if known && (m.Config != nil || m.Layers != nil) {
			return nil, invalid("index has config or layers")
		}
	}
	return info, nil
}

func checkDescriptor(field string, d ocispec.Descriptor) error {
	if _, err := ParseDigest(string(d.Digest)); err != nil {
		return ErrManifestInvalid.WithMessage("manifest invalid: %s has an invalid digest", field).With(map[string]any{"digest": truncate(string(d.Digest), 256)})
	}
	if d.Size < 0 {
		return ErrManifestInvalid.WithMessage("manifest invalid: %s has a negative size", field)
	}
	return nil
}
