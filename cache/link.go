package cache

import (
	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// LinkBlob makes the stored blob d part of repo, creating the repo if
// needed. A local link (or any link into a repository that has been
// pushed to) protects the blob from eviction. It returns ErrNotFound if d
// is not stored.
func (s *Store) LinkBlob(repo string, local bool, d digest.Digest) error {
	if err := validName("repository", repo); err != nil {
		return err
	}
	if validDigest(d) != nil {
		return ErrNotFound
	}
	s.meta.Lock()
	defer s.meta.Unlock()
	if _, err := s.StatBlob(d); err != nil {
		return err
	}
	_, err := s.update(func(mt *metaTxn) error { return mt.link(repo, local, d) })
	return err
}

// BlobLinked reports whether d is linked into repo.
func (s *Store) BlobLinked(repo string, d digest.Digest) bool {
	if validName("repository", repo) != nil || validDigest(d) != nil {
		return false
	}
	var ok bool
	_ = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(key(kindRepoLink, repo, string(d)))
		ok = err == nil
		return nil
	})
	return ok
}

// Holds reports whether repo holds blob d: linked into it, or, in a
// repository not pushed to here, the config or a distributable layer of a
// manifest recorded in it (ManifestRecord.Held). A pushed manifest links
// what its repository holds, so in a local repository whatever else its
// manifests list (a non-distributable layer, an index's child, a blob
// deleted since) is not the repository's.
func (s *Store) Holds(repo string, d digest.Digest) bool {
	if s.BlobLinked(repo, d) {
		return true
	}
	if validName("repository", repo) != nil || validDigest(d) != nil {
		return false
	}
	var ok bool
	_ = s.db.View(func(txn *badger.Txn) error {
		if v, err := getValue(txn, key(kindRepo, repo)); err == nil && len(v) == 1 && v[0] == 1 {
			return nil // local
		}
		ok = hasPrefix(txn, key(kindHeld, string(d), repo, ""))
		return nil
	})
	return ok
}

// UnlinkBlob removes d from repo. A blob that no repository links and no
// manifest record needs is then removed from the store (once its last
// reader closes, if it is open). It returns ErrNotFound if d is not
// linked into repo.
func (s *Store) UnlinkBlob(repo string, d digest.Digest) error {
	if validName("repository", repo) != nil || validDigest(d) != nil {
		return ErrNotFound
	}
	s.meta.Lock()
	mt, err := s.update(func(mt *metaTxn) error { return mt.unlink(repo, d) })
	var freed []digest.Digest
	if err == nil {
		freed = s.freeUnlinkedLocked(mt.unlinked)
	}
	s.meta.Unlock()
	s.notifyEvicted(freed)
	return err
}
