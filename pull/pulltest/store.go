// Package pulltest has in-memory fakes of the pull path's seams — Store,
// Peers and Upstream — so the pull rules and the gates built on them are
// tested without badger, libp2p or an HTTP registry.
package pulltest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
)

// Store is an in-memory pull.Store. Its zero value is not ready: use
// NewStore.
type Store struct {
	mu        sync.Mutex
	blobs     map[digest.Digest][]byte
	manifests map[string]*oci.Manifest // repo \x00 digest
	tags      map[string]tagEntry      // repo \x00 tag
	referrers map[string][]ocispec.Descriptor
	local     map[string]bool
	links     map[string]bool // repo \x00 digest
	uses      map[string]bool // repo \x00 digest: a config or distributable layer of a manifest stored in repo
	// Fetches counts calls of Fetch that had to fill from a source.
	Fetches int
	// AfterStat, when set, is called after StatBlob has answered: a test
	// can store the blob then, as another request's fetch finishing right
	// after the check would.
	AfterStat func(d digest.Digest)
	// CannotWrite makes the store refuse new content as a full disk
	// would: Fetch, PutManifest, SetTag and LinkBlob answer
	// pull.ErrCannotStore, and what is stored stays readable.
	CannotWrite bool
	// arriving are blobs being fetched (Arriving): Follow and Fetch
	// join them, incomplete.
	arriving map[digest.Digest][]byte
}

// Arriving makes content a blob the store is fetching now, linked into
// repo as a stored manifest's layer would be: Follow and Fetch open it
// as incomplete, and it is not stored.
func (s *Store) Arriving(repo string, content []byte) digest.Digest {
	d := digest.FromBytes(content)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.arriving == nil {
		s.arriving = map[digest.Digest][]byte{}
	}
	s.arriving[d] = content
	s.links[key(repo, d.String())] = true
	return d
}

// joined opens a blob being fetched, if d is one.
func (s *Store) joined(d digest.Digest) (*oci.Blob, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.arriving[d]
	if !ok {
		return nil, false
	}
	return blob(b), true
}

// refused is the answer of a store that cannot write.
func (s *Store) refused() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.CannotWrite {
		return fmt.Errorf("pulltest: disk full: %w", pull.ErrCannotStore)
	}
	return nil
}

// SetCannotWrite switches CannotWrite, safely beside requests in flight.
func (s *Store) SetCannotWrite(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.CannotWrite = v
}

type tagEntry struct {
	d       digest.Digest
	checked time.Time
}

var _ pull.Store = (*Store)(nil)

func NewStore() *Store {
	return &Store{
		blobs:     map[digest.Digest][]byte{},
		manifests: map[string]*oci.Manifest{},
		tags:      map[string]tagEntry{},
		referrers: map[string][]ocispec.Descriptor{},
		local:     map[string]bool{},
		links:     map[string]bool{},
		uses:      map[string]bool{},
	}
}

func key(a, b string) string { return a + "\x00" + b }

func notFound(what string) error { return fmt.Errorf("%s: %w", what, pull.ErrNotFound) }

// AddBlob stores content as a blob and returns its digest.
func (s *Store) AddBlob(content []byte) digest.Digest {
	d := digest.FromBytes(content)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[d] = bytes.Clone(content)
	return d
}

// HasBlob says whether blob d is stored.
func (s *Store) HasBlob(d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.blobs[d]
	return ok
}

