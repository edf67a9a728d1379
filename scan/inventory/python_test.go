package inventory

import (
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func pypi(name, normal, version string) scan.Package {
	return scan.Package{Ecosystem: "PyPI", Name: name, Version: version, PURL: "pkg:pypi/" + normal + "@" + version}
}

func TestPythonPackages(t *testing.T) {
	readFile := func(name string) string { return testdataFile(t, "python", name) }
	tests := []struct {
		name string
		data string
		want []scan.Package
	}{
		{"wheel METADATA (Debian's PyYAML)", readFile("PyYAML-6.0.dist-info-METADATA"), []scan.Package{pypi("PyYAML", "pyyaml", "6.0")}},
		{"egg-info PKG-INFO (certifi)", readFile("certifi-2022.9.24.egg-info-PKG-INFO"), []scan.Package{pypi("certifi", "certifi", "2022.9.24")}},
		{"underscore name normalised in the purl only", readFile("python_apt-2.6.0.egg-info-PKG-INFO"), []scan.Package{pypi("python-apt", "python-apt", "2.6.0")}},
		{"dots and runs of separators", "Name: zope.interface__x\nVersion: 5.4.0\n", []scan.Package{pypi("zope.interface__x", "zope-interface-x", "5.4.0")}},
		{"CRLF, lower-case keys", "metadata-version: 2.1\r\nname: Foo\r\nversion: 1.0rc1\r\n\r\n", []scan.Package{pypi("Foo", "foo", "1.0rc1")}},
		{"first Name wins, folded lines skipped", "Name: a\nSummary: x\n  Name: b\nName: c\nVersion: 1\n", []scan.Package{pypi("a", "a", "1")}},
		{"local version label escaped", "Name: torch\nVersion: 2.1.0+cpu\n", []scan.Package{{Ecosystem: "PyPI", Name: "torch", Version: "2.1.0+cpu", PURL: "pkg:pypi/torch@2.1.0%2Bcpu"}}},
		{"headers end at the first blank line", "Name: a\n\nVersion: 1\n", nil},
		{"no version", "Metadata-Version: 2.1\nName: a\n", nil},
		{"no name", "Version: 1\n", nil},
		{"empty", "", nil},
		{"binary junk", "\x00\xff:\x01\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pythonPackages([]byte(tc.data)); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPEP503Name(t *testing.T) {
	for in, want := range map[string]string{
		"Django": "django", "zope.interface": "zope-interface", "ruamel.yaml.clib": "ruamel-yaml-clib",
		"a-_.b": "a-b", "-a_": "-a-", "python_apt": "python-apt", "": "",
	} {
		if got := pep503Name(in); got != want {
			t.Errorf("pep503Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsPythonMetadata(t *testing.T) {
	tests := []struct {
		dir, base string
		want      bool
	}{
		{"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info", "METADATA", true},
		{"usr/local/lib/python3.11/site-packages/pip-23.0.dist-info", "METADATA", true},
		{"usr/lib/python3/dist-packages/certifi-2022.9.24.egg-info", "PKG-INFO", true},
		{"usr/lib/python3/dist-packages", "distro_info-1.5.egg-info", true},
		{"usr/lib/python3/dist-packages/a.dist-info", "RECORD", false},
		{"usr/lib/python3/dist-packages/a.egg-info", "METADATA", false},
		{"usr/lib/python3/dist-packages/a.dist-info", "PKG-INFO", false},
		{"src/a", "PKG-INFO", false},
		{"x", ".egg-info", false},
	}
	for _, tc := range tests {
		if got := isPythonMetadata(tc.dir, tc.base); got != tc.want {
			t.Errorf("isPythonMetadata(%q, %q) = %v", tc.dir, tc.base, got)
		}
	}
}
