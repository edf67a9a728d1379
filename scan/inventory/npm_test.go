package inventory

import (
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func npmPkg(name, purlPath, version string) scan.Package {
	return scan.Package{Ecosystem: "npm", Name: name, Version: version, PURL: "pkg:npm/" + purlPath + "@" + version}
}

func TestNpmPackageJSON(t *testing.T) {
	readFile := func(name string) string { return testdataFile(t, "npm", name) }
	tests := []struct {
		name string
		data string
		want []scan.Package
	}{
		{"scoped (npm's own @npmcli/arborist)", readFile("npmcli-arborist-package.json"), []scan.Package{npmPkg("@npmcli/arborist", "%40npmcli/arborist", "7.5.4")}},
		{"unscoped (semver)", readFile("semver-package.json"), []scan.Package{npmPkg("semver", "semver", "7.6.2")}},
		{"pre-release and build", `{"name":"x","version":"1.0.0-beta.1+build.5"}`, []scan.Package{{Ecosystem: "npm", Name: "x", Version: "1.0.0-beta.1+build.5", PURL: "pkg:npm/x@1.0.0-beta.1%2Bbuild.5"}}},
		{"sub-folder manifest without name", `{"type":"module"}`, nil},
		{"no version", `{"name":"x"}`, nil},
		{"version not a string", `{"name":"x","version":1}`, nil},
		{"name with space", `{"name":"a b","version":"1.0.0"}`, nil},
		{"bare scope stays the name", `{"name":"@scope","version":"1.0.0"}`, []scan.Package{npmPkg("@scope", "%40scope", "1.0.0")}},
		{"not JSON", `name: x`, nil},
		{"truncated", `{"name":"x","vers`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := npmPackageJSON([]byte(tc.data)); !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestUnderNodeModules(t *testing.T) {
	for dir, want := range map[string]bool{
		"usr/lib/node_modules/npm":          true,
		"app/node_modules/@babel/core":      true,
		"app/node_modules/a/node_modules/b": true,
		"app":                               false,
		"app/my_node_modules/x":             false,
		"":                                  false,
		"usr/lib/node_modules":              true,
	} {
		if got := underNodeModules(dir); got != want {
			t.Errorf("underNodeModules(%q) = %v", dir, got)
		}
	}
}
