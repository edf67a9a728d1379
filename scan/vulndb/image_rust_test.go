package vulndb_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"testing"

	"github.com/shoal-dev/shoal/internal/testelf"

	"github.com/shoal-dev/shoal/scan/inventory"
)

// crateRecord is match_ecosystems_test.go's synthetic crates.io record.
const crateRecord = `{"id":"TEST-CRATE","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"crates.io","name":"tokio"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0-alpha.1"},{"fixed":"1.18.4"}]}]}]}`

// auditableELF is a minimal ELF executable whose only section besides
// the name table is cargo-auditable's .dep-v0 holding auditJSON, padded
// past the inventory's 4 KiB floor for executables.
func auditableELF(t *testing.T, auditJSON string) []byte {
	t.Helper()
	return testelf.WithSection(t, ".dep-v0", elf.SHT_PROGBITS, testelf.Zlib(t, []byte(auditJSON)), 8<<10)
}

// TestRustBinaryInAnImage: a crate read from a cargo-auditable binary in an
// image meets a crates.io record end to end.
func TestRustBinaryInAnImage(t *testing.T) {
	db := importJSON(t, crateRecord)
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
