package vulndb

import (
	"bytes"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// fuzzInventory touches every ecosystem family the parsers can produce.
var fuzzInventory = inventory(
	scan.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5"},
	scan.Package{Ecosystem: "Go", Name: "stdlib", Version: "go1.21.3"},
	scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u2"},
	scan.Package{Ecosystem: "Alpine:v3.10", Name: "busybox", Version: "1.30.1-r1"},
	scan.Package{Ecosystem: "Alpine:v3.9", Name: "xen", Version: "4.10.0-r0"},
	scan.Package{Ecosystem: "PyPI", Name: "x", Version: "1.0"},
)

// checkRecords asserts what every parsed record must satisfy, and that the
// records survive an encode/decode round trip and matching.
func checkRecords(t *testing.T, recs []*Record) {
	db := newDB()
	for _, r := range recs {
		if r.ID == "" {
			t.Fatal("record without ID")
		}
		for _, a := range r.Affected {
			if a.Ecosystem == "" || a.Name == "" {
				t.Fatalf("%s: affected without ecosystem or name", r.ID)
			}
			for _, rg := range a.Ranges {
				for _, e := range rg.Events {
					if countSet(e) != 1 {
						t.Fatalf("%s: event %+v", r.ID, e)
					}
				}
			}
		}
		db.add(r)
	}
	db.reindex()
	want := db.Match(fuzzInventory)
	var b bytes.Buffer
	if err := db.Encode(&b); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("decode of own encoding: %v", err)
	}
	var b2 bytes.Buffer
	if err := back.Encode(&b2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), b2.Bytes()) {
		t.Fatal("re-encoding differs")
	}
	if got := back.Match(fuzzInventory); len(got) != len(want) {
		t.Fatalf("round trip changed findings: %d vs %d", len(got), len(want))
	}
}

// FuzzParseOSV feeds arbitrary bytes to the OSV record parser. Seeds:
// testdata/fuzz/FuzzParseOSV.
func FuzzParseOSV(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // real records are a few KiB; keep the minimiser fast
		}
		r, err := parseOSV(data)
		if err != nil {
			return
		}
		checkRecords(t, []*Record{r})
	})
}

// FuzzParseSecdb feeds arbitrary bytes to the Alpine secdb parser. Seeds:
// testdata/fuzz/FuzzParseSecdb.
func FuzzParseSecdb(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		// Whole secdb files (50 KB) are covered by the unit tests; the
		// fuzzer's minimiser needs minutes on inputs that size, so stay small.
		if len(data) > 16<<10 {
			return
		}
		recs, err := parseSecdb(data)
		if err != nil {
			return
		}
		checkRecords(t, recs)
	})
}

// FuzzImportYAML feeds arbitrary bytes to the import of one YAML file: the
// content check that tells OSV from secdb, the YAML-to-JSON conversion and
// the parser it leads to. Seeds: testdata/fuzz/FuzzImportYAML (real PyPA
// records and edge cases: unquoted versions, aliases, secdb look-alikes).
func FuzzImportYAML(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // real records are a few KiB; keep the minimiser fast
		}
		db := newDB()
		db.importData("fuzz.yaml", kindYAML, data)
		checkRecords(t, db.sortedRecords())
	})
}
