package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
)

// memSource is a pull.Source in memory: manifests by repository and
// reference, blobs by digest (any repository), referrers by repository
// and subject. Its not-found answers are what the pull path's are: an
// *oci.Error that also matches pull.ErrNotFound.
type memSource struct {
	mu        sync.Mutex
	manifests map[string]*oci.Manifest // repo key \x00 ref
	blobs     map[digest.Digest][]byte
	referrers map[string][]ocispec.Descriptor // repo key \x00 subject
	// fail, when set, is what fails(method, ref) calls answer instead.
	fail  error
	fails func(method, ref string) bool
}

var _ pull.Source = (*memSource)(nil)

func newMemSource() *memSource {
	return &memSource{
		manifests: map[string]*oci.Manifest{},
		blobs:     map[digest.Digest][]byte{},
		referrers: map[string][]ocispec.Descriptor{},
	}
}

// failing makes the calls fails selects (all of them when nil) answer
// err; nil err stops that.
func (s *memSource) failing(err error, fails func(method, ref string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.fails = err, fails
}

func (s *memSource) failed(method, ref string) error {
	if s.fail != nil && (s.fails == nil || s.fails(method, ref)) {
		return s.fail
	}
	return nil
}

// pullNotFound is a not-found answer as package pull gives it.
type pullNotFound struct{ oe *oci.Error }

func (e *pullNotFound) Error() string   { return e.oe.Error() }
func (e *pullNotFound) Unwrap() []error { return []error{e.oe, pull.ErrNotFound} }

func (s *memSource) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed("Manifest", ref); err != nil {
		return nil, err
	}
	m, ok := s.manifests[repo.Key()+"\x00"+ref]
	if !ok {
		return nil, &pullNotFound{oci.ErrManifestUnknown.With(map[string]string{"ref": ref})}
	}
	c := *m
	c.Bytes = bytes.Clone(m.Bytes)
	return &c, nil
}

func (s *memSource) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed("StatBlob", d.String()); err != nil {
		return 0, err
	}
	b, ok := s.blobs[d]
	if !ok {
		return 0, &pullNotFound{oci.ErrBlobUnknown.With(map[string]string{"digest": d.String()})}
	}
	return int64(len(b)), nil
}

func (s *memSource) Blob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed("Blob", d.String()); err != nil {
		return nil, err
	}
	b, ok := s.blobs[d]
	if !ok {
		return nil, &pullNotFound{oci.ErrBlobUnknown.With(map[string]string{"digest": d.String()})}
	}
	return &oci.Blob{Size: int64(len(b)), Content: bytes.NewReader(b), Close: func() error { return nil }}, nil
}

func (s *memSource) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed("Tags", ""); err != nil {
		return nil, err
	}
	var tags []string
	for k := range s.manifests {
		r, ref, _ := strings.Cut(k, "\x00")
		if _, err := digest.Parse(ref); r == repo.Key() && err != nil {
			tags = append(tags, ref)
		}
	}
	sort.Strings(tags)
	return tags, nil
}

func (s *memSource) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed("Referrers", d.String()); err != nil {
		return nil, err
	}
	return append([]ocispec.Descriptor(nil), s.referrers[repo.Key()+"\x00"+d.String()]...), nil
}

// putManifest stores body in repo under its digest and tags.
func (s *memSource) putManifest(repo repository.Name, mediaType string, body []byte, tags ...string) ocispec.Descriptor {
	d := digest.FromBytes(body)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &oci.Manifest{Digest: d, MediaType: mediaType, Bytes: bytes.Clone(body)}
	for _, ref := range append([]string{d.String()}, tags...) {
		s.manifests[repo.Key()+"\x00"+ref] = m
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(body))}
}

func (s *memSource) putBlob(b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blobs[d] = bytes.Clone(b)
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

func (s *memSource) addReferrer(repo repository.Name, subject digest.Digest, desc ocispec.Descriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := repo.Key() + "\x00" + subject.String()
	s.referrers[k] = append(s.referrers[k], desc)
}

// putImage stores a one-layer runnable image in repo under tags.
func (s *memSource) putImage(t *testing.T, repo repository.Name, tags ...string) ocispec.Descriptor {
	t.Helper()
	cfg := s.putBlob([]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	layer := s.putBlob([]byte("layer of " + repo.Key() + ":" + strings.Join(tags, ",")))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	return s.putManifest(repo, ocispec.MediaTypeImageManifest, imageManifest(t, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}}), tags...)
}

// imageManifest is m as an OCI image manifest's bytes.
func imageManifest(t *testing.T, m ocispec.Manifest) []byte {
	t.Helper()
	m.Versioned = specs.Versioned{SchemaVersion: 2}
	m.MediaType = ocispec.MediaTypeImageManifest
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// indexManifest is an index of children with mediaType.
func indexManifest(t *testing.T, mediaType string, children ...ocispec.Descriptor) []byte {
	t.Helper()
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: mediaType, Manifests: children})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// emptyConfig is the OCI empty descriptor artifacts use as config.
var emptyConfig = ocispec.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: digest.FromBytes([]byte("{}")), Size: 2}

// recorder is a pull.Source that logs the calls reaching Next, as
// "<Method> <repo key> <ref or digest>".
type recorder struct {
	Next pull.Source

	mu    sync.Mutex
	calls []string
}

var _ pull.Source = (*recorder)(nil)

func (r *recorder) record(method string, repo repository.Name, arg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, strings.TrimSpace(method+" "+repo.Key()+" "+arg))
}

// Calls is what reached Next so far.
func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// count is how many calls of method reached Next.
func (r *recorder) count(method string) int {
	n := 0
	for _, c := range r.Calls() {
		if strings.HasPrefix(c, method+" ") {
			n++
		}
	}
	return n
}

func (r *recorder) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	r.record("Manifest", repo, ref)
	return r.Next.Manifest(ctx, repo, ref)
}

func (r *recorder) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	r.record("StatBlob", repo, d.String())
	return r.Next.StatBlob(ctx, repo, d)
}

func (r *recorder) Blob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error) {
	r.record("Blob", repo, d.String())
	return r.Next.Blob(ctx, repo, d)
}

func (r *recorder) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	r.record("Tags", repo, "")
	return r.Next.Tags(ctx, repo)
}

func (r *recorder) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	r.record("Referrers", repo, d.String())
	return r.Next.Referrers(ctx, repo, d)
}

// wantDetail checks that oe's detail is exactly want.
func wantDetail(t *testing.T, oe *oci.Error, want map[string]string) {
	t.Helper()
	got, ok := oe.Detail.(map[string]string)
	if !ok {
		t.Fatalf("detail = %#v (%T), want map[string]string", oe.Detail, oe.Detail)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("detail = %v\nwant     %v", got, want)
	}
}

// readAll reads and closes b.
func readAll(t *testing.T, b *oci.Blob) string {
	t.Helper()
	defer b.Close()
	got, err := io.ReadAll(b.Content)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}
