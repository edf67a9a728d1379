// Package tempfile makes scratch files that clean themselves up.
package tempfile

import "os"

// Unlinked is a new temporary file in dir (created 0700 if missing) that
// is already unlinked, so it disappears when closed, even after a crash.
func Unlinked(dir, pattern string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
