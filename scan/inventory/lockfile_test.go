package inventory

import (
	"context"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// pinned is a PyPI package as a lock names it, its purl name normalised.
func pinned(name, version string) scan.Package {
	return pypi(name, pep503Name(name), version)
}

func crate(name, version string) scan.Package {
	return scan.Package{Ecosystem: "crates.io", Name: name, Version: version, PURL: "pkg:cargo/" + name + "@" + version}
}

// TestLockFilePackages reads the samples in testdata/lockfiles (each
// tool's format, README.md says from where) and expects, read by hand from
// each file, the registry packages it pins for production.
func TestLockFilePackages(t *testing.T) {
	tests := []struct {
		file string
		want []scan.Package
	}{
		{"requirements.txt", []scan.Package{pinned("certifi", "2023.5.7"), pinned("requests", "2.28.0"), pinned("urllib3", "1.26.15"), pinned("PyYAML", "5.3.1")}},
		{"Pipfile.lock", []scan.Package{pinned("django", "4.2.1"), pinned("sqlparse", "0.4.4")}},
		{"poetry-1.1.lock", []scan.Package{pinned("certifi", "2021.10.8"), pinned("Jinja2", "2.10"), pinned("markupsafe", "2.0.1")}},
		{"poetry-2.1.lock", []scan.Package{pinned("idna", "3.7"), pinned("requests", "2.31.0"), pinned("corp-auth", "2.4.1")}},
		{"uv.lock", []scan.Package{pinned("anyio", "4.4.0"), pinned("idna", "3.7"), pinned("sniffio", "1.3.1")}},
		{"Gemfile.lock", []scan.Package{gem("actionpack", "7.0.4"), gem("nokogiri", "1.13.10"), gem("racc", "1.6.2"), gem("rack", "2.2.6.2"), gem("rake", "13.0.6")}},
		{"composer.lock", []scan.Package{composerPkg("guzzlehttp/guzzle", "7.4.4", "7.4.4"), composerPkg("symfony/http-kernel", "v5.4.19", "v5.4.19")}},
		{"Cargo.lock", []scan.Package{crate("hyper", "0.14.9"), crate("smallvec", "1.6.0")}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			base := tc.file
			if len(base) > len("poetry-") && base[:len("poetry-")] == "poetry-" {
				base = "poetry.lock"
			}
			parse := lockParser("app", base)
			if parse == nil {
				t.Fatalf("no parser for %s", base)
			}
			got := sortPackages(parse([]byte(testdataFile(t, "lockfiles", tc.file))))
			if want := sortPackages(tc.want); !slices.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", packageLines(got), packageLines(want))
			}
		})
	}
}

