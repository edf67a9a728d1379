package cache

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// passStore is a store of n mirrored 100-byte blobs (linked into a
// mirrored repository, oldest first) and one pushed blob, reopened with
// a limit that leaves room for keep of the mirrored ones.
func passStore(t *testing.T, n, keep int) (*Store, []digest.Digest, digest.Digest) {
	t.Helper()
	dir := t.TempDir()
	clock := (&testClock{}).now
	s := openTest(t, dir, Options{clock: clock})
	pushedBody, _ := content(100, 1)
	pushed := putBlob(t, s, pushedBody)
	if err := s.LinkBlob("team/app", true, pushed); err != nil {
		t.Fatal(err)
	}
	var ds []digest.Digest
	for i := range n {
		b, _ := content(100, uint64(1000+i))
		d := putBlob(t, s, b)
		if err := s.LinkBlob("docker.io/library/m", false, d); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openTest(t, dir, Options{MaxBytes: int64(100 * (keep + 1)), clock: clock}), ds, pushed
}

// TestEvictionPasses: a pass evicts at most evictPass blobs, the least
// recently used, in one metadata transaction (one fsync) instead of one
// each; passes continue until the store fits; pushed content stays.
func TestEvictionPasses(t *testing.T) {
	n, keep := 2*evictPass+10, 5
	s, ds, pushed := passStore(t, n, keep)

	txns := s.metaTxns.Load()
	s.meta.Lock()
	evicted, fits, more := s.evictPassLocked(0)
	s.meta.Unlock()
	if got := s.metaTxns.Load() - txns; got != 1 {
		t.Errorf("one pass took %d metadata transactions, want 1", got)
	}
	if fits || !more || len(evicted) != evictPass {
		t.Fatalf("first pass: %d evicted, fits %v, more %v; want %d, false, true", len(evicted), fits, more, evictPass)
	}
	slices.Sort(evicted)
	oldest := slices.Clone(ds[:evictPass])
	slices.Sort(oldest)
	if !slices.Equal(evicted, oldest) {
		t.Error("the first pass did not evict the least recently used blobs")
	}

	txns = s.metaTxns.Load()
	rest, fits := s.evict(0)
	if !fits || len(rest) != n-keep-evictPass {
		t.Fatalf("evict: %d evicted, fits %v; want %d, true", len(rest), fits, n-keep-evictPass)
	}
	if got, max := s.metaTxns.Load()-txns, int64((len(rest)+evictPass-1)/evictPass); got > max {
		t.Errorf("evicting %d blobs took %d metadata transactions, want at most %d", len(rest), got, max)
	}
	for _, d := range ds[n-keep:] {
		if !s.Holds("docker.io/library/m", d) {
			t.Errorf("recently used %s evicted", d)
		}
	}
	for _, d := range ds[:n-keep] {
		if _, err := os.Stat(s.blobPath(d)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("file of evicted %s: %v", d, err)
		}
		if s.Holds("docker.io/library/m", d) {
			t.Fatalf("link of evicted %s kept", d)
		}
	}
	if !s.Holds("team/app", pushed) {
		t.Fatal("pushed blob evicted")
	}
}

// TestMaybeEvictContinuesInBackground: a request path does one pass; the
// background goroutine does the rest.
func TestMaybeEvictContinuesInBackground(t *testing.T) {
	n, keep := 2*evictPass+10, 5
	s, _, pushed := passStore(t, n, keep)
	s.maybeEvict()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, blobs := s.Usage(); blobs == keep+1 {
			break
		}
		if time.Now().After(deadline) {
			_, blobs := s.Usage()
			t.Fatalf("%d blobs left, want %d", blobs, keep+1)
		}
	}
	if !s.Holds("team/app", pushed) {
		t.Fatal("pushed blob evicted")
	}
}

// TestEvictCrashBeforeFiles: a crash after a pass committed its metadata
// and before it removed the files leaves files without a record; the
// reopened store adopts them (re-hashed) and no tag points at a manifest
// it lost.
func TestEvictCrashBeforeFiles(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	mb := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	md := digest.FromBytes(mb)
	if err := s.PutManifest("docker.io/library/a", false, ManifestRecord{Digest: md, MediaType: "application/vnd.oci.image.manifest.v1+json"}, mb, "latest"); err != nil {
		t.Fatal(err)
	}
	lb, _ := content(500, 7)
	ld := putBlob(t, s, lb)
	if err := s.LinkBlob("docker.io/library/a", false, ld); err != nil {
		t.Fatal(err)
	}
	// The pass's transaction, then the crash: no files removed.
	s.meta.Lock()
	s.mu.Lock()
	for _, d := range []digest.Digest{md, ld} {
		s.takeLocked(evictCand{d: d, size: s.blobs[d].size})
	}
	s.mu.Unlock()
	err := s.dropBlobsMetaLocked([]digest.Digest{md, ld})
	s.meta.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir, Options{})
	if _, _, err := s.Tag("docker.io/library/a", "latest"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tag of the dropped manifest: %v", err)
	}
	if _, _, err := s.GetManifest("docker.io/library/a", md); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped manifest record: %v", err)
	}
	for d, want := range map[digest.Digest][]byte{md: mb, ld: lb} {
		if s.Holds("docker.io/library/a", d) {
			t.Errorf("link of %s kept", d)
		}
		r, err := s.OpenBlob(d)
		if err != nil {
			t.Fatalf("file of %s not adopted: %v", d, err)
		}
		got, err := io.ReadAll(r.Content)
		r.Close()
		if err != nil || digest.FromBytes(got) != d || len(got) != len(want) {
			t.Fatalf("adopted %s: %v", d, err)
		}
	}
}

