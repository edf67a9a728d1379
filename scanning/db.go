package scanning

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/internal/tempfile"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

// The vulnerability database is kept as an OCI artifact in the local
// repository shoal/vulndb, tag latest: one layer, the encoded database,
// and annotations naming the node that took it in and its signature over
// the layer's digest. Peers fetch the layer by digest and check that
// signature against their policy before they load it.

// errNoScanEngine answers scanning requests in a build without scanning.
var errNoScanEngine = errors.New("this shoal build has no scanner")

// emptyJSON is the OCI empty descriptor's content, the config of the
// node's artifacts.
var emptyJSON = []byte("{}")

func emptyDescriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(emptyJSON), Size: int64(len(emptyJSON))}
}

// importDB takes an encoded database in (PUT /shoal/v1/scan/db): it must
// decode; the node stores it, signs its digest, loads it and announces it
// to the fleet.
func (s *Service) importDB(body io.Reader) (*heldDB, error) {
	if !s.engine.ready() {
		return nil, errNoScanEngine
	}
	f, err := tempfile.Unlinked(s.cfg.TempDir, "vulndb-*.gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := digest.SHA256.Digester()
	size, err := io.Copy(io.MultiWriter(f, h.Hash()), io.LimitReader(body, maxVulnDB+1))
	if err != nil {
		return nil, oci.ErrBlobUploadInvalid.WithMessage("reading the database: %v", err)
	}
	if size > maxVulnDB {
		return nil, oci.ErrTooLarge.WithMessage("an encoded database is at most %d bytes", maxVulnDB)
	}
	if size == 0 {
		return nil, oci.ErrBlobUploadInvalid.WithMessage("the body is empty: send an encoded database (shoal scan db import builds one)")
	}
	layer := h.Digest()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	db, err := s.engine.decode(f)
	if err != nil {
		return nil, oci.ErrBlobUploadInvalid.WithMessage("the body is not an encoded vulnerability database: %v", err)
	}
	sig, err := s.key.Sign(vulnDBSigningInput(layer))
	if err != nil {
		return nil, err
	}
	held := &heldDB{db: db, layer: layer, size: size, signer: s.id.String(), signature: base64.StdEncoding.EncodeToString(sig)}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := s.storeDB(held, f); err != nil {
		return nil, err
	}
	s.setDB(held)
	s.announceDB()
	return held, nil
}

// storeDB stores the encoded database from content as the artifact
// shoal/vulndb:latest.
func (s *Service) storeDB(h *heldDB, content io.Reader) error {
	if content != nil {
		if _, err := s.store.PutBlob(h.layer, content); err != nil {
			return fmt.Errorf("storing the database: %w", err)
		}
	}
	if _, err := s.store.PutBlob(emptyDescriptor().Digest, bytes.NewReader(emptyJSON)); err != nil {
		return err
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: vulnDBArtifactType,
		Config:       emptyDescriptor(),
		Layers:       []ocispec.Descriptor{{MediaType: vulnDBLayerMediaType, Digest: h.layer, Size: h.size}},
		Annotations: map[string]string{
			annVulnDBSigner:           h.signer,
			annVulnDBSignature:        h.signature,
			annVulnDBRecords:          strconv.Itoa(h.db.Records()),
			annVulnDBUpdated:          h.db.Updated().UTC().Format(time.RFC3339),
			ocispec.AnnotationCreated: time.Now().UTC().Format(time.RFC3339),
		},
	}
	return s.putArtifact(repository.Local(vulnDBRepo), true, m, vulnDBTag)
}

// putArtifact stores manifest m (whose blobs are stored) in r.
func (s *Service) putArtifact(r repository.Name, local bool, m ocispec.Manifest, tags ...string) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	info, err := oci.ParseManifest(m.MediaType, body)
	if err != nil {
		return err
	}
	d := digest.FromBytes(body)
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if err := s.store.LinkBlob(r.Key(), local, b.Digest); err != nil {
			return fmt.Errorf("linking %s into %s: %w", b.Digest, r.Key(), err)
		}
	}
	return s.store.PutManifest(r.Key(), local, cache.RecordFor(d, int64(len(body)), info), body, tags...)
}

// loadStoredDB loads shoal/vulndb:latest, if the store holds one.
func (s *Service) loadStoredDB() error {
	if !s.engine.ready() {
		return nil
	}
	d, _, err := s.store.Tag(vulnDBRepo, vulnDBTag)
	if errors.Is(err, cache.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, body, err := s.store.GetManifest(vulnDBRepo, d)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != vulnDBLayerMediaType {
		return fmt.Errorf("%s:%s is not a vulnerability database artifact", vulnDBRepo, vulnDBTag)
	}
	layer := m.Layers[0]
	signer, sig := m.Annotations[annVulnDBSigner], m.Annotations[annVulnDBSignature]
	if _, err := verifyDBSignature(signer, sig, layer.Digest); err != nil {
		return err
	}
	db, err := s.decodeStoredDB(layer.Digest)
	if err != nil {
		return err
	}
	s.setDB(&heldDB{db: db, layer: layer.Digest, size: layer.Size, signer: signer, signature: sig})
	return nil
}

func (s *Service) decodeStoredDB(d digest.Digest) (vulnDatabase, error) {
	br, err := s.store.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	defer br.Close()
	return s.engine.decode(br.Content)
}
