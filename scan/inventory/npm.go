package inventory

import (
	"encoding/json"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// underNodeModules says whether dir lies inside a node_modules directory,
// where npm, yarn and pnpm install packages. A package.json elsewhere is an
// application's own manifest: its dependencies are what matters, and they
// are under its node_modules.
func underNodeModules(dir string) bool {
	for seg := range strings.SplitSeq(dir, "/") {
		if seg == "node_modules" {
			return true
		}
	}
	return false
}

// npmManifest is the part of a package.json the inventory reads.
type npmManifest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// npmPackageJSON reads an installed package's package.json. One without
// both a name and a version (a sub-folder's {"type": "module"}, a test
// fixture) is not a package: nothing.
func npmPackageJSON(data []byte) []scan.Package {
	var m npmManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	p, ok := npmPackage(m.Name, m.Version)
	if !ok {
		return nil
	}
	return []scan.Package{p}
}

// npmPackage names a package as OSV's npm records do ("@scope/name"), with
// the purl's namespace "@scope" percent-encoded as "%40scope". A name or
// version that is empty or carries space is refused.
func npmPackage(name, version string) (scan.Package, bool) {
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	if name == "" || version == "" || strings.ContainsAny(name+version, " \t\r\n") {
		return scan.Package{}, false
	}
	ns, base := "", name
	if strings.HasPrefix(name, "@") {
		if i := strings.IndexByte(name, '/'); i > 1 && i < len(name)-1 {
			ns, base = name[:i], name[i+1:]
		}
	}
	return scan.Package{Ecosystem: "npm", Name: name, Version: version, PURL: purl("npm", ns, base, version, nil)}, true
}