// TestEvictQueueSkipsChanged: the background's passes take victims from
// a list made once, and skip a blob read or pinned since it was made.
func TestEvictQueueSkipsChanged(t *testing.T) {
	n, keep := evictPass+10, 5
	s, ds, pushed := passStore(t, n, keep)
	q := s.newEvictQueue()
	s.touch(ds[0])
	r, err := s.OpenBlob(ds[1])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var evicted []digest.Digest
	for more := true; more; {
		var ev []digest.Digest
		s.meta.Lock()
		ev, _, more = s.evictQueuedLocked(q)
		s.meta.Unlock()
		if len(ev) > evictPass {
			t.Fatalf("a pass evicted %d blobs, more than %d", len(ev), evictPass)
		}
		evicted = append(evicted, ev...)
	}
	if slices.Contains(evicted, ds[0]) || slices.Contains(evicted, ds[1]) {
		t.Fatal("evicted a blob read or pinned after the queue was made")
	}
	if slices.Contains(evicted, pushed) {
		t.Fatal("pushed blob evicted")
	}
	if total, _ := s.Usage(); total > s.opts.MaxBytes {
		t.Fatalf("%d bytes left, over %d", total, s.opts.MaxBytes)
	}
}

// TestEvictBytesPasses: freeing space for the filesystem watermark takes
// more than one pass when it must, the least recently used first, and
// never pushed content.
func TestEvictBytesPasses(t *testing.T) {
	n := 2*evictPass + 10
	s, ds, pushed := passStore(t, n, n)
	need := int64(100 * (evictPass + 20))
	txns := s.metaTxns.Load()
	evicted, freed := s.evictBytes(need)
	if freed != need || len(evicted) != evictPass+20 {
		t.Fatalf("freed %d bytes in %d blobs; want %d in %d", freed, len(evicted), need, evictPass+20)
	}
	if got := s.metaTxns.Load() - txns; got != 2 {
		t.Errorf("%d metadata transactions, want 2", got)
	}
	slices.Sort(evicted)
	oldest := slices.Clone(ds[:evictPass+20])
	slices.Sort(oldest)
	if !slices.Equal(evicted, oldest) {
		t.Error("did not evict the least recently used blobs")
	}
	if !s.Holds("team/app", pushed) {
		t.Fatal("pushed blob evicted")
	}
}

// TestEvictionPassTooBig: a pass whose deletions do not fit in one badger
// transaction (badger's largest is 15% of its memtable) is split in
// halves, a few fsyncs, not one transaction per blob; every blob goes.
func TestEvictionPassTooBig(t *testing.T) {
	dir := t.TempDir()
	clock := (&testClock{}).now
	s := openTest(t, dir, Options{clock: clock})
	// Each blob linked into 6 repositories of long names: 13 keys of
	// about 250 bytes each, so 256 blobs are some 800 KB of deletions.
	repo := func(i int) string { return "docker.io/library/" + fmtRepo(i) }
	var ds []digest.Digest
	for i := range evictPass {
		b, _ := content(100, uint64(5000+i))
		d := putBlob(t, s, b)
		for r := range 6 {
			if err := s.LinkBlob(repo(r), false, d); err != nil {
				t.Fatal(err)
			}
		}
		ds = append(ds, d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir, Options{MaxBytes: 1, clock: clock})

	txns := s.metaTxns.Load()
	s.meta.Lock()
	evicted, _, _ := s.evictPassLocked(0)
	s.meta.Unlock()
	if len(evicted) != len(ds) {
		t.Fatalf("evicted %d of %d blobs", len(evicted), len(ds))
	}
	if got := s.metaTxns.Load() - txns; got < 2 || got > 8 {
		t.Errorf("a pass too big for one transaction took %d, want 2 to 8 (halves)", got)
	}
	for _, d := range ds {
		if _, err := os.Stat(s.blobPath(d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("evicted %s still has its file: %v", d, err)
		}
	}
}

func fmtRepo(i int) string {
	return string(rune('a'+i)) + "/" + strings.Repeat("long-repository-name-", 8)
}
