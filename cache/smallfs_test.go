package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/shoal-dev/shoal/internal/testfs"
)

// On a real filesystem too small for a blob: the store refuses it before
// writing (real free space, less the metadata's headroom), a write that
// fails for real (ENOSPC, the free space misreported) degrades the store
// until a probe finds it writable again, nothing partial is left, and
// space freed by eviction is used again.
func TestSmallFilesystem(t *testing.T) {
	dir := testfs.Small(t, 48<<20)
	var lie atomic.Bool
	s := openTest(t, dir, Options{statfs: func(d string) (Filesystem, error) {
		if lie.Load() {
			return Filesystem{Size: 1 << 40, Avail: 1 << 40}, nil
		}
		return statfs(d)
	}})

	big, dBig := content(48<<20, 1)
	if _, err := s.Fetch(context.Background(), dBig, staticSource(big, nil)); !errors.Is(err, ErrCannotWrite) {
		t.Fatalf("Fetch of 48 MiB on a 48 MiB filesystem: %v, want ErrCannotWrite", err)
	}
	if h := s.Health(); !h.Degraded {
		t.Fatal("not degraded after refusing a blob")
	}

	// The free space misreported: the write itself fails with ENOSPC.
	lie.Store(true)
	r, err := s.Fetch(context.Background(), dBig, staticSource(big, nil))
	if err == nil {
		_, err = io.Copy(io.Discard, r.Content)
		r.Close()
	}
	if !errors.Is(err, ErrCannotWrite) {
		t.Fatalf("a fetch that hit ENOSPC: %v, want ErrCannotWrite", err)
	}
	lie.Store(false)
	if tmp := tmpEntries(t, s); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	if !s.writesFailing() {
		t.Fatal("the store does not know its writes fail")
	}
	small, dSmall := content(1<<20, 2)
	if _, err := s.Fetch(context.Background(), dSmall, staticSource(small, nil)); !errors.Is(err, ErrCannotWrite) {
		t.Fatalf("Fetch while writes fail: %v, want ErrCannotWrite at once", err)
	}

	// The temp file is gone: the probe finds room and the store writes.
	s.checkSpace()
	if h := s.Health(); h.Degraded {
		t.Fatalf("still degraded after the probe: %s", h.Reason)
	}
	r, err = s.Fetch(context.Background(), dSmall, staticSource(small, nil))
	if err != nil {
		t.Fatalf("Fetch after recovery: %v", err)
	}
	if got := readAll(t, r); !bytes.Equal(got, small) {
		t.Fatal("wrong bytes")
	}
	r.Close()
	waitStored(t, s, dSmall)

	// Fill the filesystem past what a 3 MiB blob needs beside the
	// headroom: the mirrored blob stored above is evicted to make room,
	// and the space is used.
	fs, err := statfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	filler := testfs.Fill(t, dir, fs.Avail-(s.contentHeadroom()+3<<20-512<<10))
	defer os.Remove(filler)
	mid, dMid := content(3<<20, 3)
	r, err = s.Fetch(context.Background(), dMid, staticSource(mid, nil))
	if err != nil {
		t.Fatalf("Fetch that eviction makes room for: %v", err)
	}
	if got := readAll(t, r); !bytes.Equal(got, mid) {
		t.Fatal("wrong bytes")
	}
	r.Close()
	waitStored(t, s, dMid)
	if _, err := s.StatBlob(dSmall); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the older mirrored blob was not evicted for room: %v", err)
	}
}
