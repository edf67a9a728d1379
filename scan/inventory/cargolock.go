package inventory

import (
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/shoal-dev/shoal/scan"
)

// Cargo.lock's source of a crates.io crate: the git index, or the sparse
// one Cargo uses by default since 1.70.
const (
	cratesIOGitSource    = "registry+https://github.com/rust-lang/crates.io-index"
	cratesIOSparseSource = "sparse+https://index.crates.io/"
)

// cargoLockPackages reads Cargo's Cargo.lock (TOML, [[package]] tables):
// the crates from crates.io. Workspace members have no source, and git
// and other registries' crates are not what RustSec's crates.io advisories
// name, as for Rust binaries. Cargo.lock does not mark dev-dependencies;
// they are listed, as `cargo audit` does.
func cargoLockPackages(data []byte) []scan.Package {
	var lock struct {
		Package []struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
			Source  string `toml:"source"`
		} `toml:"package"`
	}
	if _, err := toml.Decode(string(data), &lock); err != nil {
		return nil
	}
	var out []scan.Package
	for _, e := range lock.Package {
		if e.Source != cratesIOGitSource && e.Source != cratesIOSparseSource {
			continue
		}
		if e.Name == "" || e.Version == "" || strings.ContainsAny(e.Name+e.Version, " \t\r\n/@?#") {
			continue
		}
		out = append(out, scan.Package{Ecosystem: "crates.io", Name: e.Name, Version: e.Version, PURL: purl("cargo", "", e.Name, e.Version, nil)})
	}
	return out
}
