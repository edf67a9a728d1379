package version

import (
	"cmp"
	"strconv"
	"strings"
)

// nugetVersion is a NuGetVersion: up to four numbers and release labels;
// metadata is checked for form and then dropped, as precedence ignores it.
type nugetVersion struct {
	nums   [4]int64
	labels []string
}

// parseNuGet parses v as NuGetVersion.TryParse does: one to four dotted
// numbers, each an Int32 (leading zeros allowed, missing ones 0), then an
// optional "-" and dot-separated release labels and an optional "+" and
// metadata, both of ASCII letters, digits and "-".
func parseNuGet(v string) (nugetVersion, error) {
	var n nugetVersion
	rest, meta, hasMeta := strings.Cut(v, "+")
	if hasMeta && !nugetParts(meta) {
		return n, invalidf("NuGet", v, "malformed metadata")
	}
	core, release, hasRelease := strings.Cut(rest, "-")
	if hasRelease {
		if !nugetParts(release) {
			return n, invalidf("NuGet", v, "malformed release label")
		}
		n.labels = strings.Split(release, ".")
	}
	parts := strings.Split(core, ".")
	if len(parts) > 4 {
		return n, invalidf("NuGet", v, "more than four numbers")
	}
	for i, p := range parts {
		if p == "" || strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			return n, invalidf("NuGet", v, "%q is not a number", p)
		}
		x, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			return n, invalidf("NuGet", v, "%q is past Int32", p)
		}
		n.nums[i] = x
	}
	return n, nil
}

// nugetParts reports whether s is non-empty dot-separated parts of
// [0-9A-Za-z-]+.
func nugetParts(s string) bool {
	for _, p := range strings.Split(s, ".") {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) && !isAlpha(p[i]) && p[i] != '-' {
				return false
			}
		}
	}
	return true
}

// NuGet orders two versions as NuGet.Versioning's VersionComparer.Default
// does: the four numbers, then a release above any pre-release, then the
// labels in turn (fewer labels first when one list is a prefix of the
// other), metadata ignored.
func NuGet(a, b string) (int, error) {
	va, err := parseNuGet(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseNuGet(b)
	if err != nil {
		return 0, err
	}
	for i := range va.nums {
		if c := cmp.Compare(va.nums[i], vb.nums[i]); c != 0 {
			return c, nil
		}
	}
	switch {
	case va.labels == nil && vb.labels == nil:
		return 0, nil
	case va.labels == nil:
		return 1, nil
	case vb.labels == nil:
		return -1, nil
	}
	for i := 0; i < len(va.labels) || i < len(vb.labels); i++ {
		if i >= len(va.labels) {
			return -1, nil
		}
		if i >= len(vb.labels) {
			return 1, nil
		}
		if c := nugetLabel(va.labels[i], vb.labels[i]); c != 0 {
			return c, nil
		}
	}
	return 0, nil
}

// nugetLabel is VersionComparer.CompareRelease: labels that int.TryParse
// reads (an optional "-" and digits within Int32) compare as numbers and
// before any other label; the rest compare ordinally ignoring case.
func nugetLabel(a, b string) int {
	na, aNum := nugetInt(a)
	nb, bNum := nugetInt(b)
	switch {
	case aNum && bNum:
		return cmp.Compare(na, nb)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return strings.Compare(strings.ToUpper(a), strings.ToUpper(b))
}

// nugetInt parses a label as .NET's int.TryParse does for the characters a
// label may hold.
func nugetInt(s string) (int64, bool) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 32)
	return n, err == nil
}
