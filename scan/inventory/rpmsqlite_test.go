package inventory

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sqliteFixture is the rpmdb.sqlite rpm 4.18 wrote (testdata/rpm/README.md).
func sqliteFixture(t testing.TB) []byte {
	t.Helper()
	gz, err := os.ReadFile(filepath.Join("testdata", "rpm", "sle15-dive.rpmdb.sqlite.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rpmQA renders entries as the --qf of testdata/rpm/sle15-dive.rpm-qa.txt.
func rpmQA(entries []rpmEntry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "%s %d %s %s %s %s %d\n", e.Name, e.Epoch, e.Version, e.Release, e.Arch, e.SourceRPM, len(e.Files))
	}
	return b.String()
}

// TestReadRPMSQLite reads the database rpm wrote and expects what rpm -qa
// printed for it, and the same headers as the other formats give.
func TestReadRPMSQLite(t *testing.T) {
	entries, err := readRPMSQLite(sqliteFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rpmQA(entries), testdataFile(t, "rpm", "sle15-dive.rpm-qa.txt"); got != want {
		t.Errorf("got\n%s\nrpm -qa printed\n%s", got, want)
	}
	ndb, err := readRPMNDB([]byte(testdataFile(t, "rpm", "sle15-bci.Packages.db")))
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := readRPMBDB([]byte(testdataFile(t, "rpm", "syft-coverage.Packages")))
	if err != nil {
		t.Fatal(err)
	}
	if want := append(ndb, bdb...); !slices.EqualFunc(entries, want, rpmEntryEqual) {
		t.Errorf("sqlite %+v\nndb and Berkeley DB %+v", entries, want)
	}
	if got := entries[1].Files[0]; got != "/usr/lib64/.libgmp.so.10.hmac" {
		t.Errorf("libgmp10's first file %q", got)
	}
}

func rpmEntryEqual(a, b rpmEntry) bool {
	return a.Name == b.Name && a.Version == b.Version && a.Release == b.Release && a.Arch == b.Arch &&
		a.SourceRPM == b.SourceRPM && a.Epoch == b.Epoch && slices.Equal(a.Files, b.Files)
}

// TestReadRPMSQLiteCorrupt damages the real database where a careless
// reader would index out of range, loop or allocate without bound; each
// must end in an error.
func TestReadRPMSQLiteCorrupt(t *testing.T) {
	orig := sqliteFixture(t)
	f, err := openSQLite(orig)
	if err != nil {
		t.Fatal(err)
	}
	root, err := f.tableRoot("Packages")
	if err != nil {
		t.Fatal(err)
	}
	ps := int(f.pageSize)
	if orig[(int(root)-1)*ps] != sqliteInteriorTable {
		t.Fatalf("Packages root is of type %#x, want an interior page", orig[(int(root)-1)*ps])
	}
	// The root's first child, a leaf.
	rootOff := (int(root) - 1) * ps
	leaf := int(binary.BigEndian.Uint32(orig[rootOff+int(binary.BigEndian.Uint16(orig[rootOff+12:])):]))
	leafOff := (leaf - 1) * ps
	if orig[leafOff] != sqliteLeafTable {
		t.Fatalf("page %d is of type %#x, want a leaf", leaf, orig[leafOff])
	}
	// The first cell of the Packages leaf whose payload overflows, and its
	// first overflow page.
	cellPtr, overflowPage, overflowPtr, payloadSize, blob := -1, -1, -1, 0, -1
	for i := range int(binary.BigEndian.Uint16(orig[leafOff+3:])) {
		c := leafOff + int(binary.BigEndian.Uint16(orig[leafOff+8+2*i:]))
		size, n := sqliteVarint(orig[c:])
		if int64(size) > f.usable-35 {
			_, m := sqliteVarint(orig[c+n:])
			u := f.usable
			minLocal := (u-12)*32/255 - 23
			local := minLocal + (int64(size)-minLocal)%(u-4)
			if local > u-35 {
				local = minLocal
			}
			cellPtr = leafOff + 8 + 2*i
			overflowPtr = c + n + m + int(local)
			overflowPage = int(binary.BigEndian.Uint32(orig[overflowPtr:]))
			payloadSize = int(size)
			blob = c + n + m + int(orig[c+n+m]) // after the record header
			if n != 2 {
				t.Fatalf("payload size in %d bytes, want 2", n)
			}
			break
		}
	}
	if cellPtr < 0 {
		t.Fatal("no overflowing cell in the fixture")
	}
	cell := leafOff + int(binary.BigEndian.Uint16(orig[cellPtr:]))
	ovOff := (overflowPage - 1) * ps
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"not sqlite", func(b []byte) []byte { return []byte("not a database") }},
		{"page size not a power of two", func(b []byte) []byte { binary.BigEndian.PutUint16(b[16:], 3000); return b }},
		{"all reserved", func(b []byte) []byte { b[20] = 255; return b }},
		{"truncated to the header", func(b []byte) []byte { return b[:100] }},
		{"truncated in half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"schema page of another type", func(b []byte) []byte { b[100] = 0x0a; return b }},
		{"schema cell count past the page", func(b []byte) []byte { binary.BigEndian.PutUint16(b[103:], 0xffff); return b }},
		{"no Packages table", func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("tablePackagesPackages"), []byte("tableXackagesPackages"))
		}},
		{"Packages root past the end", func(b []byte) []byte {
			// Every copy: page 1 still holds a stale one in its free space.
			return bytes.ReplaceAll(b, []byte("tablePackagesPackages"+string(rune(root))), []byte("tablePackagesPackages\x7f"))
		}},
		{"cell pointer past the page", func(b []byte) []byte { binary.BigEndian.PutUint16(b[cellPtr:], uint16(ps-1)); return b }},
		{"cell pointer into the header", func(b []byte) []byte { binary.BigEndian.PutUint16(b[cellPtr:], 2); return b }},
		{"payload size near 2^63", func(b []byte) []byte {
			copy(b[cell:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
			return b
		}},
		// One usable-4 more bytes keeps the same bytes in the page and
		// needs a second overflow page, which is the first again or none.
		{"overflow chain loops", func(b []byte) []byte {
			putVarint2(t, b[cell:], payloadSize+int(f.usable)-4)
			binary.BigEndian.PutUint32(b[ovOff:], uint32(overflowPage))
			return b
		}},
		{"overflow chain ends early", func(b []byte) []byte { putVarint2(t, b[cell:], payloadSize+int(f.usable)-4); return b }},
		{"overflow chain past the end", func(b []byte) []byte { binary.BigEndian.PutUint32(b[overflowPtr:], 1<<30); return b }},
		{"overflow chain into the schema page", func(b []byte) []byte { binary.BigEndian.PutUint32(b[overflowPtr:], 1); return b }},
		{"interior page points at itself", func(b []byte) []byte { binary.BigEndian.PutUint32(b[rootOff+8:], uint32(root)); return b }},
		{"leaf reached twice", func(b []byte) []byte { binary.BigEndian.PutUint32(b[rootOff+8:], uint32(leaf)); return b }},
		{"leaf of another type", func(b []byte) []byte { b[leafOff] = 0x0a; return b }},
		{"header index count near 2^31", func(b []byte) []byte { binary.BigEndian.PutUint32(b[blob:], 0x7fffffff); return b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.damage(slices.Clone(orig))
			if got, err := readRPMSQLite(b); err == nil {
				t.Errorf("no error; got %d entries", len(got))
			}
		})
	}
}

func TestSQLiteVarint(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want uint64
		n    int
	}{
		{[]byte{0x00}, 0, 1},
		{[]byte{0x7f}, 127, 1},
		{[]byte{0x81, 0x00}, 128, 2},
		{[]byte{0x82, 0x80, 0x01}, 1<<15 | 1, 3},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1<<64 - 1, 9},
		{[]byte{0x81}, 0, 0},
		{nil, 0, 0},
	} {
		if v, n := sqliteVarint(tc.in); v != tc.want || n != tc.n {
			t.Errorf("sqliteVarint(%x) = %d, %d; want %d, %d", tc.in, v, n, tc.want, tc.n)
		}
	}
}

