package cache

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// metaTxn is one badger update plus the in-memory link-count changes it
// implies, applied only once the transaction has committed.
type metaTxn struct {
	txn   *badger.Txn
	delta map[digest.Digest]*linkDelta
	// unlinked are blobs that lost a link or a record needing them; the
	// caller checks whether they can be freed.
	unlinked []digest.Digest
}

type linkDelta struct{ links, local int }

// update runs fn in a badger transaction and, if it commits, applies its
// link-count changes. The caller holds s.meta.
func (s *Store) update(fn func(mt *metaTxn) error) (*metaTxn, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := s.roomForMeta(); err != nil {
		return nil, err
	}
	var mt *metaTxn
	err := s.db.Update(func(txn *badger.Txn) error {
		mt = &metaTxn{txn: txn, delta: make(map[digest.Digest]*linkDelta)}
		return fn(mt)
	})
	if err != nil {
		return nil, s.writeFailed(err)
	}
	s.metaTxns.Add(1)
	s.mu.Lock()
	for d, ld := range mt.delta {
		if bi := s.blobs[d]; bi != nil {
			bi.links += ld.links
			bi.localLinks += ld.local
			if ld.links > 0 {
				bi.doomed = false
			}
		}
	}
	s.mu.Unlock()
	return mt, nil
}

func (mt *metaTxn) addDelta(d digest.Digest, links, local int) {
	ld := mt.delta[d]
	if ld == nil {
		ld = &linkDelta{}
		mt.delta[d] = ld
	}
	ld.links += links
	ld.local += local
}

// ensureRepo records repo, marking it local if local is set. It returns
// whether the repo is local afterwards.
func (mt *metaTxn) ensureRepo(repo string, local bool) (bool, error) {
	k := key(kindRepo, repo)
	v, err := getValue(mt.txn, k)
	switch {
	case errors.Is(err, ErrNotFound):
		return local, mt.txn.Set(k, boolByte(local))
	case err != nil:
		return false, err
	}
	was := len(v) == 1 && v[0] == 1
	if local && !was {
		return true, mt.txn.Set(k, boolByte(true))
	}
	return was, nil
}

// link links d into repo. A link is local when asked for or when the repo
// is local, so content of pushed repositories is never evicted; an
// existing mirrored link is upgraded, a local one is never downgraded.
func (mt *metaTxn) link(repo string, local bool, d digest.Digest) error {
	repoLocal, err := mt.ensureRepo(repo, local)
	if err != nil {
		return err
	}
	local = local || repoLocal
	rk := key(kindBlobLink, string(d), repo)
	v, err := getValue(mt.txn, rk)
	switch {
	case errors.Is(err, ErrNotFound):
		mt.addDelta(d, 1, b2i(local))
	case err != nil:
		return err
	case len(v) == 1 && v[0] == 1 || !local:
		return nil // already linked at least as strongly
	default:
		mt.addDelta(d, 0, 1)
	}
	if err := mt.txn.Set(rk, boolByte(local)); err != nil {
		return err
	}
	return mt.txn.Set(key(kindRepoLink, repo, string(d)), boolByte(local))
}

// unlink removes the link of d into repo, or returns ErrNotFound.
func (mt *metaTxn) unlink(repo string, d digest.Digest) error {
	rk := key(kindBlobLink, string(d), repo)
	v, err := getValue(mt.txn, rk)
	if err != nil {
		return err
	}
	mt.addDelta(d, -1, -b2i(len(v) == 1 && v[0] == 1))
	mt.unlinked = append(mt.unlinked, d)
	if err := mt.txn.Delete(rk); err != nil {
		return err
	}
	return mt.txn.Delete(key(kindRepoLink, repo, string(d)))
}

// getRecord reads the manifest record of d in repo.
func getRecord(txn *badger.Txn, repo string, d digest.Digest) (ManifestRecord, error) {
	var rec ManifestRecord
	v, err := getValue(txn, key(kindManifest, repo, string(d)))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("cache: corrupt manifest record %s@%s: %w", repo, d, err)
	}
	return rec, nil
}

