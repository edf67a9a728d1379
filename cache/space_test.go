package cache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// fakeFS is a filesystem of size bytes holding other bytes besides the
// store's blobs, for the store's statfs hook.
type fakeFS struct {
	mu          sync.Mutex
	size, other int64
	s           *Store
}

func (f *fakeFS) statfs(string) (Filesystem, error) {
	f.mu.Lock()
	size, other, s := f.size, f.other, f.s
	f.mu.Unlock()
	used := other
	if s != nil {
		s.mu.Lock()
		used += s.total
		s.mu.Unlock()
	}
	return Filesystem{Size: size, Used: used, Avail: max(size-used, 0)}, nil
}

func (f *fakeFS) setOther(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.other = n
}

func openOnFakeFS(t *testing.T, fs *fakeFS, opts Options) *Store {
	t.Helper()
	opts.statfs = fs.statfs
	// Badger's files are on the real filesystem, not the fake one.
	opts.noHeadroom = true
	s := openTest(t, "", opts)
	fs.mu.Lock()
	fs.s = s
	fs.mu.Unlock()
	return s
}

func TestWatermarkKeepsFilesystemBelowHigh(t *testing.T) {
	const size = 100_000
	fs := &fakeFS{size: size, other: 10_000}
	s := openOnFakeFS(t, fs, Options{HighWatermark: 0.85, LowWatermark: 0.80})

	local, dl := content(20_000, 1)
	putBlob(t, s, local)
	if err := s.LinkBlob("team/app", true, dl); err != nil {
		t.Fatal(err)
	}
	var mirrored []digest.Digest
	for i := range 20 {
		b, d := content(5_000, uint64(10+i))
		putBlob(t, s, b)
		mirrored = append(mirrored, d)
		got, _ := fs.statfs("")
		if r := got.UsedRatio(); r > 0.85 {
			t.Fatalf("after blob %d the filesystem is %.3f used, above the high watermark", i, r)
		}
	}
	if _, err := s.StatBlob(dl); err != nil {
		t.Fatalf("local blob evicted: %v", err)
	}
	if _, err := s.StatBlob(mirrored[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the least recently used mirrored blob is still stored (%v)", err)
	}
	if _, err := s.StatBlob(mirrored[19]); err != nil {
		t.Fatalf("the newest mirrored blob was evicted: %v", err)
	}
	if h := s.Health(); h.Degraded {
		t.Fatalf("degraded: %s", h.Reason)
	}

	// Another writer fills the filesystem: the space watcher evicts
	// mirrored content down to the low watermark, never the local blob.
	fs.setOther(25_000)
	s.checkSpace()
	got, _ := fs.statfs("")
	if r := got.UsedRatio(); r > 0.80 {
		t.Fatalf("after the watcher's pass the filesystem is %.3f used, above the low watermark", r)
	}
	if _, err := s.StatBlob(dl); err != nil {
		t.Fatalf("local blob evicted: %v", err)
	}
}

func TestWatermarksOff(t *testing.T) {
	fs := &fakeFS{size: 100_000, other: 90_000}
	s := openOnFakeFS(t, fs, Options{})
	b, d := content(5_000, 1)
	putBlob(t, s, b)
	s.checkSpace()
	if _, err := s.StatBlob(d); err != nil {
		t.Fatalf("evicted with the watermarks off: %v", err)
	}
}

func TestWatermarkOptionsChecked(t *testing.T) {
	for _, o := range []Options{
		{HighWatermark: 0.8, LowWatermark: 0.85},
		{HighWatermark: 1.2, LowWatermark: 0.5},
		{HighWatermark: 0.8},
		{LowWatermark: 0.8},
	} {
		if _, err := Open(t.TempDir(), o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open with watermarks %v/%v: %v, want ErrInvalid", o.HighWatermark, o.LowWatermark, err)
		}
	}
}

// A blob larger than the free space is refused before any byte is
// written, the store says it is degraded and why, and the next blob that
// fits is stored and ends the episode.
func TestFetchRefusedWhenNoRoom(t *testing.T) {
	fs := &fakeFS{size: 100_000, other: 95_000}
	s := openOnFakeFS(t, fs, Options{})
	big, d := content(10_000, 1)
	_, err := s.Fetch(context.Background(), d, staticSource(big, nil))
	if !errors.Is(err, ErrCannotWrite) {
		t.Fatalf("Fetch of a blob larger than the free space: %v, want ErrCannotWrite", err)
	}
	h := s.Health()
	if !h.Degraded || !strings.Contains(h.Reason, "free") {
		t.Fatalf("health after the refusal: %+v", h)
	}
	if _, err := s.StatBlob(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused blob stored: %v", err)
	}
	if tmp := tmpEntries(t, s); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}

	small, ds := content(1_000, 2)
	r, err := s.Fetch(context.Background(), ds, staticSource(small, nil))
	if err != nil {
		t.Fatalf("Fetch of a blob that fits: %v", err)
	}
	readAll(t, r)
	r.Close()
	waitStored(t, s, ds)
	// The episode ends just after the commit that StatBlob already sees.
	for i := 0; i < 500 && s.Health().Degraded; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if h := s.Health(); h.Degraded {
		t.Fatalf("still degraded after a blob was stored: %s", h.Reason)
	}
}

// Eviction makes room for a blob that would not fit in the free space.
func TestFetchEvictsForRoom(t *testing.T) {
	fs := &fakeFS{size: 100_000, other: 80_000}
	s := openOnFakeFS(t, fs, Options{})
	old, dOld := content(15_000, 1)
	putBlob(t, s, old)
	b, d := content(8_000, 2)
	r, err := s.Fetch(context.Background(), d, staticSource(b, nil))
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	readAll(t, r)
	r.Close()
	waitStored(t, s, d)
	if _, err := s.StatBlob(dOld); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the old mirrored blob was not evicted for room: %v", err)
	}
}

// A size limit held by local content refuses mirrored blobs (they pass
// through) instead of going past it.
func TestFetchRefusedWhenLimitHeldByLocal(t *testing.T) {
	s := openTest(t, "", Options{MaxBytes: 10_000})
	local, dl := content(9_000, 1)
	putBlob(t, s, local)
	if err := s.LinkBlob("team/app", true, dl); err != nil {
		t.Fatal(err)
	}
	b, d := content(5_000, 2)
	_, err := s.Fetch(context.Background(), d, staticSource(b, nil))
	if !errors.Is(err, ErrCannotWrite) {
		t.Fatalf("Fetch past a limit held by local content: %v, want ErrCannotWrite", err)
	}
	if h := s.Health(); !h.Degraded || !strings.Contains(h.Reason, "size limit") {
		t.Fatalf("health: %+v", h)
	}
	if _, err := s.StatBlob(dl); err != nil {
		t.Fatalf("local blob: %v", err)
	}
}
