package inventory

import (
	"encoding/json"
	"path"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// npmLock is a package-lock.json (or npm-shrinkwrap-like) file: version 1
// nests "dependencies"; versions 2 and 3 list every installed path under
// "packages" (2 keeps the v1 tree too, for old npm).
type npmLock struct {
	LockfileVersion int                       `json:"lockfileVersion"`
	Packages        map[string]npmLockPackage `json:"packages"`
	Dependencies    map[string]npmLockV1Entry `json:"dependencies"`
}

type npmLockPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Dev     bool   `json:"dev"`
	Link    bool   `json:"link"`
}

type npmLockV1Entry struct {
	Version      string                    `json:"version"`
	Dev          bool                      `json:"dev"`
	Dependencies map[string]npmLockV1Entry `json:"dependencies"`
}

// maxLockDepth bounds the v1 tree walk; npm's real nesting is a few levels.
const maxLockDepth = 64

// npmLockPackages lists what a lock file pins, skipping the project itself
// (the "" key), links to local folders, development dependencies (a
// production image is usually built without them; one that ships them has
// their package.json under node_modules, read on its own) and versions that
// are not registry versions (a git URL, "file:..").
func npmLockPackages(data []byte) []scan.Package {
	var l npmLock
	if err := json.Unmarshal(data, &l); err != nil {
		return nil
	}
	var out []scan.Package
	add := func(name, version string, dev bool) {
		if dev || strings.ContainsAny(version, ":/") {
			return
		}
		if p, ok := npmPackage(name, version); ok {
			out = append(out, p)
		}
	}
	if len(l.Packages) > 0 {
		for key, p := range l.Packages {
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 || p.Link {
				continue
			}
			name := p.Name
			if name == "" {
				name = key[i+len("node_modules/"):]
			}
			add(name, p.Version, p.Dev)
		}
		return out
	}
	var walk func(deps map[string]npmLockV1Entry, depth int)
	walk = func(deps map[string]npmLockV1Entry, depth int) {
		if depth > maxLockDepth {
			return
		}
		for name, d := range deps {
			add(name, d.Version, d.Dev)
			walk(d.Dependencies, depth+1)
		}
	}
	walk(l.Dependencies, 0)
	return out
}

// dropLockDuplicates drops what a package-lock.json lists when the same
// name and version is installed under that project's node_modules, so an
// installed package is reported once, at its own package.json.
func dropLockDuplicates(pkgs []scan.Package) []scan.Package {
	type nameVersion struct{ name, version string }
	installed := make(map[nameVersion][]string) // package.json locations
	for _, p := range pkgs {
		if p.Ecosystem == "npm" && strings.HasSuffix(p.Location, "/package.json") {
			k := nameVersion{p.Name, p.Version}
			installed[k] = append(installed[k], p.Location)
		}
	}
	out := pkgs[:0]
	for _, p := range pkgs {
		if p.Ecosystem == "npm" && path.Base(p.Location) == "package-lock.json" {
			project := strings.TrimSuffix(p.Location, "package-lock.json")
			if slices.ContainsFunc(installed[nameVersion{p.Name, p.Version}], func(loc string) bool {
				return strings.HasPrefix(loc, project+"node_modules/")
			}) {
				continue
			}
		}
		out = append(out, p)
	}
	return out
}
