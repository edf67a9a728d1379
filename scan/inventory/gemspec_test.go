package inventory

import (
	"context"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func gem(name, version string) scan.Package {
	return scan.Package{Ecosystem: "RubyGems", Name: name, Version: version, PURL: "pkg:gem/" + name + "@" + version}
}

func TestGemspecPackages(t *testing.T) {
	tests := []struct {
		name, base, data string
		want             []scan.Package
	}{
		{"RubyGems 3 to_ruby", "rake-13.0.6.gemspec", testdataFile(t, "ruby", "rake-13.0.6.gemspec"), []scan.Package{gem("rake", "13.0.6")}},
		{"platform gem: version without the platform", "nokogiri-1.15.4-x86_64-linux.gemspec", testdataFile(t, "ruby", "nokogiri-1.15.4-x86_64-linux.gemspec"), []scan.Package{gem("nokogiri", "1.15.4")}},
		{"single quotes, other variable", "x.gemspec", "Gem::Specification.new do |spec|\n\tspec.name = 'net-http'\n\tspec.version = '0.3.2'.freeze\nend\n", []scan.Package{gem("net-http", "0.3.2")}},
		{"RubyGems 1 %q{}", "x.gemspec", "  s.name = %q{json}\n  s.version = \"1.8.6\"\n", []scan.Package{gem("json", "1.8.6")}},
		{"first assignment wins", "x.gemspec", "s.name = \"a\"\ns.version = \"1.0\"\ns.name = \"b\"\ns.version = \"2.0\"\n", []scan.Package{gem("a", "1.0")}},
		{"pre-release", "x.gemspec", "s.name = \"rack\"\ns.version = \"3.0.0.beta1\"\n", []scan.Package{gem("rack", "3.0.0.beta1")}},
		{"version computed: file name instead", "net-http-0.3.2.gemspec", "s.name = \"net-http\"\ns.version = Net::HTTP::VERSION\n", []scan.Package{gem("net-http", "0.3.2")}},
		{"empty file: file name", "rack-2.2.8.gemspec", "", []scan.Package{gem("rack", "2.2.8")}},
		{"interpolation is not read", "x.gemspec", "s.name = \"#{n}\"\ns.version = \"1\"\n", nil},
		{"trailing code is not read", "x.gemspec", "s.name = \"a\" + b\ns.version = \"1\"\n", nil},
		{"unterminated string", "x.gemspec", "s.name = \"a\ns.version = \"1\"\n", nil},
		{"space in version", "x.gemspec", "s.name = \"a\"\ns.version = \"1 2\"\n", nil},
		{"no version anywhere", "rake.gemspec", "s.name = \"rake\"\n", nil},
		{"file name without a digit after the dash", "my-gem-x.gemspec", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gemspecPackages([]byte(tc.data), tc.base); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestIsGemspec(t *testing.T) {
	for p, want := range map[[2]string]bool{
		{"usr/lib/ruby/gems/3.1.0/specifications", "rake-13.0.6.gemspec"}:            true,
		{"usr/lib/ruby/gems/3.1.0/specifications/default", "json-2.6.1.gemspec"}:     true,
		{"usr/local/bundle/specifications", "rack-2.2.8.gemspec"}:                    true,
		{"usr/share/rubygems-integration/all/specifications", "rake-13.0.6.gemspec"}: true,
		{"specifications", "a-1.gemspec"}:                                            true,
		{"usr/local/bundle/gems/rack-2.2.8", "rack.gemspec"}:                         false, // the gem's source tree
		{"usr/local/bundle/specifications", "rack-2.2.8.gemspec.bak"}:                false,
		{"usr/local/bundle/specifications", ".gemspec"}:                              false,
		{"app/myspecifications", "a-1.gemspec"}:                                      false,
	} {
		if got := isGemspec(p[0], p[1]); got != want {
			t.Errorf("isGemspec(%q, %q) = %v", p[0], p[1], got)
		}
	}
}

// TestScanGemImage: the system gem home and a bundle in one layer; a later
// layer upgrades a gem (new file, old one whited out) and hides the bundle.
func TestScanGemImage(t *testing.T) {
	const specs = "usr/lib/ruby/gems/3.1.0/specifications/"
	spec := func(name, version string) string {
		return "Gem::Specification.new do |s|\n  s.name = \"" + name + "\".freeze\n  s.version = \"" + version + "\"\nend\n"
	}
	layers := []Layer{
		layer(t,
			file(specs+"rake-13.0.6.gemspec", spec("rake", "13.0.6")),
			file(specs+"default/json-2.6.1.gemspec", spec("json", "2.6.1")),
			file("usr/lib/ruby/gems/3.1.0/gems/rake-13.0.6/rake.gemspec", spec("rake", "13.0.6")),
			file("usr/local/bundle/specifications/rack-2.2.8.gemspec", spec("rack", "2.2.8")),
		),
		layer(t,
			whiteout(specs+".wh.rake-13.0.6.gemspec"),
			file(specs+"rake-13.1.0.gemspec", spec("rake", "13.1.0")),
			whiteout("usr/local/.wh.bundle"),
		),
	}
	inv, err := Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		t.Fatal(err)
	}
	want := sortPackages([]scan.Package{
		at(gem("json", "2.6.1"), specs+"default/json-2.6.1.gemspec", 0),
		at(gem("rake", "13.1.0"), specs+"rake-13.1.0.gemspec", 1),
	})
	if !slices.Equal(inv.Packages, want) {
		t.Errorf("Packages:\n got %s\nwant %s", packageLines(inv.Packages), packageLines(want))
	}
}
