// Package version orders package versions under each ecosystem's own rules:
// dpkg for Debian and Ubuntu, apk-tools for Alpine, semantic versioning
// (with Go toolchain names mapped onto it) for Go, PEP 440 for PyPI,
// node-semver for npm, Maven's ComparableVersion for Maven, rpm's
// epoch:version-release with rpmvercmp for the RPM distributions (Red Hat,
// AlmaLinux, Rocky Linux, openSUSE, SUSE, Mageia), Gem::Version for
// RubyGems, strict semantic versioning for crates.io, NuGet.Versioning's
// order for NuGet and Composer's normalised versions for Packagist.
//
// Every function returns an error, never a panic, for a version its
// ecosystem would not accept, so a caller can tell "not comparable" apart
// from "equal".
package version

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error about a malformed version string.
var ErrInvalid = errors.New("invalid version")

// ErrUnknownEcosystem is wrapped by the error Compare returns for an
// ecosystem this package has no ordering for.
var ErrUnknownEcosystem = errors.New("unknown ecosystem")

// invalidf builds an error that wraps ErrInvalid and names the offending version.
func invalidf(ecosystem, v, format string, args ...any) error {
	return fmt.Errorf("%w: %s %q: %s", ErrInvalid, ecosystem, v, fmt.Sprintf(format, args...))
}

// comparer returns the ordering for an OSV ecosystem name; the release part
// after the first ':' ("Debian:12", "Alpine:v3.10", "Ubuntu:22.04:LTS") does
// not change the rules.
func comparer(ecosystem string) (func(a, b string) (int, error), bool) {
	name, _, _ := strings.Cut(ecosystem, ":")
	switch name {
	case "Debian", "Ubuntu":
		return Debian, true
	case "Alpine":
		return Alpine, true
	case "Go":
		return Go, true
	case "PyPI":
		return PyPI, true
	case "npm":
		return Npm, true
	case "Maven":
		return Maven, true
	case "Red Hat", "AlmaLinux", "Rocky Linux", "openSUSE", "SUSE", "Mageia":
		return RPM, true
	case "RubyGems":
		return RubyGems, true
	case "crates.io":
		return Cargo, true
	case "NuGet":
		return NuGet, true
	case "Packagist":
		return Composer, true
	}
	return nil, false
}

// Compare orders two versions under an ecosystem's own rules: -1, 0, +1.
// ecosystem is the OSV ecosystem ("Debian", "Debian:12", "Ubuntu:…",
// "Alpine", "Alpine:v3.10", "Go", "PyPI", "npm", "Maven", "Red Hat",
// "AlmaLinux:8", "RubyGems", "crates.io", "NuGet", "Packagist", …); the part after ':' is ignored.
func Compare(ecosystem, a, b string) (int, error) {
	cmp, ok := comparer(ecosystem)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownEcosystem, ecosystem)
	}
	return cmp(a, b)
}

// Valid reports whether v is a well-formed version in ecosystem; it is false
// for an unknown ecosystem.
func Valid(ecosystem, v string) bool {
	name, _, _ := strings.Cut(ecosystem, ":")
	switch name {
	case "Debian", "Ubuntu":
		_, err := parseDebian(v)
		return err == nil
	case "Alpine":
		_, err := parseAlpine(v)
		return err == nil
	case "Go":
		_, err := goSemver(v)
		return err == nil
	case "PyPI":
		_, err := parsePyPI(v)
		return err == nil
	case "npm":
		_, err := npmSemver(v)
		return err == nil
	case "Maven":
		_, err := parseMaven(v)
		return err == nil
	case "Red Hat", "AlmaLinux", "Rocky Linux", "openSUSE", "SUSE", "Mageia":
		_, err := parseRPM(v)
		return err == nil
	case "RubyGems":
		_, err := parseRubyGems(v)
		return err == nil
	case "crates.io":
		_, err := cargoSemver(v)
		return err == nil
	case "NuGet":
		_, err := parseNuGet(v)
		return err == nil
	case "Packagist":
		_, err := parseComposer(v)
		return err == nil
	}
	return false
}

// sign maps any int to -1, 0 or +1.
func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// compareDigits compares two non-empty runs of ASCII digits as unbounded
// non-negative integers, so no length of number can overflow.
func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
