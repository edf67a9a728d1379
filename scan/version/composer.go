package version

import (
	"regexp"
	"strings"
)

// composerModifier is VersionParser's $modifierRegex (possessive
// quantifiers made greedy: giving digits back never lets the rest match).
const composerModifier = `[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*)?)?([.-]?dev)?`

// Composer's VersionParser::normalize patterns: classical, date, and a
// numeric branch ("2.1.x-dev").
var (
	composerClassical = regexp.MustCompile(`(?i)^v?(\d{1,5})(\.\d+)?(\.\d+)?(\.\d+)?` + composerModifier + `$`)
	composerDate      = regexp.MustCompile(`(?i)^v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3})?)` + composerModifier + `$`)
	composerBranch    = regexp.MustCompile(`(?i)^v?(\d+)(\.(?:\d+|[x*]))?(\.(?:\d+|[x*]))?(\.(?:\d+|[x*]))?[.-]?dev$`)
)

// Composer part ranks in PHP's version_compare order once a version is
// normalised: dev < alpha < beta < RC < (end of version) < any number <
// patch. The end sits there because version_compare, when one version runs
// out, calls the other longer if its next part is a number or "pl", and
// shorter otherwise.
const (
	composerDev = iota
	composerAlpha
	composerBeta
	composerRC
	composerEnd
	composerNumber
	composerPatch
)

type composerPart struct {
	rank int
	num  string
}

// parseComposer normalises v as Composer's VersionParser::normalize does and
// returns the parts PHP's version_compare sees. Branch names ("dev-master",
// "dev-feature") are rejected: Composer orders them by name only, which
// says nothing about which release a fix is in.
func parseComposer(v string) ([]composerPart, error) {
	s := strings.Trim(v, " \t\n\r\x00\x0b")
	if s == "" {
		return nil, invalidf("Packagist", v, "empty")
	}
	if len(s) >= 4 && strings.EqualFold(s[:4], "dev-") || s == "master" || s == "trunk" || s == "default" {
		return nil, invalidf("Packagist", v, "a branch, not a version")
	}
	if base, meta, ok := strings.Cut(s, "+"); ok {
		if base == "" || meta == "" || strings.ContainsAny(base, ", \t\n\r\f\v") || strings.ContainsAny(meta, " \t\n\r\f\v") {
			return nil, invalidf("Packagist", v, "malformed build metadata")
		}
		s = base
	}
	var parts []composerPart
	numbers := func(s string) {
		for _, n := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
			parts = append(parts, composerPart{composerNumber, n})
		}
	}
	var m []string
	if m = composerClassical.FindStringSubmatch(s); m != nil {
		numbers(m[1])
		for _, g := range m[2:5] {
			if g == "" {
				g = "0"
			}
			numbers(g)
		}
		m = m[5:]
	} else if m = composerDate.FindStringSubmatch(s); m != nil {
		numbers(m[1])
		m = m[2:]
	} else if b := composerBranch.FindStringSubmatch(s); b != nil {
		for _, g := range b[1:5] {
			switch g = strings.TrimPrefix(g, "."); strings.ToLower(g) {
			case "", "x", "*":
				g = "9999999"
			}
			numbers(g)
		}
		return append(parts, composerPart{rank: composerDev}), nil
	} else {
		return nil, invalidf("Packagist", v, "not a Composer version")
	}
	stability, number, dev := strings.ToLower(m[0]), m[1], m[2] != ""
	switch stability {
	case "stable":
		return parts, nil // normalize returns here, dropping any "-dev"
	case "":
	default:
		rank := map[string]int{"alpha": composerAlpha, "a": composerAlpha, "beta": composerBeta, "b": composerBeta,
			"rc": composerRC, "patch": composerPatch, "pl": composerPatch, "p": composerPatch}[stability]
		parts = append(parts, composerPart{rank: rank})
		numbers(number)
	}
	if dev {
		parts = append(parts, composerPart{rank: composerDev})
	}
	return parts, nil
}

// Composer orders two Packagist versions as composer/semver's Comparator
// does: both normalised by VersionParser, then compared with PHP's
// version_compare, so 1.0.0-dev < 1.0.0-alpha1 < 1.0.0-beta < 1.0.0-RC1 <
// 1.0.0 < 1.0.0-patch1 < 1.0.0.1. Numbers compare without a size limit
// (PHP's strtol saturates past 2^63; no real version gets there).
func Composer(a, b string) (int, error) {
	pa, err := parseComposer(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseComposer(b)
	if err != nil {
		return 0, err
	}
	for i := 0; ; i++ {
		x, y := composerPart{rank: composerEnd}, composerPart{rank: composerEnd}
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		if x.rank == composerEnd && y.rank == composerEnd {
			return 0, nil
		}
		if x.rank != y.rank {
			return sign(x.rank - y.rank), nil
		}
		if x.rank == composerNumber {
			if c := compareDigits(x.num, y.num); c != 0 {
				return c, nil
			}
		}
	}
}
