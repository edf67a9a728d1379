package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestIndexTarOffsets checks that members are found at their offsets,
// with long (PAX) names and links, and that no name or link leaves the
// archive.
func TestIndexTarOffsets(t *testing.T) {
	pax := map[string]string{"comment": "x"}
	long := "dir/" + strings.Repeat("n", 200)
	b := tarOf(t,
		member{name: "./a", body: []byte("first"), pax: pax},
		member{name: long, body: []byte("long name"), pax: pax},
		member{name: "empty", pax: pax},
		member{name: "hard", typeflag: tar.TypeLink, linkname: "a"},
		member{name: "sub/soft", typeflag: tar.TypeSymlink, linkname: "../a"},
		member{name: "abs", typeflag: tar.TypeSymlink, linkname: "/a"},
		member{name: "chain", typeflag: tar.TypeSymlink, linkname: "hard"},
		member{name: "escape", typeflag: tar.TypeSymlink, linkname: "../../etc/passwd"},
		member{name: "../../up", body: []byte("confined")},
		member{name: "/rooted", body: []byte("relative")},
		member{name: "loop1", typeflag: tar.TypeSymlink, linkname: "loop2"},
		member{name: "loop2", typeflag: tar.TypeSymlink, linkname: "loop1"},
		member{name: "dir/", typeflag: tar.TypeDir},
	)
	ix, err := indexTar(bytes.NewReader(b), int64(len(b)), 100)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"a": "first", long: "long name", "empty": "",
		"hard": "first", "sub/soft": "first", "abs": "first", "chain": "first",
		"up": "confined", "rooted": "relative",
	} {
		got, err := ix.readFile(name, 100)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"escape", "etc/passwd", "loop1", "loop2", "dir", "../../up"} {
		if ix.has(name) {
			t.Errorf("%s is in the index", name)
		}
	}
	if _, err := ix.readFile("a", 4); err == nil || !strings.Contains(err.Error(), "a is 5 bytes, more than the 4 allowed") {
		t.Errorf("reading past the limit: %v", err)
	}
	if _, err := ix.readFile("nope", 4); !errors.Is(err, errAbsent) {
		t.Errorf("reading an absent file: %v", err)
	}
}

func TestIndexTarRefuses(t *testing.T) {
	three := tarOf(t, member{name: "a"}, member{name: "b"}, member{name: "c"})
	// tar.Writer drops GNU.sparse.* records: write others of the same
	// length and rename them. The data starts with the sparse map (one
	// region: offset 0, 1 byte) in a block of its own.
	sparse := tarOf(t, member{
		name: "s",
		body: append(append([]byte("1\n0\n1\n"), make([]byte, 512-6)...), 'x'),
		pax:  map[string]string{"XYZ.sparse.major": "1", "XYZ.sparse.minor": "0", "XYZ.sparse.realsize": "1"},
	})
	sparse = bytes.ReplaceAll(sparse, []byte("XYZ.sparse."), []byte("GNU.sparse."))
	whole := tarOf(t, member{name: "big", body: bytes.Repeat([]byte("x"), 4096)})
	for _, tt := range []struct {
		name string
		b    []byte
		size int64 // of the archive as given, if not len(b)
		max  int
		want string
	}{
		{name: "not a tar", b: []byte("hello, this is not an archive at all"), want: "not a readable tar archive"},
		{name: "more members than allowed", b: three, max: 1, want: "more than 1 entries"},
		{name: "sparse file", b: sparse, want: "s is a sparse file"},
		{name: "cut short", b: whole, size: 1024, want: "the archive is truncated: big is cut short"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size, max := int64(len(tt.b)), 100
			if tt.size != 0 {
				size = tt.size
			}
			if tt.max != 0 {
				max = tt.max
			}
			_, err := indexTar(bytes.NewReader(tt.b), size, max)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// Exactly the limit is fine.
	if _, err := indexTar(bytes.NewReader(three), int64(len(three)), 3); err != nil {
		t.Fatal(err)
	}
}

func TestCleanTarPath(t *testing.T) {
	for in, want := range map[string]string{
		"a":              "a",
		"./a":            "a",
		"/a":             "a",
		"a/../b":         "b",
		"../../etc/x":    "etc/x",
		"./":             "",
		".":              "",
		"/":              "",
		"a//b/":          "a/b",
		"blobs/sha256/x": "blobs/sha256/x",
	} {
		if got := cleanTarPath(in); got != want {
			t.Errorf("cleanTarPath(%q) = %q, want %q", in, got, want)
		}
	}
}
