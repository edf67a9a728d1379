package inventory

import (
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/json"
	"io"

	"github.com/shoal-dev/shoal/scan"
)

// auditSection is the ELF section cargo-auditable writes: the crate
// dependency tree as zlib-compressed JSON.
const auditSection = ".dep-v0"

// maxAuditData caps the section both as stored and decompressed. A binary
// with a thousand crates has well under 100 KiB of JSON; the cap keeps a
// zlib bomb from costing the node memory.
const maxAuditData = 8 << 20

// rustELFPackages returns the crates.io crates an ELF executable was built
// from, as cargo-auditable recorded them, or nothing if it has no readable
// audit data.
func rustELFPackages(r io.ReaderAt) []scan.Package {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil
	}
	sec := f.Section(auditSection)
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil
	}
	// Open also inflates a section the linker compressed (SHF_COMPRESSED),
	// without a bound of its own: hence the limit on what is read.
	data, err := io.ReadAll(io.LimitReader(sec.Open(), maxAuditData+1))
	if err != nil || len(data) > maxAuditData {
		return nil
	}
	return auditDataPackages(data)
}

// auditData is the part of cargo-auditable's JSON (auditable-serde's
// VersionInfo) the scan needs. "kind" is not read: a build-time crate (a
// proc macro, a build script's dependency) shapes the code compiled in, and
// cargo audit reports those as well.
type auditData struct {
	Packages []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Source  string `json:"source"`
	} `json:"packages"`
}

// auditDataPackages decodes a .dep-v0 section's contents. Only crates
// whose source is "crates.io" are listed: advisories (RustSec via OSV) name
// crates.io crates, so the binary's own crate when built from a local
// checkout ("local"), or a git or private-registry crate, would only match
// an unrelated crates.io crate of the same name. A crate installed from
// crates.io (cargo install) is the root and its source is "crates.io":
// it is listed.
func auditDataPackages(compressed []byte) []scan.Package {
	zr, err := zlib.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxAuditData+1))
	if err != nil || len(raw) > maxAuditData {
		return nil
	}
	var d auditData
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil
	}
	var pkgs []scan.Package
	for _, p := range d.Packages {
		if p.Source != "crates.io" || p.Name == "" || p.Version == "" {
			continue
		}
		pkgs = append(pkgs, scan.Package{Ecosystem: "crates.io", Name: p.Name, Version: p.Version, PURL: purl("cargo", "", p.Name, p.Version, nil)})
	}
	return pkgs
}
