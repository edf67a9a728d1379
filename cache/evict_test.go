package cache

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

type evictLog struct {
	mu sync.Mutex
	ds []digest.Digest
}

func (l *evictLog) add(d digest.Digest) { l.mu.Lock(); l.ds = append(l.ds, d); l.mu.Unlock() }
func (l *evictLog) list() []digest.Digest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ds)
}

func TestEviction(t *testing.T) {
	const size, max = 1000, 3500
	blob := func(i int) ([]byte, digest.Digest) { return content(size, uint64(100+i)) }
	tests := []struct {
		name string
		// setup runs against blobs 0..2 (stored in that order) before
		// blob 3 and 4 are added.
		setup func(t *testing.T, s *Store, ds []digest.Digest) (cleanup func())
		want  []int // blobs expected to remain, of 0..4
	}{
		{
			name:  "least recently used first",
			setup: func(*testing.T, *Store, []digest.Digest) func() { return nil },
			want:  []int{2, 3, 4},
		},
		{
			name: "access refreshes",
			setup: func(t *testing.T, s *Store, ds []digest.Digest) func() {
				r, err := s.OpenBlob(ds[0])
				if err != nil {
					t.Fatal(err)
				}
				r.Close()
				return nil
			},
			want: []int{0, 3, 4},
		},
		{
			name: "local links never evicted",
			setup: func(t *testing.T, s *Store, ds []digest.Digest) func() {
				if err := s.LinkBlob("team/app", true, ds[0]); err != nil {
					t.Fatal(err)
				}
				if err := s.LinkBlob("docker.io/library/x", false, ds[1]); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			want: []int{0, 3, 4},
		},
		{
			name: "pinned not evicted until closed",
			setup: func(t *testing.T, s *Store, ds []digest.Digest) func() {
				r, err := s.OpenBlob(ds[0])
				if err != nil {
					t.Fatal(err)
				}
				// Make 0 the oldest again, so only the pin protects it.
				s.mu.Lock()
				s.blobs[ds[0]].atime = 0
				s.mu.Unlock()
				return func() { r.Close() }
			},
			want: []int{0, 3, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evicted evictLog
			s := openTest(t, "", Options{MaxBytes: max, OnEvict: evicted.add})
			var ds []digest.Digest
			var bodies [][]byte
			for i := range 5 {
				b, d := blob(i)
				ds = append(ds, d)
				bodies = append(bodies, b)
			}
			for i := range 3 {
				putBlob(t, s, bodies[i])
			}
			cleanup := tt.setup(t, s, ds)
			putBlob(t, s, bodies[3])
			putBlob(t, s, bodies[4])
			if cleanup != nil {
				// While pinned, 0 survives even though it is the oldest.
				if _, err := s.StatBlob(ds[0]); err != nil {
					t.Fatalf("pinned blob evicted: %v", err)
				}
				cleanup()
			}
			if total, _ := s.Usage(); total > max {
				t.Fatalf("Usage %d > MaxBytes %d", total, max)
			}
			for i, d := range ds {
				_, err := s.StatBlob(d)
				want := slices.Contains(tt.want, i)
				if want != (err == nil) {
					t.Errorf("blob %d present=%v, want %v", i, err == nil, want)
				}
				if !want && !slices.Contains(evicted.list(), d) {
					t.Errorf("OnEvict not called for blob %d", i)
				}
				if !want && s.BlobLinked("docker.io/library/x", d) {
					t.Errorf("link of evicted blob %d kept", i)
				}
			}
			if e := s.evictedFilesLeft(ds, tt.want); e != "" {
				t.Fatal(e)
			}
		})
	}
}

// evictedFilesLeft reports a blob file that should be gone.
func (s *Store) evictedFilesLeft(ds []digest.Digest, keep []int) string {
	for i, d := range ds {
		if slices.Contains(keep, i) {
			continue
		}
		if _, err := os.Stat(s.blobPath(d)); err == nil {
			return "file of evicted blob " + string(d) + " still exists"
		}
	}
	return ""
}

// TestEvictMirroredManifest: evicting a mirrored manifest's bytes drops
// its record and tags; local manifests stay.
func TestEvictMirroredManifest(t *testing.T) {
	s := openTest(t, "", Options{MaxBytes: 2500})
	mb := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	md := digest.FromBytes(mb)
	rec := ManifestRecord{Digest: md, MediaType: "application/vnd.oci.image.manifest.v1+json"}
	if err := s.PutManifest("docker.io/library/a", false, rec, mb, "latest"); err != nil {
		t.Fatal(err)
	}
	lb := []byte(`{"schemaVersion":2,"annotations":{"local":"yes"}}`)
	ld := digest.FromBytes(lb)
	if err := s.PutManifest("team/app", true, ManifestRecord{Digest: ld}, lb, "v1"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b, _ := content(1000, uint64(200+i))
		putBlob(t, s, b)
	}
	if _, _, err := s.GetManifest("docker.io/library/a", md); !errors.Is(err, ErrNotFound) {
		t.Fatalf("evicted manifest: %v", err)
	}
	if _, _, err := s.Tag("docker.io/library/a", "latest"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tag of evicted manifest: %v", err)
	}
	if _, body, err := s.GetManifest("team/app", ld); err != nil || !bytes.Equal(body, lb) {
		t.Fatalf("local manifest: %v", err)
	}
}
