package cache

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrEncryptionKey is returned by Open when the key does not fit the
// store: a wrong key, a key for a store created without one, or no key
// for an encrypted store.
var ErrEncryptionKey = errors.New("cache: encryption key does not match the store")

// encryptionFile marks an encrypted store and holds a value derived from
// its key, so a wrong key is refused before anything is read with it.
const encryptionFile = "encryption"

const encryptionFileHeader = "shoal-cache-encryption-v1 "

// checkEncryption makes sure enc (nil: no encryption) is how the store
// in dir was created, marking a new store opened with a key as encrypted.
func checkEncryption(dir string, enc *encryption) error {
	p := filepath.Join(dir, encryptionFile)
	b, err := os.ReadFile(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if enc == nil {
			return nil
		}
		used, err := storeUsed(dir)
		if err != nil {
			return fmt.Errorf("cache: %w", err)
		}
		if used {
			return fmt.Errorf("%w: the store in %s was created without encryption; start an encrypted store in an empty directory", ErrEncryptionKey, dir)
		}
		return writeFileSync(p, []byte(encryptionFileHeader+hex.EncodeToString(enc.checkValue())+"\n"))
	case err != nil:
		return fmt.Errorf("cache: %w", err)
	}
	if enc == nil {
		return fmt.Errorf("%w: the store in %s is encrypted; an encryption key is needed to open it", ErrEncryptionKey, dir)
	}
	s, ok := strings.CutPrefix(strings.TrimSpace(string(b)), encryptionFileHeader)
	want, herr := hex.DecodeString(s)
	if !ok || herr != nil {
		return fmt.Errorf("cache: %s is corrupt", p)
	}
	if subtle.ConstantTimeCompare(want, enc.checkValue()) != 1 {
		return fmt.Errorf("%w: wrong encryption key for the store in %s", ErrEncryptionKey, dir)
	}
	return nil
}

// storeUsed reports whether a store already holds metadata, blobs or
// uploads.
func storeUsed(dir string) (bool, error) {
	for _, sub := range []string{"meta", "blobs", "uploads"} {
		es, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if len(es) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// writeFileSync writes a small file durably: to a temporary name, fsynced,
// renamed into place, with its directory synced.
func writeFileSync(p string, b []byte) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		err = syncDir(filepath.Dir(p))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// ParseKey reads an encryption key as found in a key file: KeySize raw
// bytes (head -c 32 /dev/urandom), or their hex or base64 encoding with
// optional surrounding whitespace.
func ParseKey(b []byte) ([]byte, error) {
	if len(b) == KeySize {
		// Random bytes are all printable with odds of about 1e-14: text
		// this long is a mistake (say, the hex of a 16-byte key), not a
		// key with a quarter of the entropy it seems to have.
		if isPrintable(b) {
			return nil, fmt.Errorf("the file holds %d characters of text; a text key must be %d hex digits or base64 of %d bytes", len(b), 2*KeySize, KeySize)
		}
		return append([]byte(nil), b...), nil
	}
	s := string(bytes.TrimSpace(b))
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes, raw or as hex or base64; the file has %d bytes that are none of these (make one with: head -c %d /dev/urandom > FILE)", KeySize, len(b), KeySize)
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// ReadKeyFile reads and parses the encryption key file path.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
