package cache

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// TestTagsAtReadsOnlyItsTags: finding the tags of one manifest in a
// repository of thousands of tags reads only that manifest's (it read
// every tag of the repository, with its value, once per removed record).
func TestTagsAtReadsOnlyItsTags(t *testing.T) {
	s := openTest(t, "", Options{})
	repo := "docker.io/library/many"
	d := digest.FromString("mine")
	s.meta.Lock()
	// In transactions of 500 tags: badger's largest is smaller.
	for n := 0; n < 5000; n += 500 {
		if _, err := s.update(func(mt *metaTxn) error {
			for i := n; i < n+500; i++ {
				if err := mt.setTag(repo, fmt.Sprintf("other%d", i), digest.FromString(fmt.Sprint(i)), 1); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			s.meta.Unlock()
			t.Fatal(err)
		}
	}
	_, err := s.update(func(mt *metaTxn) error {
		for _, tag := range []string{"a", "b", "c"} {
			if err := mt.setTag(repo, tag, d, 1); err != nil {
				return err
			}
		}
		return nil
	})
	s.meta.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	var keys [][]byte
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		keys, err = tagsAt(txn, repo, d, &reads)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if reads != 6 || len(keys) != 6 {
		t.Fatalf("read %d keys and found %d for 3 tags; want 6 and 6 (an index entry and a tag each)", reads, len(keys))
	}
}

// TestTagIndexFollowsTags: evicting a manifest removes the tags pointing
// at it, not one moved away from it, nor other manifests' tags.
func TestTagIndexFollowsTags(t *testing.T) {
	s := openTest(t, "", Options{})
	repo := "docker.io/library/a"
	put := func(n int, tags ...string) digest.Digest {
		mb := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":%d}`, n)
		md := digest.FromBytes(mb)
		if err := s.PutManifest(repo, false, ManifestRecord{Digest: md, MediaType: "application/vnd.oci.image.manifest.v1+json"}, mb, tags...); err != nil {
			t.Fatal(err)
		}
		return md
	}
	old := put(1, "latest", "v1", "moved")
	other := put(2, "v2")
	if err := s.SetTag(repo, false, "moved", other, s.now()); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTag(repo, "v1"); err != nil {
		t.Fatal(err)
	}
	s.meta.Lock()
	s.mu.Lock()
	s.takeLocked(evictCand{d: old, size: s.blobs[old].size})
	s.mu.Unlock()
	err := s.dropBlobLocked(old)
	s.meta.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Tag(repo, "latest"); !errors.Is(err, ErrNotFound) {
		t.Errorf("tag of the evicted manifest: %v", err)
	}
	for _, tag := range []string{"moved", "v2"} {
		if d, _, err := s.Tag(repo, tag); err != nil || d != other {
			t.Errorf("tag %s: %s, %v; want %s", tag, d, err, other)
		}
	}
	// No index entry is left for the evicted manifest or the deleted tag.
	if err := s.db.View(func(txn *badger.Txn) error {
		if hasPrefix(txn, key(kindTagBy, string(old), "")) {
			return errors.New("index entries of the evicted manifest left")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestTagIndexBuiltAtOpen: metadata written before the index (tags
// without entries, no mark) is indexed when the store opens, so that
// eviction still removes the tags of what it evicts.
func TestTagIndexBuiltAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	repo := "docker.io/library/a"
	mb := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	md := digest.FromBytes(mb)
	if err := s.PutManifest(repo, false, ManifestRecord{Digest: md, MediaType: "application/vnd.oci.image.manifest.v1+json"}, mb, "latest"); err != nil {
		t.Fatal(err)
	}
	// What an older release left: the tag alone.
	if err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(key(kindTagBy, string(md), repo, "latest")); err != nil {
			return err
		}
		return txn.Delete(key(kindIndexed, tagIndexName))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir, Options{})
	s.meta.Lock()
	s.mu.Lock()
	s.takeLocked(evictCand{d: md, size: s.blobs[md].size})
	s.mu.Unlock()
	err := s.dropBlobLocked(md)
	s.meta.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Tag(repo, "latest"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tag of the evicted manifest, indexed at open: %v", err)
	}
}

// TestTagIndexOfPreviousRelease: the store of a data dir written by the
// release before data dir formats (node/testdata) gets an index entry
// for every tag it held when it opens.
func TestTagIndexOfPreviousRelease(t *testing.T) {
	if os.Getenv(encryptedSuiteEnv) != "" {
		t.Skip("the fixture was written without encryption")
	}
	dir := untarStore(t, "../node/testdata/datadir-format0.tar.gz")
	s := openTest(t, dir, Options{})
	tags := 0
	if err := s.db.View(func(txn *badger.Txn) error {
		if _, err := getValue(txn, key(kindIndexed, tagIndexName)); err != nil {
			return fmt.Errorf("index mark: %w", err)
		}
		return scan(txn, []byte{kindTag}, func(k, v []byte) error {
			tags++
			d, _, err := decodeTag(v)
			if err != nil {
				return err
			}
			tag := lastField(k)
			repo := string(k[1 : len(k)-len(tag)-1])
			if _, err := getValue(txn, key(kindTagBy, string(d), repo, tag)); err != nil {
				return fmt.Errorf("tag %s:%s not indexed: %w", repo, tag, err)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if tags == 0 {
		t.Fatal("the fixture held no tags")
	}
}
