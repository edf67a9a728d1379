package cache

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// Tags are indexed by the manifest they point at (T digest repo tag) as
// well as by name, so that removing a manifest record finds its own tags
// instead of reading every tag of its repository: eviction removes
// thousands of records, and a mirrored repository can hold thousands of
// tags. Every tag change goes through setTag and deleteTag.

// tagIndexName marks, under kindIndexed, that the tag index is complete.
const tagIndexName = "tags-by-digest"

// setTag points tag of repo at d, moving its index entry.
func (mt *metaTxn) setTag(repo, tag string, d digest.Digest, checked int64) error {
	k := key(kindTag, repo, tag)
	if old, err := getValue(mt.txn, k); err == nil {
		if od, _, err := decodeTag(old); err == nil && od != d {
			if err := mt.txn.Delete(key(kindTagBy, string(od), repo, tag)); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := mt.txn.Set(k, encodeTag(d, checked)); err != nil {
		return err
	}
	return mt.txn.Set(key(kindTagBy, string(d), repo, tag), nil)
}

// deleteTag removes tag from repo with its index entry, or returns
// ErrNotFound.
func (mt *metaTxn) deleteTag(repo, tag string) error {
	k := key(kindTag, repo, tag)
	v, err := getValue(mt.txn, k)
	if err != nil {
		return err
	}
	if d, _, err := decodeTag(v); err == nil {
		if err := mt.txn.Delete(key(kindTagBy, string(d), repo, tag)); err != nil {
			return err
		}
	}
	return mt.txn.Delete(k)
}

// tagsAt lists the keys of the tags of repo that point at d, and of
// their index entries: what removing the manifest d of repo deletes. It
// reads only d's entries, and checks each tag so that a stale entry
// never removes a tag that moved (the stale entry itself is listed). It
// adds the keys it read to *reads unless reads is nil (tests count them).
func tagsAt(txn *badger.Txn, repo string, d digest.Digest, reads *int) ([][]byte, error) {
	var keys [][]byte
	err := scanKeys(txn, key(kindTagBy, string(d), repo, ""), func(ik []byte) error {
		if reads != nil {
			*reads += 2
		}
		keys = append(keys, ik)
		tk := key(kindTag, repo, lastField(ik))
		v, err := getValue(txn, tk)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if td, _, err := decodeTag(v); err == nil && td == d {
			keys = append(keys, tk)
		}
		return nil
	})
	return keys, err
}

// indexTags builds the tag index of metadata written before it existed,
// once: every tag is read and its entry written, then the index marked
// complete. Interrupted, it runs again on the next Open; entries are
// idempotent, and tags changed meanwhile were indexed by setTag.
func indexTags(db *badger.DB) error {
	done := false
	var entries [][]byte
	err := db.View(func(txn *badger.Txn) error {
		if _, err := getValue(txn, key(kindIndexed, tagIndexName)); err == nil {
			done = true
			return nil
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		return scan(txn, []byte{kindTag}, func(k, v []byte) error {
			d, _, err := decodeTag(v)
			if err != nil {
				return nil // a corrupt tag points nowhere to index
			}
			rest := k[1:]
			i := len(rest) - len(lastField(k)) - 1
			if i <= 0 {
				return nil
			}
			entries = append(entries, key(kindTagBy, string(d), string(rest[:i]), lastField(k)))
			return nil
		})
	})
	if err != nil || done {
		return err
	}
	if len(entries) == 0 {
		// Nothing to index, and no mark either: an empty store stays
		// unwritten, and one whose tags all came later reads them once
		// more at its next open.
		return nil
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range entries {
		if err := wb.Set(k, nil); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("cache: index tags: %w", err)
	}
	// The mark goes in only after the entries are durable.
	return db.Update(func(txn *badger.Txn) error {
		return txn.Set(key(kindIndexed, tagIndexName), nil)
	})
}
