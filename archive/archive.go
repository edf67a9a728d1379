// Package archive reads and writes image archives: tars of an OCI image
// layout (as skopeo's oci-archive, "docker save" since Docker 25 and
// "shoal export" write them) and "docker save" tarballs.
//
// What an archive holds is described by Contents, Image, Manifest and
// Blob. Read reads an archive into them; Writer writes an OCI image
// layout tar. The package knows nothing of registries or stores: a caller
// reads Contents and stores what it lists its own way.
package archive

import (
	"errors"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
)

// Format is the kind of an image archive.
type Format string

// The formats Read recognises.
const (
	// OCILayout is a tar of an OCI image layout: oci-layout, index.json and
	// blobs/ALG/HEX, at the root or under one top-level directory.
	OCILayout Format = "oci-layout"
	// DockerSave is a docker save tarball: manifest.json names each
	// image's config file and layer files (plain or compressed tars).
	DockerSave Format = "docker-save"
)

// Contents is what an archive holds: its images, and the blobs to store
// before their manifests.
type Contents struct {
	Format Format
	Images []*Image
	// Blobs are the configs and layers of every image, each once.
	Blobs []*Blob
	// Warnings are what Read skipped: children of an index the archive
	// lacks (docker save and partial copies keep the whole index but only
	// some platforms).
	Warnings []string
}

// Image is one image (or index) the archive names.
type Image struct {
	// Label identifies it in messages: "index.json entry 0 (sha256:…)" or
	// "manifest.json entry 0 (CONFIG.json)".
	Label string
	// Refs are the full references the archive names it by (RepoTags, an
	// io.containerd.image.name or a full org.opencontainers.image.ref.name),
	// as written there. Tags are bare tags given as a ref.name ("3.20").
	Refs []string
	Tags []string
	// Manifest is its manifest or index. It is nil for a docker save image
	// until Build has made it.
	Manifest *Manifest
	build    func() (*Manifest, error)
}

// Build makes a docker save image's manifest and sets Manifest. The
// manifest names the layers as they are stored (compressed), so every
// layer of the image must have been through Blob.VerifyLayer first. For
// an image whose manifest the archive holds, Build does nothing.
func (img *Image) Build() error {
	if img.Manifest != nil || img.build == nil {
		return nil
	}
	m, err := img.build()
	if err != nil {
		return err
	}
	img.Manifest = m
	return nil
}

// Manifest is a manifest read from the archive (or built for a docker save
// image) and its children that the archive holds.
type Manifest struct {
	Digest digest.Digest
	Body   []byte
	Info   *oci.ManifestInfo
	// Children are the manifests of an index present in the archive,
	// each already checked against its digest like this one.
	Children []*Manifest
}

// Blob is a file of the archive to store as a blob: an image's config or
// one of its layers.
type Blob struct {
	// Digest is the blob's digest. For a docker save layer it is the
	// digest of the layer as it is stored, compressed, which is known only
	// once VerifyLayer has read it.
	Digest digest.Digest
	// Size is the size of the file in the archive.
	Size int64
	// Label names the blob in messages and progress: its digest, or a
	// docker save layer's diff_id.
	Label string
	// DiffID is set for a docker save layer only: the digest of its
	// uncompressed content, from the image config. Such a layer is read
	// through VerifyLayer, which checks it against DiffID.
	DiffID digest.Digest
	// Compression is what a docker save layer's file holds.
	Compression Compression

	file io.ReaderAt
	off  int64
	// storedSize and verified are set by VerifyLayer.
	storedSize int64
	verified   bool
}

// Open returns the file's content. It reads the io.ReaderAt given to
// Read, which must stay open while the blob is used.
func (b *Blob) Open() *io.SectionReader {
	return io.NewSectionReader(b.file, b.off, b.Size)
}

// Compression is how a docker save layer file is compressed.
type Compression string

// The compressions a docker save layer is found in.
const (
	Uncompressed Compression = ""
	Gzip         Compression = "gzip"
	Zstd         Compression = "zstd"
)

// Errors about an archive's content match one of these with errors.Is;
// their text says what is wrong and where.
var (
	// ErrUnknownFormat: the data is not a tar that can be read, or holds
	// neither an OCI image layout nor a docker save tarball.
	ErrUnknownFormat = errors.New("not an OCI image layout or docker save tarball")
	// ErrUnsupportedVersion: an OCI image layout of a version other than
	// 1.x.
	ErrUnsupportedVersion = errors.New("unsupported OCI image layout version")
	// ErrInvalid: metadata (oci-layout, index.json, manifest.json, a
	// manifest or image config) is malformed or inconsistent.
	ErrInvalid = errors.New("invalid image archive")
	// ErrMissing: a manifest, config or layer the metadata needs is not in
	// the archive.
	ErrMissing = errors.New("content missing from the archive")
	// ErrSizeMismatch: a file's size differs from its descriptor's.
	ErrSizeMismatch = errors.New("size does not match the descriptor")
	// ErrDigestMismatch: content does not match its digest (or a layer its
	// diff_id).
	ErrDigestMismatch = errors.New("content does not match its digest")
	// ErrTooLarge: a manifest is larger than the limit given to Read.
	ErrTooLarge = errors.New("manifest too large")
)

// problem is an error about an archive's content: kind is one of the
// Err… values above, msg the whole message, cause what it came from (an
// *oci.Error from oci.ParseManifest, which may carry a detail).
type problem struct {
	kind  error
	msg   string
	cause error
}

func (p *problem) Error() string { return p.msg }

func (p *problem) Unwrap() []error {
	if p.cause == nil {
		return []error{p.kind}
	}
	return []error{p.kind, p.cause}
}
