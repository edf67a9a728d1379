package vulndb_test

import (
	"archive/tar"
	"bytes"
	"compress/zlib"
	"context"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoal-dev/shoal/scan/inventory"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

// crateRecord is match_ecosystems_test.go's synthetic crates.io record.
const crateRecord = `{"id":"TEST-CRATE","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"crates.io","name":"tokio"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0-alpha.1"},{"fixed":"1.18.4"}]}]}]}`

// auditableELF is a minimal little-endian ELF64 executable whose only
// section besides the name table is cargo-auditable's .dep-v0 holding
// auditJSON, padded past the inventory's 4 KiB floor for executables.
func auditableELF(t *testing.T, auditJSON string) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write([]byte(auditJSON)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	const shstrtab = "\x00.dep-v0\x00.shstrtab\x00"
	dataOff := uint64(64)
	strOff := dataOff + uint64(z.Len())
	shoff := (strOff + uint64(len(shstrtab)) + 7) &^ 7
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shoff, Ehsize: 64, Phentsize: 56, Shentsize: 64, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], "\x7fELF")
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	sections := []elf.Section64{
		{},
		{Name: 1, Type: uint32(elf.SHT_PROGBITS), Off: dataOff, Size: uint64(z.Len()), Addralign: 1},
		{Name: 9, Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstrtab)), Addralign: 1},
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, hdr); err != nil {
		t.Fatal(err)
	}
	b.Write(z.Bytes())
	b.WriteString(shstrtab)
	b.Write(make([]byte, int(shoff)-b.Len()))
	if err := binary.Write(&b, binary.LittleEndian, sections); err != nil {
		t.Fatal(err)
	}
	b.Write(make([]byte, 8<<10))
	return b.Bytes()
}

// TestRustBinaryInAnImage: a crate read from a cargo-auditable binary in an
// image meets a crates.io record end to end.
func TestRustBinaryInAnImage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "TEST-CRATE.json"), []byte(crateRecord), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := vulndb.Import(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db.Skipped() != 0 {
		t.Fatal(db.Warnings())
	}
	tests := []struct {
		name, source, version string
		listed                bool   // whether the inventory lists tokio
		want                  string // the record reported, "" for none
	}{
		{"affected", "crates.io", "1.18.3", true, "TEST-CRATE"},
		{"fixed", "crates.io", "1.18.4", true, ""},
		{"local crate of the same name: not listed", "local", "1.18.3", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin := auditableELF(t, `{"packages":[{"name":"tokio","version":"`+tc.version+`","source":"`+tc.source+`","kind":"runtime"}]}`)
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/app", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(bin); err != nil {
				t.Fatal(err)
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			inv, err := inventory.Scan(context.Background(), "linux/amd64", []inventory.Layer{func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil }})
			if err != nil {
				t.Fatal(err)
			}
			if got := inInventory(inv, "tokio"); got != tc.listed {
				t.Fatalf("tokio listed %v, want %v: %+v", got, tc.listed, inv.Packages)
			}
			var got []string
			for _, f := range db.Match(inv) {
				got = append(got, f.ID)
			}
			if tc.want == "" && len(got) > 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("findings %v, want %q", got, tc.want)
			}
		})
	}
}
