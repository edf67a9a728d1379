package node

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A data dir that already exists readable by others (a DaemonSet's
// hostPath DirectoryOrCreate makes it 0755) is made the node's alone, and
// nothing in it is left readable by others (issue 10, finding 7).
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(filepath.Join(dir, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "store", "left-behind"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{DataDir: dir}, "test")
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: readable by others", p, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