func TestRequirementPins(t *testing.T) {
	tests := []struct {
		in   string
		want []scan.Package
	}{
		{"Flask==2.3.2\n", []scan.Package{pinned("Flask", "2.3.2")}},
		{"flask == 2.3.2\r\n", []scan.Package{pinned("flask", "2.3.2")}},
		{"zope.interface==6.0 # pinned\n", []scan.Package{pinned("zope.interface", "6.0")}},
		{"a==1 \\\n  --hash=sha256:00\nb==2", []scan.Package{pinned("a", "1"), pinned("b", "2")}},
		{"c==1.0; sys_platform == 'linux'\n", []scan.Package{pinned("c", "1.0")}},
		{"trailing==1 \\", []scan.Package{pinned("trailing", "1")}},
		{"a>=1\nb~=2.0\nc!=3\nd==1.*\ne===1.0\nf==1.0,<2\n", nil},
		{"-r base.txt\n-e .\n--extra-index-url https://x\n# g==1\n", nil},
		{"pkg @ https://example.com/pkg.whl\nhttps://example.com/x==1.tar.gz\n", nil},
		{"bad[extra==1\n\"q\"==1\n==1\nname==\n", nil},
		{"", nil},
	}
	for _, tc := range tests {
		if got := requirementsPackages([]byte(tc.in)); !slices.Equal(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

func TestLockParserFolders(t *testing.T) {
	for dir, want := range map[string]bool{
		"app":                true,
		"":                   true,
		"srv/app/src":        true,
		"usr/src/vendorlib":  true,
		"app/node_modules/x": false,
		"usr/local/lib/python3.11/site-packages/pkg":                             false,
		"app/vendor/guzzlehttp/guzzle":                                           false,
		"usr/local/bundle/gems/rails-7.0.4":                                      false,
		"root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/hyper-0.14.9": false,
		"root/.cargo/git/checkouts/forked-1234/abcd":                             false,
		"usr/share/cargo/registry/hyper-0.14.9":                                  false,
		"srv/registry/app":                                                       true,
	} {
		if got := lockParser(dir, "Cargo.lock") != nil; got != want {
			t.Errorf("lockParser(%q, Cargo.lock) found = %v, want %v", dir, got, want)
		}
	}
	if lockParser("app", "Cargo.toml") != nil || lockParser("app", "requirements-dev.txt") != nil {
		t.Error("a file that is not a lock file has a lock parser")
	}
}

// TestScanLockFiles: lock files in an image, and the rule against
// installed packages: a lock's pin that the image has installed (same
// ecosystem, name and version, anywhere) is reported once, where it is
// installed; one installed at another version, or not found installed, is
// reported at the lock file.
func TestScanLockFiles(t *testing.T) {
	const (
		sitePkgs = "usr/local/lib/python3.11/site-packages/"
		gemSpecs = "usr/local/bundle/specifications/"
	)
	layers := []Layer{
		layer(t,
			file("app/requirements.txt", "Jinja2==2.10\nrequests==2.31.0\nidna==3.7\n"),
			file("app/Gemfile.lock", "GEM\n  remote: https://rubygems.org/\n  specs:\n    rake (13.0.6)\n    rack (2.2.6.2)\n"),
			file("app/Cargo.lock", "version = 3\n\n[[package]]\nname = \"hyper\"\nversion = \"0.14.9\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n"),
			file("app/composer.lock", `{"packages":[{"name":"monolog/monolog","version":"2.9.1"}]}`),
			// A published package's own lock is not read.
			file(sitePkgs+"somepkg/requirements.txt", "urllib3==1.0\n"),
		),
		layer(t,
			// pip installed the pins, one at another version than locked.
			file(sitePkgs+"jinja2-2.10.dist-info/METADATA", "Name: Jinja2\nVersion: 2.10\n"),
			file(sitePkgs+"requests-2.32.0.dist-info/METADATA", "Name: requests\nVersion: 2.32.0\n"),
			file(gemSpecs+"rake-13.0.6.gemspec", "Gem::Specification.new do |s|\n  s.name = \"rake\".freeze\n  s.version = \"13.0.6\"\nend\n"),
			file("app/vendor/composer/installed.json", `{"packages":[{"name":"Monolog/Monolog","version":"2.9.1"}]}`),
		),
	}
	inv, err := Scan(context.Background(), "linux/amd64", layers)
	if err != nil {
		t.Fatal(err)
	}
	monolog := scan.Package{Ecosystem: "Packagist", Name: "Monolog/Monolog", Version: "2.9.1", PURL: "pkg:composer/monolog/monolog@2.9.1"}
	want := sortPackages([]scan.Package{
		at(pinned("Jinja2", "2.10"), sitePkgs+"jinja2-2.10.dist-info/METADATA", 1),
		at(pinned("requests", "2.32.0"), sitePkgs+"requests-2.32.0.dist-info/METADATA", 1),
		at(pinned("requests", "2.31.0"), "app/requirements.txt", 0),
		at(pinned("idna", "3.7"), "app/requirements.txt", 0),
		at(gem("rake", "13.0.6"), gemSpecs+"rake-13.0.6.gemspec", 1),
		at(gem("rack", "2.2.6.2"), "app/Gemfile.lock", 0),
		at(crate("hyper", "0.14.9"), "app/Cargo.lock", 0),
		at(monolog, "app/vendor/composer/installed.json", 1),
	})
	if !slices.Equal(inv.Packages, want) {
		t.Errorf("Packages:\n got %s\nwant %s", packageLines(inv.Packages), packageLines(want))
	}
}
