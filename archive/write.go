package archive

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// Writer writes an OCI image layout as a tar stream: oci-layout and
// index.json first, so that a reader of the stream knows what follows,
// then every blob (manifests, configs and layers alike), and last the
// manifest.json docker load reads, naming the same blobs (as docker save
// writes it since Docker 25). Members carry no owner or time, so the same
// images give the same bytes.
type Writer struct {
	tw      *tar.Writer
	images  []ocispec.Descriptor
	written map[digest.Digest]bool
	docker  []DockerImage
}

// NewWriter starts a layout in w whose index.json lists images: the
// descriptor of each image's manifest or index, annotated with its name
// (NameAnnotations). Every one of them must then be written with
// WriteBlob, along with all it references, before Close.
func NewWriter(w io.Writer, images []ocispec.Descriptor) (*Writer, error) {
	for i, d := range images {
		if _, err := oci.ParseDigest(d.Digest.String()); err != nil {
			return nil, fmt.Errorf("image %d: invalid digest %q", i, d.Digest)
		}
	}
	lw := &Writer{tw: tar.NewWriter(w), images: images, written: map[digest.Digest]bool{}}
	if err := lw.file(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return nil, err
	}
	index, err := json.Marshal(newIndexJSON(images))
	if err != nil {
		return nil, err
	}
	if err := lw.file(ocispec.ImageIndexFile, index); err != nil {
		return nil, err
	}
	return lw, nil
}

func (w *Writer) header(name string, size int64) error {
	return w.tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)})
}

func (w *Writer) file(name string, b []byte) error {
	if err := w.header(name, int64(len(b))); err != nil {
		return err
	}
	_, err := w.tw.Write(b)
	return err
}

// WriteBlob writes blob d, the size bytes that r holds, as
// blobs/ALG/HEX, checking them against d while they are written. A blob
// already written is not written again (and r is not read). After an
// error the tar is incomplete and the Writer must not be used.
func (w *Writer) WriteBlob(d digest.Digest, size int64, r io.Reader) error {
	if _, err := oci.ParseDigest(d.String()); err != nil {
		return fmt.Errorf("blob %q: invalid digest", d)
	}
	if w.written[d] {
		return nil
	}
	if err := w.header(blobPath(d), size); err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	h := d.Algorithm().Digester()
	n, err := io.Copy(w.tw, io.TeeReader(r, h.Hash()))
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	if n != size {
		return fmt.Errorf("blob %s: got %d bytes, want %d", d, n, size)
	}
	if got := h.Digest(); got != d {
		return &problem{kind: ErrDigestMismatch, msg: fmt.Sprintf("blob %s does not match its digest (its content is %s)", d, got)}
	}
	w.written[d] = true
	return nil
}

// Close writes manifest.json if AddDockerImage was called, and ends the
// tar, after checking that every image index.json or manifest.json lists
// was written. It does not close the io.Writer given to NewWriter.
func (w *Writer) Close() error {
	for _, d := range w.images {
		if !w.written[d.Digest] {
			return fmt.Errorf("index.json lists %s, which was not written", d.Digest)
		}
	}
	if err := w.writeDockerManifest(); err != nil {
		return err
	}
	return w.tw.Close()
}

// indexJSON is index.json with its fields, and its descriptors', in the
// order go-containerregistry writes them, which is what shoal export
// wrote before this package existed: the same images still export to the
// same bytes.
type indexJSON struct {
	SchemaVersion int              `json:"schemaVersion"`
	MediaType     string           `json:"mediaType"`
	Manifests     []descriptorJSON `json:"manifests"`
}

type descriptorJSON struct {
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	Digest       digest.Digest     `json:"digest"`
	Data         []byte            `json:"data,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *ocispec.Platform `json:"platform,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

func newIndexJSON(images []ocispec.Descriptor) indexJSON {
	index := indexJSON{SchemaVersion: 2, MediaType: ocispec.MediaTypeImageIndex}
	for _, d := range images {
		index.Manifests = append(index.Manifests, descriptorJSON{
			MediaType:    d.MediaType,
			Size:         d.Size,
			Digest:       d.Digest,
			Data:         d.Data,
			URLs:         d.URLs,
			Annotations:  d.Annotations,
			Platform:     d.Platform,
			ArtifactType: d.ArtifactType,
		})
	}
	return index
}
