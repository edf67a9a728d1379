package node

import (
	"io/fs"
	"os"
	"path/filepath"
)

// privateDataDir makes dir the node's alone: it creates it 0700, or makes
// an existing one 0700, and says whether it was readable by others. A
// data dir that existed before the node (a DaemonSet's hostPath
// DirectoryOrCreate makes it 0755) would otherwise leave blobs and
// metadata readable by any user of the host. Files created later are
// unreachable through the 0700 directory whatever their mode.
func privateDataDir(dir string) (wasOpen bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return false, err
	}
	if fi.Mode().Perm() == 0o700 {
		return false, nil
	}
	return true, os.Chmod(dir, 0o700)
}

// privateModes makes everything under dir 0700 (directories) or 0600
// (files): once, for a data dir that was readable by others, after the
// store has opened what it holds.
func privateModes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		mode := fs.FileMode(0o600)
		if d.IsDir() {
			mode = 0o700
		}
		return os.Chmod(p, mode)
	})
}
