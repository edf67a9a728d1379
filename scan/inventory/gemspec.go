package inventory

import (
	"bytes"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// isGemspec says whether base in dir is an installed gem's specification:
// RubyGems writes "<name>-<version>.gemspec" into the specifications folder
// of each gem home (system, /usr/local/bundle, vendor/bundle), and the gems
// Ruby ships with into specifications/default.
func isGemspec(dir, base string) bool {
	if !strings.HasSuffix(base, ".gemspec") || base == ".gemspec" {
		return false
	}
	return dir == "specifications" || strings.HasSuffix(dir, "/specifications") ||
		dir == "specifications/default" || strings.HasSuffix(dir, "/specifications/default")
}

// gemspecPackages reads the name and version of an installed gemspec, Ruby
// that RubyGems' to_ruby wrote ("s.name = "rake".freeze"), without running
// it: only those two assignments of a quoted string are read. A file that
// lacks either is named by its file name, base, instead.
func gemspecPackages(data []byte, base string) []scan.Package {
	var name, version string
	for line := range bytes.Lines(data) {
		key, value, ok := gemspecAssignment(line)
		switch {
		case !ok:
		case key == "name" && name == "":
			name = value
		case key == "version" && version == "":
			version = value
		}
	}
	if name == "" || version == "" {
		name, version = gemNameFromFile(base)
	}
	if name == "" || version == "" || strings.ContainsAny(name+version, " \t\r\n/") {
		return nil
	}
	return []scan.Package{{Ecosystem: "RubyGems", Name: name, Version: version, PURL: purl("gem", "", name, version, nil)}}
}

// gemspecAssignment reads a line `<var>.<key> = <string>`, the string in
// double or single quotes or %q{}, optionally followed by .freeze.
func gemspecAssignment(line []byte) (key, value string, ok bool) {
	lhs, rhs, ok := bytes.Cut(bytes.TrimSpace(line), []byte("="))
	if !ok {
		return "", "", false
	}
	_, k, ok := bytes.Cut(bytes.TrimSpace(lhs), []byte("."))
	if !ok || !isRubyIdent(k) {
		return "", "", false
	}
	rhs = bytes.TrimSpace(rhs)
	var closer byte
	switch {
	case bytes.HasPrefix(rhs, []byte(`"`)), bytes.HasPrefix(rhs, []byte(`'`)):
		closer, rhs = rhs[0], rhs[1:]
	case bytes.HasPrefix(rhs, []byte("%q{")):
		closer, rhs = '}', rhs[3:]
	default:
		return "", "", false
	}
	v, rest, ok := bytes.Cut(rhs, []byte{closer})
	rest = bytes.TrimSpace(rest)
	if !ok || len(v) == 0 || bytes.ContainsAny(v, `\#"'{}`) || len(rest) > 0 && !bytes.Equal(rest, []byte(".freeze")) {
		return "", "", false
	}
	return string(k), string(v), true
}

func isRubyIdent(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return len(b) > 0
}

// gemNameFromFile splits "<name>-<version>.gemspec" at the last "-"
// followed by a digit (gem names may hold "-" and digits: "net-http-0.3.2").
func gemNameFromFile(base string) (name, version string) {
	stem := strings.TrimSuffix(base, ".gemspec")
	for i := len(stem) - 2; i > 0; i-- {
		if stem[i] == '-' && '0' <= stem[i+1] && stem[i+1] <= '9' {
			return stem[:i], stem[i+1:]
		}
	}
	return "", ""
}
