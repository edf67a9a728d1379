package cache

import (
	"errors"
	"os"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// dropBlobLocked deletes the metadata of d (already out of s.blobs), its
// links, the manifest records whose bytes it is, and then its file. The
// caller holds s.meta.
func (s *Store) dropBlobLocked(d digest.Digest) error {
	return s.dropBlobsLocked([]digest.Digest{d})
}

// dropBlobsLocked is dropBlobLocked for several blobs in one metadata
// transaction: with synced writes each transaction costs an fsync, which
// was most of what evicting a blob took. The metadata goes first and the
// files after, as for one blob: a crash in between leaves files without
// a record, which Open re-hashes and adopts, never a record (or a tag)
// without its file. The caller holds s.meta.
func (s *Store) dropBlobsLocked(ds []digest.Digest) error {
	_, err := s.update(func(mt *metaTxn) error {
		for _, d := range ds {
			if err := mt.dropBlobMeta(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if err := os.Remove(s.blobPath(d)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dropBlobMeta deletes the record of blob d, its links and the manifest
// records whose bytes it is.
func (mt *metaTxn) dropBlobMeta(d digest.Digest) error {
	if err := mt.txn.Delete(key(kindBlob, string(d))); err != nil {
		return err
	}
	if err := mt.txn.Delete(key(kindPieces, string(d))); err != nil {
		return err
	}
	var repos []string
	if err := scanKeys(mt.txn, key(kindBlobLink, string(d), ""), func(k []byte) error {
		repos = append(repos, lastField(k))
		return nil
	}); err != nil {
		return err
	}
	for _, repo := range repos {
		if err := mt.unlink(repo, d); err != nil {
			return err
		}
	}
	var recRepos []string
	if err := scanKeys(mt.txn, key(kindManifestBy, string(d), ""), func(k []byte) error {
		recRepos = append(recRepos, lastField(k))
		return nil
	}); err != nil {
		return err
	}
	for _, repo := range recRepos {
		rec, err := getRecord(mt.txn, repo, d)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := mt.removeRecord(repo, &rec); err != nil {
			return err
		}
	}
	return nil
}

// isTxnTooBig reports whether err is badger refusing a transaction for
// its size, which dropping fewer blobs at once avoids.
func isTxnTooBig(err error) bool {
	return errors.Is(err, badger.ErrTxnTooBig)
}
