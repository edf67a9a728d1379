package inventory

import (
	"bytes"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// isPythonMetadata says whether base in dir is an installed Python
// distribution's metadata: "<name>-<version>.dist-info/METADATA" (wheels,
// pip), "<name>.egg-info/PKG-INFO" (setuptools, Debian's python3-* packages)
// or a single-file "<name>.egg-info" (distutils).
func isPythonMetadata(dir, base string) bool {
	switch base {
	case "METADATA":
		return strings.HasSuffix(dir, ".dist-info")
	case "PKG-INFO":
		return strings.HasSuffix(dir, ".egg-info")
	}
	return strings.HasSuffix(base, ".egg-info") && base != ".egg-info"
}

// pythonPackages reads the Name and Version of core metadata (PEP 566: RFC
// 822 style "Key: value" headers, ended by the first blank line, before the
// long description). A file without both is not a distribution: nothing.
func pythonPackages(data []byte) []scan.Package {
	var name, version string
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // a folded continuation of a multi-line header
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch {
		case name == "" && bytes.EqualFold(key, []byte("Name")):
			name = string(bytes.TrimSpace(value))
		case version == "" && bytes.EqualFold(key, []byte("Version")):
			version = string(bytes.TrimSpace(value))
		}
	}
	if name == "" || version == "" {
		return nil
	}
	return []scan.Package{{Ecosystem: "PyPI", Name: name, Version: version,
		PURL: purl("pypi", "", pep503Name(name), version, nil)}}
}

// pep503Name normalises a distribution name as PyPI and OSV's PyPI records
// do (PEP 503): lower case, each run of "-", "_" and "." as one "-".
func pep503Name(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isPEP503Separator(c):
			if i == 0 || !isPEP503Separator(name[i-1]) {
				b.WriteByte('-')
			}
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isPEP503Separator(c byte) bool {
	return c == '-' || c == '_' || c == '.'
}
