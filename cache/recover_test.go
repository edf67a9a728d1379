package cache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestReopen simulates crashes at each step of a blob write and checks
// what a reopened store shows.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions(Options{}))
	if err != nil {
		t.Fatal(err)
	}
	var committed []digest.Digest
	for i := range 5 {
		b, _ := content(3000+i, uint64(10+i))
		committed = append(committed, putBlob(t, s, b))
	}
	if err := s.LinkBlob("lib/app", true, committed[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Crash mid-write: a half-written temp file and a complete but
	// never-renamed one.
	half, halfD := content(8000, 20)
	if err := os.WriteFile(filepath.Join(dir, "tmp", "blob-half"), half[:4000], 0o644); err != nil {
		t.Fatal(err)
	}
	full, fullD := content(8000, 21)
	if err := os.WriteFile(filepath.Join(dir, "tmp", "blob-full"), full, 0o644); err != nil {
		t.Fatal(err)
	}
	// Crash after the rename, before the metadata: the file is verified
	// and in place, without a record.
	adopt, adoptD := content(5000, 22)
	ap := filepath.Join(dir, "blobs", "sha256", adoptD.Encoded()[:2], adoptD.Encoded())
	if err := os.MkdirAll(filepath.Dir(ap), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ap, storedForm(t, adopt), 0o644); err != nil {
		t.Fatal(err)
	}
	// A record whose file vanished (disk trouble).
	gone := committed[4]
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", gone.Encoded()[:2], gone.Encoded())); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir, Options{})
	if e := tmpEntries(t, s); len(e) != 0 {
		t.Fatalf("tmp not cleaned: %v", e)
	}
	tests := []struct {
		name string
		d    digest.Digest
		want bool
	}{
		{"half-written temp", halfD, false},
		{"unrenamed temp", fullD, false},
		{"renamed without record", adoptD, true},
		{"record without file", gone, false},
	}
	for i, d := range committed[:4] {
		tests = append(tests, struct {
			name string
			d    digest.Digest
			want bool
		}{name: "committed " + string(rune('0'+i)), d: d, want: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.StatBlob(tt.d)
			if tt.want != (err == nil) {
				t.Fatalf("StatBlob(%s) = %v, want present=%v", tt.d, err, tt.want)
			}
			if !tt.want && !errors.Is(err, ErrNotFound) {
				t.Fatalf("StatBlob err = %v", err)
			}
		})
	}
	// Everything listed re-hashes to its digest.
	n := 0
	if err := s.Blobs(func(d digest.Digest, size int64) bool {
		n++
		r, err := s.OpenBlob(d)
		if err != nil {
			t.Errorf("OpenBlob(%s): %v", d, err)
			return true
		}
		defer r.Close()
		got, err := digest.FromReader(r.Content)
		if err != nil || got != d || r.Size != size {
			t.Errorf("blob %s re-hashes to %s (%v), size %d vs %d", d, got, err, r.Size, size)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("Blobs listed %d, want 5", n)
	}
	if !s.BlobLinked("lib/app", committed[0]) || !s.IsLocal("lib/app") {
		t.Fatal("link lost across reopen")
	}
	if s.BlobLinked("lib/app", gone) {
		t.Fatal("link to vanished blob kept")
	}
	// The adopted blob is usable like any other.
	if err := s.LinkBlob("lib/app", false, adoptD); err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenBlob(adoptD)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r); !bytes.Equal(got, adopt) {
		t.Fatal("adopted blob content differs")
	}
	r.Close()
}

// TestAccessTimesPersist checks that access times survive a reopen, so LRU
// order does too.
func TestAccessTimesPersist(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{}
	s, err := Open(dir, testOptions(Options{clock: clock.now}))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := content(100, 30)
	b, _ := content(100, 31)
	da, db := putBlob(t, s, a), putBlob(t, s, b)
	r, err := s.OpenBlob(da) // a is now more recent than b
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{clock: clock.now})
	s.mu.Lock()
	ta, tb := s.blobs[da].atime, s.blobs[db].atime
	s.mu.Unlock()
	if ta <= tb {
		t.Fatalf("access time of a (%d) not after b (%d) after reopen", ta, tb)
	}
}
