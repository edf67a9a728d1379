package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// layoutRoot finds the directory of an OCI image layout in the archive:
// the root, or a single top-level directory (a layout tarred by its own
// name).
func layoutRoot(ix *tarIndex) (string, bool) {
	if ix.has(ocispec.ImageLayoutFile) {
		return "", true
	}
	root, found := "", 0
	for name := range ix.entries {
		dir, file := path.Split(name)
		if file == ocispec.ImageLayoutFile && strings.Count(dir, "/") == 1 {
			root, found = dir, found+1
		}
	}
	return root, found == 1
}

// ociLayoutReader reads an OCI image layout out of an archive.
type ociLayoutReader struct {
	ix        *tarIndex
	root      string
	lim       limits
	contents  *Contents
	manifests map[digest.Digest]*Manifest
	blobs     map[digest.Digest]bool
}

func readOCILayout(ix *tarIndex, root string, lim limits) (*Contents, error) {
	layoutBody, err := ix.readFile(root+ocispec.ImageLayoutFile, lim.jsonBytes)
	if err != nil {
		return nil, invalid("oci-layout: %v", err)
	}
	var layout ocispec.ImageLayout
	if err := json.Unmarshal(layoutBody, &layout); err != nil {
		return nil, invalid("oci-layout is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(layout.Version, "1.") {
		return nil, &problem{kind: ErrUnsupportedVersion, msg: fmt.Sprintf("OCI image layout version %q is not supported (want 1.x)", layout.Version)}
	}
	indexBody, err := ix.readFile(root+ocispec.ImageIndexFile, lim.jsonBytes)
	if err != nil {
		return nil, invalid("index.json: %v", err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(indexBody, &index); err != nil {
		return nil, invalid("index.json is not valid JSON: %v", err)
	}
	if len(index.Manifests) == 0 {
		return nil, invalid("index.json lists no images")
	}
	r := &ociLayoutReader{
		ix: ix, root: root, lim: lim,
		contents:  &Contents{Format: OCILayout},
		manifests: map[digest.Digest]*Manifest{},
		blobs:     map[digest.Digest]bool{},
	}
	for i, desc := range index.Manifests {
		label := fmt.Sprintf("index.json entry %d (%s)", i, desc.Digest)
		m, err := r.manifest(desc, 0)
		if err != nil {
			return nil, inContext(label, err)
		}
		refs, tags := imageNames(desc.Annotations)
		r.contents.Images = append(r.contents.Images, &Image{Label: label, Refs: refs, Tags: tags, Manifest: m})
	}
	return r.contents, nil
}

func (r *ociLayoutReader) blobPath(d digest.Digest) string {
	return r.root + ocispec.ImageBlobsDir + "/" + d.Algorithm().String() + "/" + d.Encoded()
}

// entry finds the blob desc names and checks its size.
func (r *ociLayoutReader) entry(desc ocispec.Descriptor) (tarEntry, error) {
	if _, err := oci.ParseDigest(desc.Digest.String()); err != nil {
		return tarEntry{}, invalid("invalid digest %q", desc.Digest)
	}
	e, ok := r.ix.entries[r.blobPath(desc.Digest)]
	if !ok {
		return e, fmt.Errorf("%s: %w", desc.Digest, errAbsent)
	}
	if e.size != desc.Size {
		return e, &problem{kind: ErrSizeMismatch, msg: fmt.Sprintf("blob %s is %d bytes in the archive, but its descriptor says %d", desc.Digest, e.size, desc.Size)}
	}
	return e, nil
}

// manifest reads the manifest desc names, verifies it, and plans the
// children and blobs it needs. The children of an index that the archive
// lacks are skipped with a warning (docker save and partial copies keep
// the whole index but only some platforms); a missing config or layer is
// an error.
func (r *ociLayoutReader) manifest(desc ocispec.Descriptor, depth int) (*Manifest, error) {
	if depth > r.lim.indexDepth {
		return nil, invalid("indexes nested more than %d deep", r.lim.indexDepth)
	}
	if m, ok := r.manifests[desc.Digest]; ok {
		return m, nil
	}
	e, err := r.entry(desc)
	if err != nil {
		return nil, err
	}
	if e.size > r.lim.manifestBytes {
		return nil, &problem{kind: ErrTooLarge, msg: fmt.Sprintf("manifest %s is %d bytes, more than the %d allowed", desc.Digest, e.size, r.lim.manifestBytes)}
	}
	body, err := r.ix.readFile(r.blobPath(desc.Digest), r.lim.manifestBytes)
	if err != nil {
		return nil, err
	}
	if got := desc.Digest.Algorithm().FromBytes(body); got != desc.Digest {
		return nil, &problem{kind: ErrDigestMismatch, msg: fmt.Sprintf("manifest %s in the archive does not match its digest (it is %s)", desc.Digest, got)}
	}
	info, err := oci.ParseManifest(desc.MediaType, body)
	if err != nil {
		// The message is ParseManifest's own ("manifest invalid: …"); the
		// *oci.Error stays the cause, for the detail it may carry.
		var oe *oci.Error
		if errors.As(err, &oe) {
			return nil, &problem{kind: ErrInvalid, msg: oe.Message, cause: err}
		}
		return nil, invalid("manifest %s: %v", desc.Digest, err)
	}
	m := &Manifest{Digest: desc.Digest, Body: body, Info: info}
	r.manifests[desc.Digest] = m
	for _, c := range info.Manifests {
		cm, err := r.manifest(c, depth+1)
		if errors.Is(err, errAbsent) {
			r.contents.Warnings = append(r.contents.Warnings, fmt.Sprintf("index %s: manifest %s%s is not in the archive and is skipped", desc.Digest, c.Digest, PlatformSuffix(c.Platform)))
			continue
		}
		if err != nil {
			return nil, err
		}
		m.Children = append(m.Children, cm)
	}
	for _, b := range info.Blobs {
		e, err := r.entry(b)
		if errors.Is(err, errAbsent) {
			if oci.IsNonDistributable(b.MediaType) {
				continue
			}
			return nil, &problem{kind: ErrMissing, msg: fmt.Sprintf("manifest %s needs blob %s, which is not in the archive", desc.Digest, b.Digest)}
		}
		if err != nil {
			return nil, err
		}
		if r.blobs[b.Digest] {
			continue
		}
		r.blobs[b.Digest] = true
		blob := r.ix.blob(e, b.Digest.String())
		blob.Digest = b.Digest
		r.contents.Blobs = append(r.contents.Blobs, blob)
	}
	return m, nil
}

// PlatformSuffix names a platform in messages: " (linux/arm64/v8)", or
// "" for none.
func PlatformSuffix(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	s := " (" + p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s + ")"
}
