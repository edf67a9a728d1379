package inventory

import (
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

// lockV3 is the shape npm 9 writes (lockfileVersion 3): every installed path
// under "packages", the project itself at "".
const lockV3 = `{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "app", "version": "1.0.0", "dependencies": {"express": "^4.18.2"}},
    "node_modules/@types/node": {"version": "20.8.10", "resolved": "https://registry.npmjs.org/@types/node/-/node-20.8.10.tgz", "dev": true},
    "node_modules/express": {"version": "4.18.2", "resolved": "https://registry.npmjs.org/express/-/express-4.18.2.tgz"},
    "node_modules/express/node_modules/debug": {"version": "2.6.9"},
    "node_modules/@babel/code-frame": {"version": "7.22.13"},
    "node_modules/local": {"resolved": "packages/local", "link": true},
    "packages/local": {"name": "local", "version": "0.0.1"},
    "node_modules/aliased": {"name": "real-name", "version": "3.0.0"},
    "node_modules/from-git": {"version": "git+ssh://git@github.com/a/b.git#abc"}
  }
}`

// lockV1 is npm 6's nested "dependencies" tree.
const lockV1 = `{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 1,
  "requires": true,
  "dependencies": {
    "lodash": {"version": "4.17.20", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz"},
    "mocha": {"version": "8.0.0", "dev": true},
    "@scope/pkg": {"version": "1.2.3", "dependencies": {"inner": {"version": "0.1.0"}}},
    "local": {"version": "file:../local"}
  }
}`

func TestNpmLockPackages(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []scan.Package
	}{
		{"v3 packages map", lockV3, []scan.Package{
			npmPkg("@babel/code-frame", "%40babel/code-frame", "7.22.13"),
			npmPkg("debug", "debug", "2.6.9"),
			npmPkg("express", "express", "4.18.2"),
			npmPkg("real-name", "real-name", "3.0.0"),
		}},
		{"v1 dependencies tree", lockV1, []scan.Package{
			npmPkg("@scope/pkg", "%40scope/pkg", "1.2.3"),
			npmPkg("inner", "inner", "0.1.0"),
			npmPkg("lodash", "lodash", "4.17.20"),
		}},
		{"empty object", `{}`, nil},
		{"wrong types", `{"packages": []}`, nil},
		{"not JSON", `lockfileVersion: 3`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sortPackages(npmLockPackages([]byte(tc.data)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDropLockDuplicates(t *testing.T) {
	at := func(p scan.Package, loc string) scan.Package { p.Location = loc; return p }
	express := npmPkg("express", "express", "4.18.2")
	lodash := npmPkg("lodash", "lodash", "4.17.20")
	in := []scan.Package{
		at(express, "app/package-lock.json"),
		at(express, "app/node_modules/express/package.json"),
		at(lodash, "app/package-lock.json"),                   // not installed: kept
		at(lodash, "other/node_modules/lodash/package.json"),  // another project's copy does not count
		at(npmPkg("qs", "qs", "6.11.0"), "package-lock.json"), // lock at the root
		at(npmPkg("qs", "qs", "6.11.0"), "node_modules/qs/package.json"),
	}
	want := []scan.Package{
		at(express, "app/node_modules/express/package.json"),
		at(lodash, "app/package-lock.json"),
		at(lodash, "other/node_modules/lodash/package.json"),
		at(npmPkg("qs", "qs", "6.11.0"), "node_modules/qs/package.json"),
	}
	if got := dropLockDuplicates(in); !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
