package inventory

import (
	"bytes"
	"path"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// apkEntry is one package record of apk's installed database.
type apkEntry struct {
	Name, Version, Origin, Arch string
	Files                       []string // root-relative paths of the files it installed
}

// parseApkInstalled reads lib/apk/db/installed: "K:value" lines, records
// separated by blank lines. P: name, V: version, o: origin (the source
// package), A: architecture; F: a folder and each R: after it a file the
// package installed there. Records without P or V are skipped.
func parseApkInstalled(data []byte) []apkEntry {
	var out []apkEntry
	var cur apkEntry
	var dir string
	flush := func() {
		dir = ""
		if cur.Name != "" && cur.Version != "" {
			out = append(out, cur)
		}
		cur = apkEntry{}
	}
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		value := string(bytes.TrimSpace(line[2:]))
		switch line[0] {
		case 'P':
			cur.Name = value
		case 'V':
			cur.Version = value
		case 'o':
			cur.Origin = value
		case 'A':
			cur.Arch = value
		case 'F':
			dir = value
		case 'R':
			if value != "" {
				cur.Files = append(cur.Files, path.Join(dir, value))
			}
		}
	}
	flush()
	return out
}

// apkPackages turns records into packages of the image's release: OSV
// names Alpine releases "Alpine:v3.10" (from VERSION_ID 3.10.4).
func apkPackages(entries []apkEntry, osr scan.OSRelease) []scan.Package {
	eco, ns := "Alpine", "alpine"
	switch osr.ID {
	case "alpine":
		if mm := majorMinor(osr.VersionID); mm != "" {
			eco += ":v" + mm
		}
	case "wolfi":
		eco, ns = "Wolfi", "wolfi"
	case "chainguard":
		eco, ns = "Chainguard", "chainguard"
	}
	var distro string
	if osr.ID != "" && osr.VersionID != "" {
		distro = osr.ID + "-" + osr.VersionID
	}
	out := make([]scan.Package, 0, len(entries))
	for _, e := range entries {
		src := e.Origin
		if src == e.Name {
			src = ""
		}
		out = append(out, scan.Package{
			Ecosystem: eco,
			Name:      e.Name,
			Source:    src,
			Version:   e.Version,
			PURL:      purl("apk", ns, e.Name, e.Version, qualifiers("arch", e.Arch, "distro", distro)),
		})
	}
	return out
}

// majorMinor returns "3.10" for "3.10.4" (and for "3.10_alpha2024…"), ""
// when v does not start with two numbers.
func majorMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	if parts[0] == "" || minor == "" || strings.Trim(parts[0], "0123456789") != "" {
		return ""
	}
	return parts[0] + "." + minor
}
