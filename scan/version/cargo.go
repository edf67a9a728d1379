package version

import (
	"strconv"
	"strings"

	"golang.org/x/mod/semver"
)

// cargoSemver returns v in the form golang.org/x/mod/semver takes. Cargo's
// semver crate takes exactly MAJOR.MINOR.PATCH[-PRE][+BUILD]: no "v", no
// surrounding space, no leading zeros, and each of the three numbers must
// fit in a u64.
func cargoSemver(v string) (string, error) {
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 || !semver.IsValid("v"+v) {
		return "", invalidf("crates.io", v, "not a semantic version")
	}
	for _, p := range parts {
		if _, err := strconv.ParseUint(p, 10, 64); err != nil {
			return "", invalidf("crates.io", v, "%q does not fit in a u64", p)
		}
	}
	return "v" + v, nil
}

// Cargo orders two crate versions by semantic versioning 2.0.0 precedence.
// Build metadata is ignored: the semver crate's Ord breaks ties on it, but
// crates.io refuses a version that differs from a published one only in
// build metadata, so no two versions of a crate can differ there, and
// semver.org's precedence, which advisories are written against, ignores it.
func Cargo(a, b string) (int, error) {
	va, err := cargoSemver(a)
	if err != nil {
		return 0, err
	}
	vb, err := cargoSemver(b)
	if err != nil {
		return 0, err
	}
	return semver.Compare(va, vb), nil
}
