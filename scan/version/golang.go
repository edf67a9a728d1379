package version

import (
	"regexp"
	"strings"

	"golang.org/x/mod/semver"
)

// goToolchain matches Go release names, with or without the "go" prefix:
// "go1.21.3", "1.21", "go1.21rc1", "go1.13beta1". It is the tag form that
// golang.org/x/vuln maps to semver for the "stdlib" and "toolchain" packages.
var goToolchain = regexp.MustCompile(`^(?:go)?(\d+\.\d+)(\.\d+)?(?:(beta|rc)(\d+))?$`)

// Go orders two Go versions by semver precedence. It accepts module versions
// with or without the leading "v" (OSV's Go records omit it), pseudo-versions
// (which semver already orders by their timestamp prefix), build suffixes
// such as "+incompatible" (ignored, as semver ignores build metadata), and Go
// toolchain names, mapped as the Go vulnerability database does:
// "go1.21.3" → v1.21.3, "1.21" → v1.21.0, "go1.21rc1" → v1.21.0-rc.1,
// "go1.13beta1" → v1.13.0-beta.1, "go1" → v1.0.0.
func Go(a, b string) (int, error) {
	va, err := goSemver(a)
	if err != nil {
		return 0, err
	}
	vb, err := goSemver(b)
	if err != nil {
		return 0, err
	}
	return semver.Compare(va, vb), nil
}

// goSemver returns v as a valid semver string with the leading "v".
func goSemver(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, "v"):
		if semver.IsValid(v) {
			return v, nil
		}
	case strings.HasPrefix(v, "go"):
		if s, ok := goToolchainSemver(v); ok {
			return s, nil
		}
	default:
		if semver.IsValid("v" + v) {
			return "v" + v, nil
		}
		if s, ok := goToolchainSemver(v); ok {
			return s, nil
		}
	}
	return "", invalidf("Go", v, "neither semver nor a Go toolchain version")
}

// goToolchainSemver maps a Go release name to semver (see Go).
func goToolchainSemver(v string) (string, bool) {
	if v == "go1" || v == "1" {
		return "v1.0.0", true
	}
	m := goToolchain.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	s := "v" + m[1]
	if m[2] != "" {
		s += m[2]
	} else {
		s += ".0"
	}
	if m[3] != "" {
		s += "-" + m[3] + "." + m[4]
	}
	if !semver.IsValid(s) { // leading zeros, e.g. "go01.2"
		return "", false
	}
	return s, true
}
