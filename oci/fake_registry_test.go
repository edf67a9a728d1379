package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeRegistry is an in-memory Registry for tests.
type fakeRegistry struct {
	mu      sync.Mutex
	repos   map[string]*fakeRepo
	blobs   map[digest.Digest][]byte
	uploads map[string]*fakeUpload
	nextID  int
	// broken blobs fail to read after half their bytes.
	broken map[digest.Digest]bool
	lastNS string
}

type fakeRepo struct {
	manifests map[digest.Digest]*fakeManifest
	tags      map[string]digest.Digest
	blobs     map[digest.Digest]bool
}

type fakeManifest struct {
	m    Manifest
	info *ManifestInfo
}

type fakeUpload struct {
	repo string
	buf  []byte
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{
		repos:   map[string]*fakeRepo{},
		blobs:   map[digest.Digest][]byte{},
		uploads: map[string]*fakeUpload{},
		broken:  map[digest.Digest]bool{},
	}
}

func (f *fakeRegistry) repo(name string, create bool) *fakeRepo {
	r := f.repos[name]
	if r == nil && create {
		r = &fakeRepo{manifests: map[digest.Digest]*fakeManifest{}, tags: map[string]digest.Digest{}, blobs: map[digest.Digest]bool{}}
		f.repos[name] = r
	}
	return r
}

// addBlob stores b in repo and returns its digest.
func (f *fakeRegistry) addBlob(repo string, b []byte, alg digest.Algorithm) digest.Digest {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := alg.FromBytes(b)
	f.blobs[d] = b
	f.repo(repo, true).blobs[d] = true
	return d
}

func (f *fakeRegistry) GetManifest(_ context.Context, repo Repo, ref string) (*Manifest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastNS = repo.NS
	r := f.repo(repo.Name, false)
	if r == nil {
		return nil, ErrNameUnknown.With(repo.Name)
	}
	d := digest.Digest(ref)
	if t, ok := r.tags[ref]; ok {
		d = t
	}
	m := r.manifests[d]
	if m == nil {
		return nil, ErrManifestUnknown.With(ref)
	}
	c := m.m
	return &c, nil
}

func (f *fakeRegistry) PutManifest(_ context.Context, repo Repo, tags []string, m *Manifest, info *ManifestInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.Digest.Algorithm().FromBytes(m.Bytes) != m.Digest {
		return errors.New("fake: digest does not match bytes")
	}
	r := f.repo(repo.Name, true)
	r.manifests[m.Digest] = &fakeManifest{m: *m, info: info}
	for _, t := range tags {
		r.tags[t] = m.Digest
	}
	return nil
}

func (f *fakeRegistry) DeleteManifest(_ context.Context, repo Repo, d digest.Digest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repo(repo.Name, false)
	if r == nil || r.manifests[d] == nil {
		return ErrManifestUnknown.With(d.String())
	}
	delete(r.manifests, d)
	for t, td := range r.tags {
		if td == d {
			delete(r.tags, t)
		}
	}
	return nil
}

func (f *fakeRegistry) DeleteTag(_ context.Context, repo Repo, tag string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repo(repo.Name, false)
	if r == nil {
		return ErrManifestUnknown.With(tag)
	}
	if _, ok := r.tags[tag]; !ok {
		return ErrManifestUnknown.With(tag)
	}
	delete(r.tags, tag)
	return nil
}

func (f *fakeRegistry) Tags(_ context.Context, repo Repo) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repo(repo.Name, false)
	if r == nil {
		return nil, ErrNameUnknown.With(repo.Name)
	}
	var out []string
	for t := range r.tags {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeRegistry) Referrers(_ context.Context, repo Repo, d digest.Digest) ([]ocispec.Descriptor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ocispec.Descriptor
	r := f.repo(repo.Name, false)
	if r == nil {
		return nil, nil
	}
	for md, m := range r.manifests {
		if m.info.Subject != nil && m.info.Subject.Digest == d {
			out = append(out, m.info.Referrer(md, int64(len(m.m.Bytes))))
		}
	}
	slices.SortFunc(out, func(a, b ocispec.Descriptor) int { return bytes.Compare([]byte(a.Digest), []byte(b.Digest)) })
	return out, nil
}

