package cache

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// Badger keys are a one-byte kind followed by fields separated by sep.
// Repository names, tags, digests and upload ids never contain sep.
const sep = 0

const (
	kindBlob       = 'b' // b digest → blobMeta
	kindBlobLink   = 'r' // r digest sep repo → local flag
	kindRepoLink   = 'l' // l repo sep digest → local flag
	kindManifest   = 'm' // m repo sep digest → JSON ManifestRecord
	kindManifestBy = 'M' // M digest sep repo → nothing (records by digest)
	kindUse        = 'u' // u blob sep repo sep manifest → nothing (records needing a blob)
	kindHeld       = 'h' // h blob sep repo sep manifest → nothing (records through which repo holds a blob)
	kindTag        = 't' // t repo sep tag → tagValue
	kindTagBy      = 'T' // T digest sep repo sep tag → nothing (tags by what they point at; tagindex.go)
	kindIndexed    = 'I' // I name → nothing (an index Open built for metadata written before it)
	kindReferrer   = 'f' // f repo sep subject sep manifest → JSON descriptor (pushed)
	kindUpstream   = 'g' // g repo sep subject → JSON []descriptor (cached upstream list)
	kindRepo       = 'p' // p repo → local flag
	kindUpload     = 'U' // U id → JSON uploadMeta
	kindPieces     = 'P' // P digest → the blob's sha256 piece digests, raw, concatenated
)

// key builds a key of kind from parts. A trailing "" part yields a prefix
// ending in sep, for scanning everything under the preceding parts.
func key(kind byte, parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, kind)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	return b
}

// lastField returns the part of k after its last sep.
func lastField(k []byte) string {
	return string(k[bytes.LastIndexByte(k, sep)+1:])
}

// blobMeta is the persisted record of a complete blob.
func encodeBlobMeta(size, atime int64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(size))
	binary.BigEndian.PutUint64(b[8:], uint64(atime))
	return b
}

func decodeBlobMeta(b []byte) (size, atime int64, err error) {
	if len(b) != 16 {
		return 0, 0, fmt.Errorf("cache: corrupt blob record (%d bytes)", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:])), nil
}

func encodeTag(d digest.Digest, checked int64) []byte {
	b := make([]byte, 8, 8+len(d))
	binary.BigEndian.PutUint64(b, uint64(checked))
	return append(b, d...)
}

func decodeTag(b []byte) (digest.Digest, int64, error) {
	if len(b) < 8 {
		return "", 0, errors.New("cache: corrupt tag record")
	}
	return digest.Digest(b[8:]), int64(binary.BigEndian.Uint64(b)), nil
}

func boolByte(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// validDigest accepts sha256 and sha512 digests in canonical form.
func validDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%w: digest %q: %v", ErrInvalid, d, err)
	}
	switch d.Algorithm() {
	case digest.SHA256, digest.SHA512:
		return nil
	}
	return fmt.Errorf("%w: digest algorithm %q not supported", ErrInvalid, d.Algorithm())
}

// validName accepts repository names and tags usable in keys. The oci
// package enforces the real grammars; this only protects the key encoding.
func validName(kind, s string) error {
	if s == "" || strings.IndexByte(s, sep) >= 0 || len(s) > 4096 {
		return fmt.Errorf("%w: %s %q", ErrInvalid, kind, s)
	}
	return nil
}

// scanKeys calls fn with each key (copied) under prefix, without values.
func scanKeys(txn *badger.Txn, prefix []byte, fn func(k []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := fn(it.Item().KeyCopy(nil)); err != nil {
			return err
		}
	}
	return nil
}

// scan calls fn with each key and value (both copied) under prefix.
func scan(txn *badger.Txn, prefix []byte, fn func(k, v []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		if err := fn(item.KeyCopy(nil), v); err != nil {
			return err
		}
	}
	return nil
}

// hasPrefix reports whether any key starts with prefix.
func hasPrefix(txn *badger.Txn, prefix []byte) bool {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = prefix
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Rewind()
	return it.Valid()
}

// getValue returns the value of k, or ErrNotFound.
func getValue(txn *badger.Txn, k []byte) ([]byte, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}
