package inventory

import (
	"bytes"
	"strings"

	"github.com/shoal-dev/shoal/scan"
)

// gemfileLockPackages reads Bundler's Gemfile.lock: in each GEM section
// (gems from a gem server, rubygems.org or a private one) the specs
// indented four spaces, "name (version)" or "name (version-platform)";
// the lines indented six under them are dependency constraints. GIT and
// PATH sections are gems built from a checkout, which RubyGems advisories
// do not describe, and are left out. The version stops at the first "-",
// as Bundler's own lock parser reads it; the platform is not part of it.
func gemfileLockPackages(data []byte) []scan.Package {
	var out []scan.Package
	inGem := false
	for line := range bytes.Lines(data) {
		s := strings.TrimRight(string(line), "\r\n")
		if s == "" {
			continue
		}
		if s[0] != ' ' {
			inGem = s == "GEM"
			continue
		}
		if !inGem || !strings.HasPrefix(s, "    ") || strings.HasPrefix(s, "     ") {
			continue
		}
		name, rest, ok := strings.Cut(s[4:], " (")
		version, closed := strings.CutSuffix(rest, ")")
		if !ok || !closed {
			continue
		}
		version, _, _ = strings.Cut(version, "-")
		if name == "" || version == "" || strings.ContainsAny(name+version, " \t()/,") {
			continue
		}
		out = append(out, scan.Package{Ecosystem: "RubyGems", Name: name, Version: version, PURL: purl("gem", "", name, version, nil)})
	}
	return out
}
