package inventory

import (
	"encoding/json"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// composerInstalled is where Composer records what it installed into a
// project's vendor folder.
const composerInstalled = "vendor/composer/installed.json"

// isComposerInstalled says whether p is a vendor/composer/installed.json, at
// the image root or under any project folder.
func isComposerInstalled(p string) bool {
	return p == composerInstalled || strings.HasSuffix(p, "/"+composerInstalled)
}

// composerPackage is the part of an installed.json entry the inventory reads.
type composerPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// composerPackages reads an installed.json: Composer 2 writes
// {"packages": [...]}, Composer 1 the array alone. Entries without a
// "vendor/name" name or a version are skipped. A branch checkout
// ("dev-master") is kept with that version: it is installed, the SBOM should
// show it, and the matcher places it only through a record's versions list.
func composerPackages(data []byte) []scan.Package {
	var entries []composerPackage
	var v2 struct {
		Packages []composerPackage `json:"packages"`
	}
	if err := json.Unmarshal(data, &v2); err == nil {
		entries = v2.Packages
	} else if err := json.Unmarshal(data, &entries); err != nil {
		return nil
	}
	var out []scan.Package
	for _, e := range entries {
		name, version := strings.TrimSpace(e.Name), strings.TrimSpace(e.Version)
		vendor, base, ok := strings.Cut(name, "/")
		if !ok || vendor == "" || base == "" || strings.Contains(base, "/") || version == "" ||
			strings.ContainsAny(name+version, " \t\r\n") {
			continue
		}
		// Packagist names are lower case; the purl spec lowercases them too.
		out = append(out, scan.Package{Ecosystem: "Packagist", Name: name, Version: version,
			PURL: purl("composer", strings.ToLower(vendor), strings.ToLower(base), version, nil)})
	}
	return out
}
