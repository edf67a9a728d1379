package hosttar

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestReader(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tree", "sub", "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f", filepath.Join(dir, "tree", "link")); err != nil {
		t.Fatal(err)
	}
	// A top-level symlink is followed.
	if err := os.Symlink("tree/sub/f", filepath.Join(dir, "top")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		paths []Path
		want  []string
	}{
		{name: "a tree at the top, its root left out", paths: []Path{{Host: filepath.Join(dir, "tree")}}, want: []string{"link", "sub/", "sub/f"}},
		{name: "a tree under a name", paths: []Path{{Name: "opt/t", Host: filepath.Join(dir, "tree")}}, want: []string{"opt/t/", "opt/t/link", "opt/t/sub/", "opt/t/sub/f"}},
		{name: "a symlinked file, followed", paths: []Path{{Name: "etc/f", Host: filepath.Join(dir, "top")}}, want: []string{"etc/f"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reader(tt.paths...)
			defer r.Close()
			tr := tar.NewReader(r)
			var got []string
			for {
				hdr, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, hdr.Name)
				switch hdr.Name {
				case "link", "opt/t/link":
					if hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != "sub/f" {
						t.Errorf("%s: type %c -> %q, want a symlink to sub/f", hdr.Name, hdr.Typeflag, hdr.Linkname)
					}
				case "sub/f", "opt/t/sub/f", "etc/f":
					if b, _ := io.ReadAll(tr); string(b) != "hello" {
						t.Errorf("%s holds %q, want hello", hdr.Name, b)
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("members %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := io.ReadAll(Reader(Path{Host: filepath.Join(dir, "missing")})); err == nil {
		t.Fatal("a missing host path read without an error")
	}
}
