package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// BackupSuffix names the copy kept of a hand-written hosts.toml that
// WriteFiles replaces.
const BackupSuffix = ".shoal-backup"

// Written is what WriteFiles did with one file.
type Written struct {
	Path      string // the hosts.toml
	Unchanged bool   // it already held this content and was left alone
	// Backup is set when a hand-written file was replaced: the copy of it
	// that is kept.
	Backup string
	// BackupExisted says that Backup was already there, and was kept
	// rather than overwritten with this hand-written file.
	BackupExisted bool
}

// String reports w in one line: what was done, then the path.
func (w Written) String() string {
	switch {
	case w.Unchanged:
		return "unchanged " + w.Path
	case w.Backup != "" && w.BackupExisted:
		return "wrote (replacing a hand-written file; " + w.Backup + " already exists and was kept) " + w.Path
	case w.Backup != "":
		return "wrote (previous file kept as " + w.Backup + ") " + w.Path
	}
	return "wrote " + w.Path
}

// Print writes each file to w after a comment naming its path under
// DefaultConfigPath, with a blank line between files.
func Print(w io.Writer, files []File) error {
	for i, f := range files {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "# %s\n%s", f.Path(DefaultConfigPath), f.Body); err != nil {
			return err
		}
	}
	return nil
}

// WriteFiles writes dir/<registry>/hosts.toml for each file, creating the
// directories, and says what it did with each. On an error it returns
// what it did before.
//
// Each file is replaced atomically (temporary file in the same directory,
// fsync, rename, fsync of the directory), so containerd never reads a
// half-written file. A file with the same content is left alone. A
// hand-written file (one that does not start with Marker) is first copied
// to its name plus BackupSuffix, unless that backup already exists.
func WriteFiles(dir string, files []File) ([]Written, error) {
	done := make([]Written, 0, len(files))
	for _, f := range files {
		w, err := writeFile(f.Path(dir), f.Body)
		if err != nil {
			return done, err
		}
		done = append(done, w)
	}
	return done, nil
}

func writeFile(path string, body []byte) (Written, error) {
	w := Written{Path: path}
	d := filepath.Dir(path)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return w, fmt.Errorf("creating %s: %w", d, err)
	}
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return w, fmt.Errorf("reading %s: %w", path, err)
	case bytes.Equal(old, body):
		w.Unchanged = true
		return w, nil
	case !bytes.HasPrefix(old, []byte(Marker)):
		backup := path + BackupSuffix
		if _, err := os.Stat(backup); errors.Is(err, fs.ErrNotExist) {
			if err := atomicWrite(backup, old); err != nil {
				return w, fmt.Errorf("backing up %s: %w", path, err)
			}
		} else {
			w.BackupExisted = true
		}
		w.Backup = backup
	}
	if err := atomicWrite(path, body); err != nil {
		return w, err
	}
	return w, nil
}

func atomicWrite(path string, body []byte) (err error) {
	d := filepath.Dir(path)
	tmp, err := os.CreateTemp(d, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(body); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; containerd and operators read it.
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// The rename is durable only once the directory is synced; a failure
	// here is not worth failing the write for on filesystems that refuse it.
	if dh, derr := os.Open(d); derr == nil {
		_ = dh.Sync()
		_ = dh.Close()
	}
	return nil
}