// putVarint2 writes v as a two-byte SQLite varint.
func putVarint2(t *testing.T, b []byte, v int) {
	if v >= 1<<14 {
		t.Fatalf("%d does not fit in two bytes", v)
	}
	b[0], b[1] = byte(0x80|v>>7), byte(v&0x7f)
}

// TestScanRPMDatabaseFormats finds each format where its distributions
// keep it, and reads only the newest format when several are present.
func TestScanRPMDatabaseFormats(t *testing.T) {
	sqlite := string(sqliteFixture(t))
	ndb := testdataFile(t, "rpm", "sle15-bci.Packages.db")
	bdb := testdataFile(t, "rpm", "libuuid.Packages")
	const (
		rocky = "ID=\"rocky\"\nVERSION_ID=\"9.3\"\n"
		sles  = "ID=\"sles\"\nVERSION_ID=\"15.5\"\n"
	)
	tests := []struct {
		name   string
		layers [][]entry
		want   []string // purls
	}{
		{"Rocky 9: rpmdb.sqlite", [][]entry{{file("etc/os-release", rocky), file("var/lib/rpm/rpmdb.sqlite", sqlite)}}, []string{
			"pkg:rpm/rocky/system-user-root@20190513-3.3.1?arch=noarch&distro=rocky-9.3",
			"pkg:rpm/rocky/libgmp10@6.1.2-4.6.1?arch=x86_64&distro=rocky-9.3",
			"pkg:rpm/rocky/libcap2@2.26-4.6.1?arch=x86_64&distro=rocky-9.3",
			"pkg:rpm/rocky/libbz2-1@1.0.6-5.11.1?arch=x86_64&distro=rocky-9.3",
			"pkg:rpm/rocky/dive@0.9.2-1?arch=x86_64&distro=rocky-9.3",
		}},
		{"SLES 15: Packages.db in usr/lib/sysimage, var/lib/rpm a symlink", [][]entry{{
			file("etc/os-release", sles), symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm"), file("usr/lib/sysimage/rpm/Packages.db", ndb)}}, []string{
			"pkg:rpm/sles/system-user-root@20190513-3.3.1?arch=noarch&distro=sles-15.5",
			"pkg:rpm/sles/libgmp10@6.1.2-4.6.1?arch=x86_64&distro=sles-15.5",
			"pkg:rpm/sles/libcap2@2.26-4.6.1?arch=x86_64&distro=sles-15.5",
			"pkg:rpm/sles/libbz2-1@1.0.6-5.11.1?arch=x86_64&distro=sles-15.5",
		}},
		{"sqlite beside a stale Berkeley DB: sqlite only", [][]entry{{
			file("etc/os-release", rocky), file("var/lib/rpm/Packages", bdb)}, {file("var/lib/rpm/rpmdb.sqlite", sqlite)}}, []string{
			"pkg:rpm/rocky/system-user-root@20190513-3.3.1?arch=noarch&distro=rocky-9.3",
			"pkg:rpm/rocky/libgmp10@6.1.2-4.6.1?arch=x86_64&distro=rocky-9.3",
			"pkg:rpm/rocky/libcap2@2.26-4.6.1?arch=x86_64&distro=rocky-9.3",
			"pkg:rpm/rocky/libbz2-1@1.0.6-5.11.1?arch=x86_64&distro=rocky-9.3",
			"pkg:rpm/rocky/dive@0.9.2-1?arch=x86_64&distro=rocky-9.3",
		}},
		{"damaged sqlite: nothing, no error", [][]entry{{file("var/lib/rpm/rpmdb.sqlite", sqlite[:len(sqlite)/3])}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := scanEntries(t, tc.layers)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range inv.Packages {
				got = append(got, p.PURL)
			}
			want := slices.Sorted(slices.Values(tc.want)) // Scan sorts packages
			if !slices.Equal(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
}