// putRecord stores rec in repo with its indexes, replacing any earlier
// record of the same digest.
func (mt *metaTxn) putRecord(repo string, rec *ManifestRecord) error {
	if old, err := getRecord(mt.txn, repo, rec.Digest); err == nil {
		if err := mt.dropRecordIndexes(repo, &old); err != nil {
			return err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	v, err := recordValue(rec)
	if err != nil {
		return err
	}
	if err := mt.txn.Set(key(kindManifest, repo, string(rec.Digest)), v); err != nil {
		return err
	}
	if err := mt.txn.Set(key(kindManifestBy, string(rec.Digest), repo), nil); err != nil {
		return err
	}
	for _, b := range recordNeeds(rec) {
		if err := mt.txn.Set(key(kindUse, string(b), repo, string(rec.Digest)), nil); err != nil {
			return err
		}
	}
	for _, b := range rec.Held {
		if err := mt.txn.Set(key(kindHeld, string(b), repo, string(rec.Digest)), nil); err != nil {
			return err
		}
	}
	if rec.Subject != nil {
		ref := referrerOf(rec)
		desc, err := json.Marshal(ref)
		if err == nil && len(desc) > maxMetaValue {
			ref.Annotations = nil
			desc, err = json.Marshal(ref)
		}
		if err != nil {
			return err
		}
		if err := mt.txn.Set(key(kindReferrer, repo, string(rec.Subject.Digest), string(rec.Digest)), desc); err != nil {
			return err
		}
	}
	return nil
}

// dropRecordIndexes deletes the use, held and referrer entries of rec.
func (mt *metaTxn) dropRecordIndexes(repo string, rec *ManifestRecord) error {
	for _, k := range recordIndexKeys(repo, rec) {
		if err := mt.txn.Delete(k); err != nil {
			return err
		}
	}
	mt.unlinked = append(mt.unlinked, recordNeeds(rec)...)
	return nil
}

// recordIndexKeys lists the use, held and referrer keys of rec in repo.
func recordIndexKeys(repo string, rec *ManifestRecord) [][]byte {
	var keys [][]byte
	for _, b := range recordNeeds(rec) {
		keys = append(keys, key(kindUse, string(b), repo, string(rec.Digest)))
	}
	for _, b := range rec.Held {
		keys = append(keys, key(kindHeld, string(b), repo, string(rec.Digest)))
	}
	if rec.Subject != nil {
		keys = append(keys, key(kindReferrer, repo, string(rec.Subject.Digest), string(rec.Digest)))
	}
	return keys
}

// removeRecord deletes the manifest record rec of repo, its indexes and
// the tags of repo that point at it.
func (mt *metaTxn) removeRecord(repo string, rec *ManifestRecord) error {
	if err := mt.dropRecordIndexes(repo, rec); err != nil {
		return err
	}
	if err := mt.txn.Delete(key(kindManifest, repo, string(rec.Digest))); err != nil {
		return err
	}
	if err := mt.txn.Delete(key(kindManifestBy, string(rec.Digest), repo)); err != nil {
		return err
	}
	mt.unlinked = append(mt.unlinked, rec.Digest)
	stale, err := tagsAt(mt.txn, repo, rec.Digest, nil)
	if err != nil {
		return err
	}
	for _, k := range stale {
		if err := mt.txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// recordNeeds lists the blobs a manifest record keeps from being freed.
func recordNeeds(rec *ManifestRecord) []digest.Digest {
	out := make([]digest.Digest, 0, len(rec.Blobs)+len(rec.Children))
	out = append(out, rec.Blobs...)
	return append(out, rec.Children...)
}

// needed reports whether some manifest record needs blob d: as its own
// bytes or as a blob or child it references.
func needed(txn *badger.Txn, d digest.Digest) bool {
	return hasPrefix(txn, key(kindUse, string(d), "")) || hasPrefix(txn, key(kindManifestBy, string(d), ""))
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// maxMetaValue bounds one metadata value. Badger refuses a value larger
// than its value log file (valueLogFileSize, kept small so that the
// files it backs on disk stay small), and a manifest may carry megabytes
// of annotations (the OCI conformance suite's large manifest has 3.9 MB):
// its record and referrer descriptor are then kept without them. The
// manifest's bytes, stored as a blob, still carry them; a referrers
// answer lists such a manifest without its annotations.
const maxMetaValue = valueThreshold

// recordValue encodes rec, without its annotations when with them it
// would exceed maxMetaValue.
func recordValue(rec *ManifestRecord) ([]byte, error) {
	v, err := json.Marshal(rec)
	if err != nil || len(v) <= maxMetaValue {
		return v, err
	}
	slim := *rec
	slim.Annotations = nil
	return json.Marshal(&slim)
}