// Push stores manifest body in local repository repo, links blobs into
// it and points tags at it, as a push would.
func (s *Store) Push(repo string, mediaType string, body []byte, blobs []digest.Digest, tags ...string) digest.Digest {
	d := digest.FromBytes(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.local[repo] = true
	s.manifests[key(repo, d.String())] = &oci.Manifest{Digest: d, MediaType: mediaType, Bytes: bytes.Clone(body)}
	for _, b := range blobs {
		s.links[key(repo, b.String())] = true
	}
	for _, t := range tags {
		s.tags[key(repo, t)] = tagEntry{d: d}
	}
	return d
}

// SetTagAt points tag of repo at d as checked at checked.
func (s *Store) SetTagAt(repo, tag string, d digest.Digest, checked time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tags[key(repo, tag)] = tagEntry{d: d, checked: checked}
}

// HasManifest says whether repo holds manifest d.
func (s *Store) HasManifest(repo string, d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.manifests[key(repo, d.String())]
	return ok
}

func (s *Store) Manifest(repo string, d digest.Digest) (*oci.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.manifests[key(repo, d.String())]
	if !ok {
		return nil, notFound("manifest")
	}
	c := *m
	c.Bytes = bytes.Clone(m.Bytes)
	return &c, nil
}

func (s *Store) PutManifest(repo string, m *oci.Manifest, info *oci.ManifestInfo) error {
	if err := s.refused(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *m
	c.Bytes = bytes.Clone(m.Bytes)
	c.Warning = ""
	s.manifests[key(repo, m.Digest.String())] = &c
	if info != nil {
		for _, b := range info.Blobs {
			if !oci.IsNonDistributable(b.MediaType) {
				s.uses[key(repo, b.Digest.String())] = true
			}
		}
	}
	return nil
}

func (s *Store) Tag(repo, tag string) (digest.Digest, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tags[key(repo, tag)]
	if !ok {
		return "", time.Time{}, notFound("tag")
	}
	return t.d, t.checked, nil
}

func (s *Store) SetTag(repo, tag string, d digest.Digest, checked time.Time) error {
	if err := s.refused(); err != nil {
		return err
	}
	s.SetTagAt(repo, tag, d, checked)
	return nil
}

func (s *Store) Tags(repo string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.tags {
		if r, t, _ := cut(k); r == repo {
			out = append(out, t)
		}
	}
	if out == nil {
		return nil, notFound("repository")
	}
	slices.Sort(out)
	return out, nil
}

func cut(k string) (string, string, bool) {
	i := bytes.IndexByte([]byte(k), 0)
	if i < 0 {
		return k, "", false
	}
	return k[:i], k[i+1:], true
}

func (s *Store) Referrers(repo string, subject digest.Digest) ([]ocispec.Descriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.referrers[key(repo, subject.String())]), nil
}

func (s *Store) PutReferrers(repo string, subject digest.Digest, descs []ocispec.Descriptor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.referrers[key(repo, subject.String())] = slices.Clone(descs)
	return nil
}

func (s *Store) IsLocal(repo string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local[repo]
}

func (s *Store) BlobLinked(repo string, d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links[key(repo, d.String())]
}

func (s *Store) Holds(repo string, d digest.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links[key(repo, d.String())] || !s.local[repo] && s.uses[key(repo, d.String())]
}

func (s *Store) LinkBlob(repo string, d digest.Digest) error {
	if err := s.refused(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[d]; !ok {
		return notFound("blob")
	}
	s.links[key(repo, d.String())] = true
	return nil
}

func (s *Store) StatBlob(d digest.Digest) (int64, error) {
	s.mu.Lock()
	b, ok := s.blobs[d]
	after := s.AfterStat
	s.mu.Unlock()
	if after != nil {
		defer after(d)
	}
	if !ok {
		return 0, notFound("blob")
	}
	return int64(len(b)), nil
}

func (s *Store) OpenBlob(d digest.Digest) (*oci.Blob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	if !ok {
		return nil, notFound("blob")
	}
	return blob(b), nil
}

func blob(b []byte) *oci.Blob {
	return &oci.Blob{Size: int64(len(b)), Content: bytes.NewReader(b), Close: func() error { return nil }}
}

// Follow opens a stored blob, or one being fetched (Arriving).
func (s *Store) Follow(ctx context.Context, d digest.Digest) (*oci.Blob, bool, error) {
	if b, ok := s.joined(d); ok {
		return b, false, nil
	}
	b, err := s.OpenBlob(d)
	return b, err == nil, err
}

// Fetch fills the blob from src at once (the real store streams it) and
// keeps it only if it matches d, telling a Verifier body its verdict and
// linking it into the repository a Confirmed body names.
func (s *Store) Fetch(ctx context.Context, d digest.Digest, src pull.BlobSource) (*oci.Blob, bool, error) {
	if b, err := s.OpenBlob(d); err == nil {
		return b, true, nil
	}
	if b, ok := s.joined(d); ok {
		return b, false, nil
	}
	if err := s.refused(); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	s.Fetches++
	s.mu.Unlock()
	body, size, err := src(ctx)
	if err != nil {
		return nil, false, err
	}
	defer body.Close()
	content, err := io.ReadAll(body)
	if err != nil {
		return nil, false, err
	}
	ok := digest.FromBytes(content) == d && (size < 0 || int64(len(content)) == size)
	if v, is := body.(pull.Verifier); is {
		v.Verified(ok)
	}
	if !ok {
		return nil, false, fmt.Errorf("blob %s: %w", d, pull.ErrDigestMismatch)
	}
	s.mu.Lock()
	s.blobs[d] = content
	if c, is := body.(pull.Confirmed); is {
		s.links[key(c.ConfirmedIn(), d.String())] = true
	}
	s.mu.Unlock()
	return blob(content), false, nil
}
