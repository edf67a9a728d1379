package vulndb

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOSVYAML(t *testing.T) {
	laughs := "id: X\naffected: []\na: &a [x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g"} {
		laughs += n + ": &" + n + " [" + strings.Repeat("*"+prev+", ", 8) + "*" + prev + "]\n"
		prev = n
	}
	for _, tc := range []struct {
		name    string
		yaml    string
		isOSV   bool
		fixed   string // of the first event after introduced; "" when parsing must fail
		wantErr bool
	}{
		{"unquoted versions keep their text", "id: PYSEC-X\nmodified: '2024-01-01T00:00:00Z'\naffected:\n- package: {name: x, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: 1.10\n", true, "1.10", false},
		{"integer-looking fix", "id: PYSEC-X\naffected:\n- package: {name: x, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: '0'\n    - fixed: 2\n", true, "2", false},
		{"secdb is not OSV", "distroversion: v3.10\nreponame: main\npackages: []\n", false, "", true},
		{"id alone is not OSV", "id: X\n", false, "", true},
		{"alias bomb refused before conversion", laughs, false, "", true},
		{"non-scalar key is not OSV", "id: X\naffected: []\n? [a]\n: b\n", false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := looksLikeOSVYAML([]byte(tc.yaml)); got != tc.isOSV {
				t.Fatalf("looksLikeOSVYAML = %v, want %v", got, tc.isOSV)
			}
			if !tc.isOSV {
				return
			}
			j, err := osvYAMLToJSON([]byte(tc.yaml))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error; JSON %d bytes", len(j))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, err := parseOSV(j)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Affected[0].Ranges[0].Events[1].Fixed; got != tc.fixed {
				t.Errorf("fixed = %q, want %q (JSON %s)", got, tc.fixed, j)
			}
		})
	}
	if j, err := osvYAMLToJSON([]byte(laughs)); err == nil {
		t.Errorf("alias bomb converted to %d bytes of JSON", len(j))
	}
	// Deep nesting is refused (by yaml/v2's parser past 10,000 levels, by
	// encoding/json below that) without exhausting the stack.
	for _, depth := range []int{10000, 1 << 20} {
		deep := "id: x\naffected: " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n"
		db := newDB()
		db.importData("deep.yaml", kindYAML, []byte(deep))
		if len(db.records) != 0 || db.Skipped() != 1 {
			t.Errorf("nesting %d: %d records, %d skipped", depth, len(db.records), db.Skipped())
		}
	}
}

// TestImportYAMLDamaged imports every prefix of the real records, and the
// records with each colon, quote and newline swapped for another, as the
// fuzzer would: none may panic, and whatever parses must be well-formed.
func TestImportYAMLDamaged(t *testing.T) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "pypa-osv", "*.yaml"))
	if err != nil || len(seeds) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n <= len(data); n += 7 {
			db := newDB()
			db.importData(s, kindYAML, data[:n])
			checkRecords(t, db.sortedRecords())
		}
		for i, c := range data {
			if c != ':' && c != '\'' && c != '\n' {
				continue
			}
			for _, r := range []byte{'&', '*', '[', '\t'} {
				d := bytes.Clone(data)
				d[i] = r
				db := newDB()
				db.importData(s, kindYAML, d)
				checkRecords(t, db.sortedRecords())
			}
		}
	}
}
