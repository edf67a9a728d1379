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
// transaction: with synced writes each transaction costs an fsync. What
// to delete is read first in a read-only transaction, because badger
// sorts a write transaction's pending writes for every iterator opened
// in it, which made a transaction of many blobs quadratic. The caller
// holds s.meta, so nothing changes between the read and the write; and
// what dropping one blob deletes is found only through keys naming that
// blob, which dropping another never deletes, so reading them all first
// finds what dropping them one by one would. The metadata goes first and
// the files after, as for one blob: a crash in between leaves files
// without a record, which Open re-hashes and adopts, never a record (or
// a tag) without its file.
func (s *Store) dropBlobsLocked(ds []digest.Digest) error {
	if err := s.dropBlobsMetaLocked(ds); err != nil {
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

// dropBlobsMetaLocked is the metadata half of dropBlobsLocked, in one
// transaction.
func (s *Store) dropBlobsMetaLocked(ds []digest.Digest) error {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		for _, d := range ds {
			var err error
			if keys, err = appendDropKeys(txn, d, keys); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The in-memory link counts need no change: every blob in ds is
	// already out of s.blobs, and only keys naming them go.
	_, err = s.update(func(mt *metaTxn) error {
		for _, k := range keys {
			if err := mt.txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// appendDropKeys appends to keys those dropping blob d deletes: its
// record and piece digests, its links, and the manifest records whose
// bytes it is with their indexes and the tags pointing at them.
func appendDropKeys(txn *badger.Txn, d digest.Digest, keys [][]byte) ([][]byte, error) {
	keys = append(keys, key(kindBlob, string(d)), key(kindPieces, string(d)))
	if err := scanKeys(txn, key(kindBlobLink, string(d), ""), func(k []byte) error {
		keys = append(keys, k, key(kindRepoLink, lastField(k), string(d)))
		return nil
	}); err != nil {
		return nil, err
	}
	var recRepos []string
	if err := scanKeys(txn, key(kindManifestBy, string(d), ""), func(k []byte) error {
		recRepos = append(recRepos, lastField(k))
		keys = append(keys, k)
		return nil
	}); err != nil {
		return nil, err
	}
	for _, repo := range recRepos {
		rec, err := getRecord(txn, repo, d)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, key(kindManifest, repo, string(d)))
		keys = append(keys, recordIndexKeys(repo, &rec)...)
		tags, err := tagsAt(txn, repo, d, nil)
		if err != nil {
			return nil, err
		}
		keys = append(keys, tags...)
	}
	return keys, nil
}

// isTxnTooBig reports whether err is badger refusing a transaction for
// its size, which dropping fewer blobs at once avoids.
func isTxnTooBig(err error) bool {
	return errors.Is(err, badger.ErrTxnTooBig)
}
