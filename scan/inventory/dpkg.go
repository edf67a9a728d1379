package inventory

import (
	"bytes"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// dpkgEntry is one package stanza of a dpkg status file.
type dpkgEntry struct {
	Package, Version, Source, Architecture, Status string
}

// parseDpkgStatus reads the stanzas of a dpkg status file (deb822: "Field:
// value" lines, continuation lines starting with a space or tab, stanzas
// separated by blank lines). With requireInstalled, only packages whose
// files are on disk count: the state word of "Status: <want> <flag>
// <state>" is "installed" ("install ok installed", but also held packages,
// "hold ok installed"). status.d stanzas (distroless) often have no Status;
// one there still counts unless it says the package is not installed.
// Stanzas without Package or Version are skipped.
func parseDpkgStatus(data []byte, requireInstalled bool) []dpkgEntry {
	var out []dpkgEntry
	var cur dpkgEntry
	flush := func() {
		if cur.Package != "" && cur.Version != "" && dpkgInstalled(cur.Status, requireInstalled) {
			out = append(out, cur)
		}
		cur = dpkgEntry{}
	}
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue // continuation of a multi-line field, or a comment
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		value := string(bytes.TrimSpace(line[colon+1:]))
		switch key := line[:colon]; {
		case bytes.EqualFold(key, []byte("Package")):
			cur.Package = value
		case bytes.EqualFold(key, []byte("Version")):
			cur.Version = value
		case bytes.EqualFold(key, []byte("Source")):
			cur.Source = value
		case bytes.EqualFold(key, []byte("Architecture")):
			cur.Architecture = value
		case bytes.EqualFold(key, []byte("Status")):
			cur.Status = value
		}
	}
	flush()
	return out
}

func dpkgInstalled(status string, require bool) bool {
	f := strings.Fields(status)
	if len(f) == 0 {
		return !require
	}
	return len(f) == 3 && f[2] == "installed"
}

// dpkgPackages turns stanzas into packages of the image's release.
//
// "Source: glibc (2.36-9)" names the source package and, when it differs,
// the source version; OSV Debian records name source packages and compare
// against the installed binary version, so Source keeps the name only and
// Version is always the binary package's.
func dpkgPackages(entries []dpkgEntry, osr scan.OSRelease) []scan.Package {
	eco, ns := "Debian", "debian"
	switch osr.ID {
	case "ubuntu":
		eco, ns = "Ubuntu", "ubuntu"
	}
	if osr.VersionID != "" && (osr.ID == "debian" || osr.ID == "ubuntu") {
		eco += ":" + osr.VersionID
	}
	var distro string
	if osr.ID != "" && osr.VersionID != "" {
		distro = osr.ID + "-" + osr.VersionID
	}
	out := make([]scan.Package, 0, len(entries))
	for _, e := range entries {
		src := e.Source
		if i := strings.IndexByte(src, '('); i >= 0 {
			src = src[:i]
		}
		src = strings.TrimSpace(src)
		if src == e.Package {
			src = ""
		}
		out = append(out, scan.Package{
			Ecosystem: eco,
			Name:      e.Package,
			Source:    src,
			Version:   e.Version,
			PURL:      purl("deb", ns, e.Package, e.Version, qualifiers("arch", e.Architecture, "distro", distro)),
		})
	}
	return out
}
