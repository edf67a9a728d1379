package cache

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
)

// availFS is a filesystem whose free space the test sets; badger's files
// are on the real one.
type availFS struct{ avail atomic.Int64 }

func (f *availFS) statfs(string) (Filesystem, error) {
	a := f.avail.Load()
	return Filesystem{Size: 1 << 40, Used: 1<<40 - a, Avail: a}, nil
}

func openOnAvail(t *testing.T, avail int64) (*Store, *availFS) {
	t.Helper()
	fs := &availFS{}
	fs.avail.Store(avail)
	return openTest(t, "", Options{statfs: fs.statfs}), fs
}

// A metadata write runs only with the metadata's need free; refused, it
// is ErrCannotWrite and the store is degraded.
func TestRoomForMeta(t *testing.T) {
	need := metaNeed(0)
	for _, tc := range []struct {
		name  string
		avail int64
		ok    bool
	}{
		{"plenty", 1 << 30, true},
		{"exactly the need", need, true},
		{"a byte short", need - 1, false},
		{"nothing", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, fs := openOnAvail(t, 1<<30)
			d := putBlob(t, s, []byte("held"))
			fs.avail.Store(tc.avail + s.files.lsm.Load())
			err := s.LinkBlob("mirror/a", false, d)
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrCannotWrite) {
				t.Fatalf("LinkBlob with %d free (need %d): %v", tc.avail, need, err)
			}
			if h := s.Health(); h.Degraded == tc.ok {
				t.Fatalf("degraded = %v, reason %q", h.Degraded, h.Reason)
			}
			if !tc.ok && s.BlobLinked("mirror/a", d) {
				t.Fatal("a refused link was recorded")
			}
		})
	}
}

// A content write stops before it would take the free space under the
// headroom, looking at it before its first bytes and then after every
// headroomCheckBytes (so it may go under by less than that).
func TestHeadroomGuard(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spare  int64 // free beyond the headroom
		writes []int64
		// refused is the index of the write refused, -1 for none.
		refused int
	}{
		{"fits", 4 << 20, []int64{1 << 20, 1 << 20}, -1},
		{"no spare", 0, []int64{1}, 0},
		{"the first write too big", 1 << 20, []int64{2 << 20}, 0},
		{"caught at the next check", 3 << 19, []int64{1 << 20, 1 << 20}, 1},
		{"small writes looked at after a MiB", 5 << 18, []int64{1 << 19, 1 << 19, 1 << 19, 1 << 19}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, fs := openOnAvail(t, 1<<30)
			fs.avail.Store(s.contentHeadroom() + tc.spare)
			g := headroomGuard{s: s}
			got := -1
			for i, n := range tc.writes {
				if err := g.admit(n); err != nil {
					if !errors.Is(err, ErrCannotWrite) {
						t.Fatalf("write %d: %v, want ErrCannotWrite", i, err)
					}
					got = i
					break
				}
				fs.avail.Add(-n)
			}
			if got != tc.refused {
				t.Fatalf("refused write %d, want %d", got, tc.refused)
			}
		})
	}
}

// A blob put that would eat into the headroom is refused, and nothing of
// it is left.
func TestPutBlobKeepsHeadroom(t *testing.T) {
	s, fs := openOnAvail(t, 1<<30)
	fs.avail.Store(s.contentHeadroom() + 1<<20)
	b, d := content(2<<20, 1)
	if _, err := s.PutBlob(d, bytes.NewReader(b)); !errors.Is(err, ErrCannotWrite) {
		t.Fatalf("PutBlob into the headroom: %v, want ErrCannotWrite", err)
	}
	if _, err := s.StatBlob(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused blob is stored: %v", err)
	}
	if tmp := tmpEntries(t, s); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
}
