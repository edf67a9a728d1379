package vulndb_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/shoal-dev/shoal/scan/inventory"
)

// imageRecords are synthetic OSV records, as match_ecosystems_test.go's,
// for the ecosystems read from an image's files.
var imageRecords = map[string]string{
	"TEST-PACKAGIST": `{"id":"TEST-PACKAGIST","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"Packagist","name":"symfony/http-kernel"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"5.0.0"},{"fixed":"5.4.20"}]}]}]}`,
	"TEST-NUGET": `{"id":"TEST-NUGET","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"NuGet","name":"Newtonsoft.Json"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"13.0.1"}]}]}]}`,
	"TEST-GEM": `{"id":"TEST-GEM","modified":"2024-01-01T00:00:00Z",
 "affected":[{"package":{"ecosystem":"RubyGems","name":"rack"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.0.beta1"}]}]}]}`,
}

// TestEcosystemsInAnImage: packages the inventory reads from an image's
// files meet imageRecords end to end, at an
// affected version and not at the fixed one.
func TestEcosystemsInAnImage(t *testing.T) {
	var records []string
	for _, rec := range imageRecords {
		records = append(records, rec)
	}
	db := importJSON(t, records...)
	tests := []struct {
		name, path, content string
		pkg, want           string // want: the record reported, "" for none
	}{
		{"Packagist affected, leading v", "var/www/vendor/composer/installed.json",
			`{"packages":[{"name":"symfony/http-kernel","version":"v5.4.19"}]}`, "symfony/http-kernel", "TEST-PACKAGIST"},
		{"Packagist fixed", "var/www/vendor/composer/installed.json",
			`[{"name":"symfony/http-kernel","version":"5.4.20"}]`, "symfony/http-kernel", ""},
		{"NuGet affected", "app/MyApp.deps.json",
			`{"libraries":{"MyApp/1.0.0":{"type":"project"},"Newtonsoft.Json/12.0.3":{"type":"package"}}}`, "Newtonsoft.Json", "TEST-NUGET"},
		{"NuGet fixed", "app/MyApp.deps.json",
			`{"libraries":{"Newtonsoft.Json/13.0.1":{"type":"package"}}}`, "Newtonsoft.Json", ""},
		{"RubyGems affected", "usr/local/bundle/specifications/rack-2.2.8.gemspec",
			"Gem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.8\"\nend\n", "rack", "TEST-GEM"},
		{"RubyGems fixed (pre-release order)", "usr/local/bundle/specifications/rack-3.0.0.beta2.gemspec",
			"Gem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"3.0.0.beta2\"\nend\n", "rack", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			layer := tarLayer(t, map[string][]byte{tc.path: []byte(tc.content)})
			inv, err := inventory.Scan(context.Background(), "linux/amd64", []inventory.Layer{func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layer)), nil }})
			if err != nil {
				t.Fatal(err)
			}
			if !inInventory(inv, tc.pkg) {
				t.Fatalf("%s is not in the inventory: %+v", tc.pkg, inv.Packages)
			}
			var got []string
			for _, f := range db.Match(inv) {
				if f.Package == tc.pkg {
					got = append(got, f.ID)
				}
			}
			if tc.want == "" && len(got) > 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("%s: findings %v, want %q", tc.pkg, got, tc.want)
			}
		})
	}
}
