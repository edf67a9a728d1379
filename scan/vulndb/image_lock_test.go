package vulndb_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/shoal-dev/shoal/scan/inventory"
	"github.com/shoal-dev/shoal/scan/vulndb"
)

// Python lock files in an image are matched against real PyPA records
// (PYSEC-2019-217: jinja2 < 2.10.1; PYSEC-2023-74: requests 2.3.0 to
// 2.31.0), at affected pins and not at fixed ones.
func TestLockFilesInAnImage(t *testing.T) {
	db, err := vulndb.Import("testdata/pypa-osv")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, jinja2, requests string
		want                   map[string]string // location → advisory
	}{
		{"affected pins", "2.10", "2.30.0", map[string]string{"app/poetry.lock": "PYSEC-2019-217", "app/requirements.txt": "PYSEC-2023-74"}},
		{"fixed pins", "2.10.1", "2.31.0", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layer := tarLayer(t, map[string][]byte{
				"app/poetry.lock":      []byte("[[package]]\nname = \"Jinja2\"\nversion = \"" + tt.jinja2 + "\"\ngroups = [\"main\"]\n\n[metadata]\nlock-version = \"2.1\"\n"),
				"app/requirements.txt": []byte("requests==" + tt.requests + " \\\n    --hash=sha256:00\n"),
			})
			inv, err := inventory.Scan(context.Background(), "linux/amd64", []inventory.Layer{func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, f := range db.Match(inv) {
				got[f.Location] = f.ID
			}
			if len(got) != len(tt.want) {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
			for loc, id := range tt.want {
				if got[loc] != id {
					t.Errorf("%s: %q, want %q", loc, got[loc], id)
				}
			}
		})
	}
}
