package inventory

import (
	"encoding/binary"
	"slices"
	"testing"
)

func TestReadRPMNDB(t *testing.T) {
	entries, err := readRPMNDB([]byte(testdataFile(t, "rpm", "sle15-bci.Packages.db")))
	if err != nil {
		t.Fatal(err)
	}
	// rpm -qa of the same headers in sqlite, less dive (testdata/rpm/README.md).
	want := "system-user-root 0 20190513 3.3.1 noarch system-user-root-20190513-3.3.1.src.rpm 1\n" +
		"libgmp10 0 6.1.2 4.6.1 x86_64 gmp-6.1.2-4.6.1.src.rpm 8\n" +
		"libcap2 0 2.26 4.6.1 x86_64 libcap-2.26-4.6.1.src.rpm 4\n" +
		"libbz2-1 0 1.0.6 5.11.1 x86_64 bzip2-1.0.6-5.11.1.src.rpm 3\n"
	if got := rpmQA(entries); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestReadRPMNDBCorrupt: every damage to a real database ends in an error.
func TestReadRPMNDBCorrupt(t *testing.T) {
	orig := []byte(testdataFile(t, "rpm", "sle15-bci.Packages.db"))
	le := binary.LittleEndian
	slot := -1 // the first used slot
	for off := ndbHeaderSlots * ndbSlotSize; off < ndbSlotPage; off += ndbSlotSize {
		if le.Uint32(orig[off+4:]) != 0 {
			slot = off
			break
		}
	}
	blob := int(le.Uint32(orig[slot+8:])) * ndbBlockSize
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"version", func(b []byte) []byte { le.PutUint32(b[4:], 1); return b }},
		{"no slot pages", func(b []byte) []byte { le.PutUint32(b[12:], 0); return b }},
		{"slot pages past the end", func(b []byte) []byte { le.PutUint32(b[12:], 1<<31); return b }},
		{"slot magic", func(b []byte) []byte { b[slot] = 'X'; return b }},
		{"blob past the end", func(b []byte) []byte { le.PutUint32(b[slot+8:], 1<<31); return b }},
		{"blob inside the slot pages", func(b []byte) []byte { le.PutUint32(b[slot+8:], 1); return b }},
		{"blob magic", func(b []byte) []byte { b[blob] = 'X'; return b }},
		{"blob of another package", func(b []byte) []byte { le.PutUint32(b[blob+4:], 999); return b }},
		{"blob longer than its blocks", func(b []byte) []byte { le.PutUint32(b[blob+12:], le.Uint32(b[slot+12:])*ndbBlockSize+1); return b }},
		{"blob longer than the file", func(b []byte) []byte { le.PutUint32(b[slot+12:], 1<<30); le.PutUint32(b[blob+12:], 1<<31); return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-100] }},
		{"header index count near 2^31", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[blob+ndbBlobHeadSize:], 0x7fffffff)
			return b
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := readRPMNDB(tc.damage(slices.Clone(orig))); err == nil {
				t.Errorf("no error; got %d entries", len(got))
			}
		})
	}
}
