package inventory

import (
	"encoding/json"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// isDotnetDeps says whether base is a .NET application's dependency
// manifest, "<app>.deps.json", which the build writes next to the app's dll
// and the runtime reads to load its assemblies.
func isDotnetDeps(base string) bool {
	return strings.HasSuffix(base, ".deps.json") && base != ".deps.json"
}

// dotnetLibrary is the part of a deps.json "libraries" entry the inventory
// reads.
type dotnetLibrary struct {
	Type string `json:"type"`
}

// dotnetPackages reads the "libraries" map of a deps.json, keyed
// "<id>/<version>". Only "package" entries came from NuGet: a "project" is
// the app or one of its own projects, a "reference" an assembly referenced
// by path, and a "runtimepack" the runtime a self-contained app carries,
// which the runtime's own image and advisories cover.
func dotnetPackages(data []byte) []scan.Package {
	var deps struct {
		Libraries map[string]dotnetLibrary `json:"libraries"`
	}
	if err := json.Unmarshal(data, &deps); err != nil {
		return nil
	}
	var out []scan.Package
	for key, lib := range deps.Libraries {
		if lib.Type != "package" {
			continue
		}
		i := strings.LastIndexByte(key, '/')
		if i <= 0 || i == len(key)-1 || strings.ContainsAny(key, " \t\r\n") {
			continue
		}
		name, version := key[:i], key[i+1:]
		if strings.Contains(name, "/") {
			continue // NuGet IDs never hold one
		}
		out = append(out, scan.Package{Ecosystem: "NuGet", Name: name, Version: version,
			PURL: purl("nuget", "", name, version, nil)})
	}
	return sortPackages(out) // map order is random; the inventory's is not
}
