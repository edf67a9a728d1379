package node

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// Limits on what an archive may hold, so that a hostile one cannot make
// the node allocate without bound.
const (
	maxArchiveEntries   = 1 << 20
	maxArchiveJSONBytes = 16 << 20 // index.json, manifest.json, oci-layout
	maxImageConfigBytes = 32 << 20
	maxIndexDepth       = 8
	// containerdNameAnnotation is where containerd and Docker ≥ 25 put an
	// image's full name in an OCI layout's index.json.
	containerdNameAnnotation = "io.containerd.image.name"
)

// Media types of manifests built for docker save images.
const (
	mediaTypeDockerConfig    = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mediaTypeOCILayerGzip    = ocispec.MediaTypeImageLayerGzip
	mediaTypeOCILayerZstd    = ocispec.MediaTypeImageLayerZstd
)

var errNotInArchive = errors.New("not in the archive")

// archiveEntry locates a regular file's bytes inside the spooled archive.
type archiveEntry struct {
	off, size int64
}

// archiveIndex is the table of contents of a spooled tar archive, so that
// its files can be read in any order without extracting them.
type archiveIndex struct {
	f       *os.File
	entries map[string]archiveEntry
}

// cleanArchivePath turns a tar member name into a relative slash path, or
// "" for names that would leave the archive's root.
func cleanArchivePath(name string) string {
	p := path.Clean("/" + strings.TrimPrefix(name, "./"))
	p = strings.TrimPrefix(p, "/")
	if p == "." {
		return ""
	}
	return p
}

// indexArchive reads the headers of the tar archive in f. Regular files
// are located by offset; hard and symbolic links to them (docker save
// links identical layers) resolve to their target.
func indexArchive(f *os.File) (*archiveIndex, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ix := &archiveIndex{f: f, entries: map[string]archiveEntry{}}
	links := map[string]string{}
	tr := tar.NewReader(f)
	for count := 0; ; count++ {
		if count > maxArchiveEntries {
			return nil, fmt.Errorf("more than %d entries", maxArchiveEntries)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a readable tar archive: %w", err)
		}
		name := cleanArchivePath(hdr.Name)
		if name == "" {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			if _, sparse := hdr.PAXRecords["GNU.sparse.major"]; sparse {
				return nil, fmt.Errorf("%s is a sparse file, which image archives never hold", name)
			}
			// tar.Reader reads the file itself, without buffering, so the
			// file's offset is where this member's data starts.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			if hdr.Size > fi.Size()-off {
				return nil, fmt.Errorf("the archive is truncated: %s is cut short", name)
			}
			ix.entries[name] = archiveEntry{off: off, size: hdr.Size}
			delete(links, name)
		case tar.TypeLink:
			links[name] = cleanArchivePath(hdr.Linkname)
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			links[name] = cleanArchivePath(target)
		}
	}
	for name, target := range links {
		for hops := 0; hops < 8 && target != ""; hops++ {
			if e, ok := ix.entries[target]; ok {
				ix.entries[name] = e
				break
			}
			target = links[target]
		}
	}
	return ix, nil
}

func (ix *archiveIndex) has(name string) bool {
	_, ok := ix.entries[name]
	return ok
}

// section reads the file name of the archive.
func (ix *archiveIndex) section(e archiveEntry) *io.SectionReader {
	return io.NewSectionReader(ix.f, e.off, e.size)
}

// readFile returns the content of name, refusing files larger than max.
func (ix *archiveIndex) readFile(name string, max int64) ([]byte, error) {
	e, ok := ix.entries[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, errNotInArchive)
	}
	if e.size > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", name, e.size, max)
	}
	b := make([]byte, e.size)
	if _, err := ix.f.ReadAt(b, e.off); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// layoutRoot finds the directory of an OCI image layout in the archive:
