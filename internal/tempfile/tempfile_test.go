package tempfile

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestUnlinked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scratch")
	f, err := Unlinked(dir, "x-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the file is still linked: %v", entries)
	}
	if _, err := f.WriteString("usable"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(f); string(b) != "usable" {
		t.Fatalf("read %q", b)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v", fi, err)
	}
}