func (f *fakeRegistry) Catalog(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.repos {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeRegistry) StatBlob(_ context.Context, repo Repo, d digest.Digest) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repo(repo.Name, false)
	if r == nil || !r.blobs[d] {
		return 0, ErrBlobUnknown.With(d.String())
	}
	return int64(len(f.blobs[d])), nil
}

// brokenReader serves the first half of a blob, then fails, as a blob
// that could not be verified would.
type brokenReader struct {
	*bytes.Reader
	half int64
	err  error
}

func (b *brokenReader) Read(p []byte) (int, error) {
	pos, _ := b.Reader.Seek(0, io.SeekCurrent)
	if pos >= b.half {
		b.err = errors.New("fake: blob failed verification")
		return 0, b.err
	}
	if rem := b.half - pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	return b.Reader.Read(p)
}

func (b *brokenReader) Err() error { return b.err }

func (f *fakeRegistry) GetBlob(_ context.Context, repo Repo, d digest.Digest) (*Blob, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repo(repo.Name, false)
	if r == nil || !r.blobs[d] {
		return nil, ErrBlobUnknown.With(d.String())
	}
	b := f.blobs[d]
	var content io.ReadSeeker = bytes.NewReader(b)
	if f.broken[d] {
		content = &brokenReader{Reader: bytes.NewReader(b), half: int64(len(b) / 2)}
	}
	return &Blob{Size: int64(len(b)), Content: content, Close: func() error { return nil }}, nil
}

func (f *fakeRegistry) DeleteBlob(_ context.Context, repo Repo, d digest.Digest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repo(repo.Name, false)
	if r == nil || !r.blobs[d] {
		return ErrBlobUnknown.With(d.String())
	}
	delete(r.blobs, d)
	return nil
}

func (f *fakeRegistry) StartUpload(_ context.Context, repo Repo) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("up-%d", f.nextID)
	f.uploads[id] = &fakeUpload{repo: repo.Name}
	return id, nil
}

func (f *fakeRegistry) upload(repo Repo, id string) (*fakeUpload, error) {
	u := f.uploads[id]
	if u == nil || u.repo != repo.Name {
		return nil, ErrBlobUploadUnknown.With(id)
	}
	return u, nil
}

func (f *fakeRegistry) UploadSize(_ context.Context, repo Repo, id string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.upload(repo, id)
	if err != nil {
		return 0, err
	}
	return int64(len(u.buf)), nil
}

func (f *fakeRegistry) WriteUpload(_ context.Context, repo Repo, id string, offset int64, r io.Reader) (int64, error) {
	f.mu.Lock()
	u, err := f.upload(repo, id)
	if err == nil && offset >= 0 && offset != int64(len(u.buf)) {
		err = ErrRangeInvalid.With(map[string]any{"offset": offset, "size": len(u.buf)})
	}
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	// Read outside the lock, append only a complete chunk.
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, fmt.Errorf("fake: reading chunk: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, err = f.upload(repo, id); err != nil {
		return 0, err
	}
	if offset >= 0 && offset != int64(len(u.buf)) {
		return 0, ErrRangeInvalid
	}
	u.buf = append(u.buf, b...)
	return int64(len(u.buf)), nil
}

func (f *fakeRegistry) CommitUpload(_ context.Context, repo Repo, id string, d digest.Digest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, err := f.upload(repo, id)
	if err != nil {
		return err
	}
	if got := d.Algorithm().FromBytes(u.buf); got != d {
		return ErrDigestInvalid.With(map[string]any{"expected": d.String(), "computed": got.String()})
	}
	f.blobs[d] = u.buf
	f.repo(repo.Name, true).blobs[d] = true
	delete(f.uploads, id)
	return nil
}

func (f *fakeRegistry) CancelUpload(_ context.Context, repo Repo, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.upload(repo, id); err != nil {
		return err
	}
	delete(f.uploads, id)
	return nil
}

func (f *fakeRegistry) MountBlob(_ context.Context, repo Repo, from Repo, d digest.Digest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	found := false
	if from.Name == "" {
		for _, r := range f.repos {
			found = found || r.blobs[d]
		}
	} else if r := f.repo(from.Name, false); r != nil {
		found = r.blobs[d]
	}
	if !found {
		return ErrBlobUnknown.With(d.String())
	}
	f.repo(repo.Name, true).blobs[d] = true
	return nil
}

var _ Registry = (*fakeRegistry)(nil)
