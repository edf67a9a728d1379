package cache

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// testClock is a clock that advances one second per reading, so access
// order is strictly reflected in access times.
type testClock struct{ n atomic.Int64 }

func (c *testClock) now() time.Time {
	return time.Unix(1_700_000_000+c.n.Add(1), 0)
}

func openTest(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if opts.clock == nil {
		opts.clock = (&testClock{}).now
	}
	s, err := Open(dir, testOptions(opts))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// content returns n pseudo-random bytes determined by seed, and their digest.
func content(n int, seed uint64) ([]byte, digest.Digest) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b, digest.FromBytes(b)
}

func putBlob(t testing.TB, s *Store, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	if _, err := s.PutBlob(d, bytes.NewReader(b)); err != nil {
		t.Fatalf("PutBlob: %v", err)
	}
	return d
}

func readAll(t testing.TB, r *Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Content)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

func tmpEntries(t testing.TB, s *Store) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// staticSource serves b with its true size and counts its calls.
func staticSource(b []byte, calls *atomic.Int32) Source {
	return func(context.Context) (io.ReadCloser, int64, error) {
		if calls != nil {
			calls.Add(1)
		}
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
}

// pipeSource returns a Source whose body is fed through the returned pipe
// writer, declaring size.
func pipeSource(size int64, calls *atomic.Int32) (Source, *io.PipeWriter) {
	pr, pw := io.Pipe()
	return func(context.Context) (io.ReadCloser, int64, error) {
		if calls != nil {
			calls.Add(1)
		}
		return pr, size, nil
	}, pw
}

// addedWatcher returns an OnAdd hook and a function that waits (bounded)
// for d to be added.
func addedWatcher() (func(digest.Digest, int64), func(t testing.TB, d digest.Digest)) {
	var mu sync.Mutex
	chans := map[digest.Digest]chan struct{}{}
	get := func(d digest.Digest) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		c := chans[d]
		if c == nil {
			c = make(chan struct{})
			chans[d] = c
		}
		return c
	}
	onAdd := func(d digest.Digest, _ int64) {
		c := get(d)
		select {
		case <-c:
		default:
			close(c)
		}
	}
	wait := func(t testing.TB, d digest.Digest) {
		t.Helper()
		select {
		case <-get(d):
		case <-time.After(30 * time.Second):
			t.Fatalf("blob %s was never added", d)
		}
	}
	return onAdd, wait
}
