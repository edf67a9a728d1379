package version

import (
	"strings"

	"golang.org/x/mod/semver"
)

// npmSemver returns v in the form golang.org/x/mod/semver takes ("v" and a
// full MAJOR.MINOR.PATCH). node-semver accepts, and strips, surrounding
// space and a leading "=" or "v"; it does not accept the "v1" or "v1.2"
// shorthands that x/mod/semver does.
func npmSemver(v string) (string, error) {
	s := strings.TrimSpace(v)
	s = strings.TrimPrefix(s, "=")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	core := s
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	if strings.Count(core, ".") != 2 || !semver.IsValid("v"+s) {
		return "", invalidf("npm", v, "not a semantic version")
	}
	return "v" + s, nil
}

// Npm orders two versions as node-semver does: semantic versioning 2.0.0
// precedence (a pre-release sorts before its release, pre-release
// identifiers compare numerically or in ASCII order, build metadata is
// ignored).
func Npm(a, b string) (int, error) {
	va, err := npmSemver(a)
	if err != nil {
		return 0, err
	}
	vb, err := npmSemver(b)
	if err != nil {
		return 0, err
	}
	return semver.Compare(va, vb), nil
}
