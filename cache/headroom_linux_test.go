package cache

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The reserve file is made when the filesystem has room for it beyond
// the headroom, allocated, made larger as the tables grow, and released
// for eviction when the metadata has no room.
func TestReserve(t *testing.T) {
	s, fs := openOnAvail(t, 1<<30)
	fi, err := os.Stat(s.reservePath())
	if err != nil {
		t.Fatalf("no reserve file with room for it: %v", err)
	}
	if fi.Size() != reserveSize(0) || fi.Size() < metaNeed(0)+memTableSize {
		t.Fatalf("reserve of %d bytes, want %d", fi.Size(), reserveSize(0))
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Blocks*512 < fi.Size() {
		t.Fatalf("the reserve is not allocated: %d of %d bytes", st.Blocks*512, fi.Size())
	}

	// The tables grew past what it covers: made larger.
	s.files.lsm.Store(8 << 20)
	s.keepReserve()
	if fi, _ := os.Stat(s.reservePath()); fi.Size() != reserveSize(8<<20) {
		t.Fatalf("reserve of %d bytes for 8 MiB of tables, want %d", fi.Size(), reserveSize(8<<20))
	}
	s.files.lsm.Store(0)

	// Another writer filled the filesystem: eviction releases it.
	b, _ := content(4<<10, 2)
	putBlob(t, s, b)
	fs.avail.Store(0)
	s.evictForFilesystem()
	if _, err := os.Stat(s.reservePath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the reserve was not released to evict on a full filesystem: %v", err)
	}

	// No room: not made again.
	fs.avail.Store(s.contentHeadroom())
	s.keepReserve()
	if _, err := os.Stat(s.reservePath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a reserve was made with no room for it: %v", err)
	}
	fs.avail.Store(s.contentHeadroom() + reserveSize(0))
	s.checkSpace()
	if _, err := os.Stat(s.reservePath()); err != nil {
		t.Fatalf("the reserve was not made again once there was room: %v", err)
	}
}

// Badger's mapped files are allocated to their size, so neither writing
// nor replaying them needs a block the filesystem may not have.
func TestBadgerLogsBacked(t *testing.T) {
	s, _ := openOnAvail(t, 1<<30)
	putBlob(t, s, []byte("one metadata write"))
	entries, err := os.ReadDir(filepath.Join(s.dir, "meta"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if ext != ".mem" && ext != ".vlog" && name != "DISCARD" {
			continue
		}
		if ext == "" {
			ext = name
		}
		seen[ext] = true
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Blocks*512 < fi.Size() {
			t.Errorf("%s: %d of %d bytes allocated", name, st.Blocks*512, fi.Size())
		}
	}
	if !seen[".mem"] || !seen[".vlog"] || !seen["DISCARD"] {
		t.Fatalf("badger's mapped files not all found: %v", seen)
	}
}

// A log of 0 bytes is left alone: badger makes a log empty before it
// sizes it, and truncates one to 0 before it removes it (ristretto's
// MmapFile.Delete), and fallocate refuses a zero length (EINVAL), which
// must not fail the metadata write that looked (BenchmarkStoreScale
// found it). A log sized again is backed again.
func TestBackLeavesEmptyLogs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int64 // the log's size at each look
	}{
		{"made, then sized", []int64{0, 1 << 20}},
		{"backed, then emptied to be removed", []int64{1 << 20, 0}},
		{"backed, emptied, sized again", []int64{1 << 20, 0, 2 << 20}},
		{"backed, emptied, sized again as before", []int64{1 << 20, 0, 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "00009.mem")
			b := newBadgerFiles(dir)
			for i, size := range tc.sizes {
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, size); err != nil {
					t.Fatal(err)
				}
				if err := b.back(); err != nil {
					t.Fatalf("look %d, at %d bytes: %v", i, size, err)
				}
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st := fi.Sys().(*syscall.Stat_t); st.Blocks*512 < size {
					t.Fatalf("look %d: %d of %d bytes allocated", i, st.Blocks*512, size)
				}
			}
		})
	}
}
