package vulndb

import (
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
		{"alias bomb refused", laughs, true, "", true},
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
}