// the root, or a single top-level directory (a layout tarred by its own
// name).
func (ix *archiveIndex) layoutRoot() (string, bool) {
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

// importPlan is what an archive holds, ready to be written to the store.
type importPlan struct {
	format   string
	images   []*importImage
	blobs    []*importBlob
	warnings []string
}

// importImage is one image (or index) the archive names.
type importImage struct {
	// what identifies it in messages
	label string
	// refs are the names the archive gives it: full references, or bare
	// tags (an OCI ref.name such as "3.20") in tags.
	refs []string
	tags []string
	// top is its manifest; for docker save images, built by build once the
	// layers are stored.
	top   *importManifest
	build func() (*importManifest, error)
}

// importManifest is a manifest read from the archive (or built for a
// docker save image) and its children present in the archive.
type importManifest struct {
	digest   digest.Digest
	body     []byte
	info     *oci.ManifestInfo
	children []*importManifest
}

// importBlob is one blob to store.
type importBlob struct {
	// digest is the blob's digest: known from the archive, or, for a docker
	// save layer that is compressed on the way in, once it is stored.
	digest digest.Digest
	entry  archiveEntry
	// label names it in progress lines.
	label string
	// dockerLayer marks a docker save layer: compression is what the file
	// holds ("" for a plain tar), diffID its uncompressed digest from the
	// image config.
	dockerLayer bool
	compression string
	diffID      digest.Digest
	// stored is set once the blob is in the store, size to its stored
	// size.
	stored bool
	size   int64
}

// readImageArchive recognises the archive's format and reads its
// metadata. Errors are *oci.Error values for a 400.
func readImageArchive(ix *archiveIndex, maxManifest int64) (*importPlan, error) {
	if root, ok := ix.layoutRoot(); ok {
		return readOCILayout(ix, root, maxManifest)
	}
	if ix.has("manifest.json") {
		return readDockerSave(ix)
	}
	return nil, errArchiveUnsupported.With("found neither oci-layout and index.json nor manifest.json")
}

var errArchiveUnsupported = &oci.Error{Status: 400, Code: "UNSUPPORTED", Message: "the body is not a tar of an OCI image layout or a docker save tarball"}

func archiveInvalid(format string, args ...any) *oci.Error {
	return oci.ErrManifestInvalid.WithMessage(format, args...)
}

// ociLayoutReader reads an OCI image layout out of an archive.
type ociLayoutReader struct {
	ix          *archiveIndex
	root        string
	maxManifest int64
	plan        *importPlan
	manifests   map[digest.Digest]*importManifest
	blobs       map[digest.Digest]bool
}

func readOCILayout(ix *archiveIndex, root string, maxManifest int64) (*importPlan, error) {
	layoutBody, err := ix.readFile(root+ocispec.ImageLayoutFile, maxArchiveJSONBytes)
	if err != nil {
		return nil, archiveInvalid("oci-layout: %v", err)
	}
	var layout ocispec.ImageLayout
	if err := json.Unmarshal(layoutBody, &layout); err != nil {
		return nil, archiveInvalid("oci-layout is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(layout.Version, "1.") {
		return nil, errArchiveUnsupported.WithMessage("OCI image layout version %q is not supported (want 1.x)", layout.Version)
	}
	indexBody, err := ix.readFile(root+ocispec.ImageIndexFile, maxArchiveJSONBytes)
	if err != nil {
		return nil, archiveInvalid("index.json: %v", err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(indexBody, &index); err != nil {
		return nil, archiveInvalid("index.json is not valid JSON: %v", err)
	}
	if len(index.Manifests) == 0 {
		return nil, archiveInvalid("index.json lists no images")
	}
	r := &ociLayoutReader{
		ix: ix, root: root, maxManifest: maxManifest,
		plan:      &importPlan{format: "oci-layout"},
		manifests: map[digest.Digest]*importManifest{},
		blobs:     map[digest.Digest]bool{},
	}
	for i, desc := range index.Manifests {
		label := fmt.Sprintf("index.json entry %d (%s)", i, desc.Digest)
		m, err := r.manifest(desc, 0)
		if err != nil {
			return nil, asArchiveError(label, err)
		}
		img := &importImage{label: label, top: m}
		if name := desc.Annotations[containerdNameAnnotation]; name != "" {
			img.refs = append(img.refs, name)
		}
		if name := desc.Annotations[ocispec.AnnotationRefName]; name != "" {
			if isTag(name) {
				img.tags = append(img.tags, name)
			} else if len(img.refs) == 0 || img.refs[0] != name {
				img.refs = append(img.refs, name)
			}
		}
		r.plan.images = append(r.plan.images, img)
	}
	return r.plan, nil
}

func (r *ociLayoutReader) blobPath(d digest.Digest) string {
	return r.root + "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// entry finds the blob desc names and checks its size.
func (r *ociLayoutReader) entry(desc ocispec.Descriptor) (archiveEntry, error) {
	if _, err := oci.ParseDigest(desc.Digest.String()); err != nil {
		return archiveEntry{}, archiveInvalid("invalid digest %q", desc.Digest)
	}
	e, ok := r.ix.entries[r.blobPath(desc.Digest)]
	if !ok {
		return e, fmt.Errorf("%s: %w", desc.Digest, errNotInArchive)
	}
	if e.size != desc.Size {
		return e, oci.ErrSizeInvalid.WithMessage("blob %s is %d bytes in the archive, but its descriptor says %d", desc.Digest, e.size, desc.Size)
	}
	return e, nil
}

// manifest reads the manifest desc names, verifies it, and plans the
// children and blobs it needs. The children of an index that the archive
// lacks are skipped with a warning (docker save and partial copies keep
// the whole index but only some platforms); a missing config or layer is
// an error.
func (r *ociLayoutReader) manifest(desc ocispec.Descriptor, depth int) (*importManifest, error) {
	if depth > maxIndexDepth {
		return nil, archiveInvalid("indexes nested more than %d deep", maxIndexDepth)
	}
	if m, ok := r.manifests[desc.Digest]; ok {
		return m, nil
	}
	e, err := r.entry(desc)
	if err != nil {
		return nil, err
	}
	if e.size > r.maxManifest {
		return nil, oci.ErrTooLarge.WithMessage("manifest %s is %d bytes, more than the %d allowed", desc.Digest, e.size, r.maxManifest)
	}
	body, err := r.ix.readFile(r.blobPath(desc.Digest), r.maxManifest)
	if err != nil {
		return nil, err
	}
	if got := desc.Digest.Algorithm().FromBytes(body); got != desc.Digest {
		return nil, oci.ErrDigestInvalid.WithMessage("manifest %s in the archive does not match its digest (it is %s)", desc.Digest, got)
	}
	info, err := oci.ParseManifest(desc.MediaType, body)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	m := &importManifest{digest: desc.Digest, body: body, info: info}
	r.manifests[desc.Digest] = m
	for _, c := range info.Manifests {
		cm, err := r.manifest(c, depth+1)
		if errors.Is(err, errNotInArchive) {
			r.plan.warnings = append(r.plan.warnings, fmt.Sprintf("index %s: manifest %s%s is not in the archive and is skipped", desc.Digest, c.Digest, platformSuffix(c.Platform)))
			continue
		}
		if err != nil {
			return nil, err
		}
		m.children = append(m.children, cm)
	}
	for _, b := range info.Blobs {
		e, err := r.entry(b)
		if errors.Is(err, errNotInArchive) {
			if oci.IsNonDistributable(b.MediaType) {
				continue
			}
			return nil, oci.ErrManifestBlobUnknown.WithMessage("manifest %s needs blob %s, which is not in the archive", desc.Digest, b.Digest)
		}
		if err != nil {
			return nil, err
		}
		if r.blobs[b.Digest] {
			continue
		}
		r.blobs[b.Digest] = true
		r.plan.blobs = append(r.plan.blobs, &importBlob{digest: b.Digest, entry: e, label: b.Digest.String()})
	}
	return m, nil
}

func platformSuffix(p *ocispec.Platform) string {
	if p == nil {
		return ""
	}
	s := " (" + p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s + ")"
}

// asArchiveError gives an archive problem the form of a 400.
func asArchiveError(where string, err error) error {
	var oe *oci.Error
	if errors.As(err, &oe) {
		e := *oe
		e.Message = where + ": " + e.Message
		return &e
	}
	if errors.Is(err, errNotInArchive) {
		return oci.ErrManifestBlobUnknown.WithMessage("%s: manifest %v", where, err)
	}
	return archiveInvalid("%s: %v", where, err)
}

// readDockerSave reads a docker save tarball: manifest.json lists each
// image's config file and layer files. Layers are stored compressed: a
// plain tar layer is gzipped on the way in, a compressed one is kept; each
// is checked against its diff_id in the image config.
func readDockerSave(ix *archiveIndex) (*importPlan, error) {
	body, err := ix.readFile("manifest.json", maxArchiveJSONBytes)
	if err != nil {
		return nil, archiveInvalid("manifest.json: %v", err)
	}
	var entries tarball.Manifest
	if err := json.Unmarshal(body, &entries); err != nil {
		return nil, archiveInvalid("manifest.json is not a docker save manifest: %v", err)
	}
	if len(entries) == 0 {
		return nil, archiveInvalid("manifest.json lists no images")
	}
	plan := &importPlan{format: "docker-save"}
	layers := map[string]*importBlob{}
	configs := map[string]*dockerConfig{}
	for i, e := range entries {
		label := fmt.Sprintf("manifest.json entry %d (%s)", i, e.Config)
		img, err := planDockerImage(ix, plan, e, layers, configs)
		if err != nil {
			return nil, asArchiveError(label, err)
		}
		img.label = label
		plan.images = append(plan.images, img)
	}
	return plan, nil
}

// dockerConfig is an image config file of a docker save tarball.
type dockerConfig struct {
	digest digest.Digest
	size   int64
	file   *v1.ConfigFile
}

func planDockerImage(ix *archiveIndex, plan *importPlan, e tarball.Descriptor, layers map[string]*importBlob, configs map[string]*dockerConfig) (*importImage, error) {
	cfgPath := cleanArchivePath(e.Config)
	dc, ok := configs[cfgPath]
	if !ok {
		body, err := ix.readFile(cfgPath, maxImageConfigBytes)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		file, err := v1.ParseConfigFile(bytes.NewReader(body))
		if err != nil {
			return nil, archiveInvalid("config %s is not an image config: %v", cfgPath, err)
		}
		dc = &dockerConfig{digest: digest.FromBytes(body), size: int64(len(body)), file: file}
		configs[cfgPath] = dc
		plan.blobs = append(plan.blobs, &importBlob{digest: dc.digest, entry: ix.entries[cfgPath], label: dc.digest.String()})
	}
	cfg, cfgDigest, cfgSize := dc.file, dc.digest, dc.size
	if len(cfg.RootFS.DiffIDs) != len(e.Layers) {
		return nil, archiveInvalid("config %s lists %d layers (diff_ids), manifest.json %d", cfgPath, len(cfg.RootFS.DiffIDs), len(e.Layers))
	}

	type layerRef struct {
		blob    *importBlob
		foreign *v1.Descriptor
	}
	refs := make([]layerRef, len(e.Layers))
	anyZstd := false
	for i, lp := range e.Layers {
		diffID := digest.Digest(cfg.RootFS.DiffIDs[i].String())
		if src, ok := e.LayerSources[cfg.RootFS.DiffIDs[i]]; ok {
			// A foreign (non-distributable) layer is referenced, not stored.
			refs[i].foreign = &src
			continue
		}
		lp = cleanArchivePath(lp)
		if b, ok := layers[lp]; ok {
			if b.diffID != diffID {
				return nil, archiveInvalid("layer %s is given two diff_ids (%s and %s)", lp, b.diffID, diffID)
			}
			refs[i].blob = b
			anyZstd = anyZstd || b.compression == "zstd"
			continue
		}
		le, ok := ix.entries[lp]
		if !ok {
			return nil, oci.ErrManifestBlobUnknown.WithMessage("layer %s is not in the archive", lp)
		}
		compression, err := sniffCompression(ix, le)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", lp, err)
		}
		b := &importBlob{entry: le, label: diffID.String(), dockerLayer: true, compression: compression, diffID: diffID}
		layers[lp] = b
		plan.blobs = append(plan.blobs, b)
		refs[i].blob = b
		anyZstd = anyZstd || compression == "zstd"
	}

	build := func() (*importManifest, error) {
		// Docker's own manifest format, as docker push writes, unless a
		// zstd layer needs OCI's.
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: oci.MediaTypeDockerManifest,
			Config:    ocispec.Descriptor{MediaType: mediaTypeDockerConfig, Digest: cfgDigest, Size: cfgSize},
		}
		layerType := map[string]string{"": mediaTypeDockerLayerGzip, "gzip": mediaTypeDockerLayerGzip}
		if anyZstd {
			m.MediaType = oci.MediaTypeOCIManifest
			m.Config.MediaType = ocispec.MediaTypeImageConfig
			layerType = map[string]string{"": mediaTypeOCILayerGzip, "gzip": mediaTypeOCILayerGzip, "zstd": mediaTypeOCILayerZstd}
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
			if !r.blob.stored {
				return nil, fmt.Errorf("layer %s was not stored", r.blob.label)
			}
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: layerType[r.blob.compression], Digest: r.blob.digest, Size: r.blob.size})
		}
		body, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		info, err := oci.ParseManifest(m.MediaType, body)
		if err != nil {
			return nil, err
		}
		return &importManifest{digest: digest.FromBytes(body), body: body, info: info}, nil
	}
	return &importImage{refs: e.RepoTags, build: build}, nil
}

// sniffCompression tells a gzip or zstd layer from a plain tar by its
// first bytes.
func sniffCompression(ix *archiveIndex, e archiveEntry) (string, error) {
	var magic [4]byte
	n, err := ix.f.ReadAt(magic[:min(int64(len(magic)), e.size)], e.off)
	if err != nil && err != io.EOF {
		return "", err
	}
	switch {
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return "gzip", nil
	case n >= 4 && bytes.Equal(magic[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd", nil
	}
	return "", nil
}
