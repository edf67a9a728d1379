package cache

import (
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
)

// RecordFor is what the store keeps about manifest d of size bytes, from
// what the oci package parsed out of it.
func RecordFor(d digest.Digest, size int64, info *oci.ManifestInfo) ManifestRecord {
	rec := ManifestRecord{
		Digest:       d,
		MediaType:    info.MediaType,
		Size:         size,
		ArtifactType: info.ArtifactType,
		Annotations:  info.Annotations,
		Subject:      info.Subject,
	}
	for _, b := range info.Blobs {
		rec.Blobs = append(rec.Blobs, b.Digest)
		if !oci.IsNonDistributable(b.MediaType) {
			rec.Held = append(rec.Held, b.Digest)
		}
	}
	for _, c := range info.Manifests {
		rec.Children = append(rec.Children, c.Digest)
	}
	return rec
}
