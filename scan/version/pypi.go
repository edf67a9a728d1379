package version

import (
	"regexp"
	"strings"
)

// pep440 is the version pattern of PEP 440's appendix (packaging's
// VERSION_PATTERN), anchored, for a lower-cased and trimmed version: it
// accepts the alternative spellings ("1.0-alpha.1", "1.0c1", "1.0-1",
// "1.0.dev") that normalisation maps to the canonical form.
var pep440 = regexp.MustCompile(`^v?` +
	`(?:(\d+)!)?` + // epoch
	`(\d+(?:\.\d+)*)` + // release
	`(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?` + // pre-release
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?` + // post-release
	`(?:[-_.]?(dev)[-_.]?(\d+)?)?` + // development release
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`) // local version

// pypiVersion is a parsed PEP 440 version. Absent parts use the sentinels
// of packaging's comparison key: a missing pre-release sorts after every
// pre-release (except for a bare dev release, which sorts before them), a
// missing post-release before every post-release, a missing dev release
// after every dev release, a missing local part before any local part.
type pypiVersion struct {
	epoch   string
	release []string // trailing zeros removed: 1.0 == 1
	pre     int      // -1: dev-only (before any pre-release), 0..2: a, b, rc, 3: none
	preN    string
	post    string // "" none, else digits
	hasPost bool
	dev     string
	hasDev  bool
	local   []string
}

func parsePyPI(v string) (pypiVersion, error) {
	m := pep440.FindStringSubmatch(strings.ToLower(strings.TrimSpace(v)))
	if m == nil {
		return pypiVersion{}, invalidf("PyPI", v, "not a PEP 440 version")
	}
	p := pypiVersion{epoch: m[1], pre: 3}
	if p.epoch == "" {
		p.epoch = "0"
	}
	p.release = strings.Split(m[2], ".")
	for len(p.release) > 1 && strings.Trim(p.release[len(p.release)-1], "0") == "" {
		p.release = p.release[:len(p.release)-1]
	}
	if m[3] != "" {
		switch m[3] {
		case "a", "alpha":
			p.pre = 0
		case "b", "beta":
			p.pre = 1
		default: // c, rc, pre, preview
			p.pre = 2
		}
		p.preN = orZero(m[4])
	}
	switch {
	case m[5] != "":
		p.hasPost, p.post = true, m[5]
	case m[6] != "":
		p.hasPost, p.post = true, orZero(m[7])
	}
	if m[8] != "" {
		p.hasDev, p.dev = true, orZero(m[9])
	}
	if m[3] == "" && !p.hasPost && p.hasDev {
		p.pre = -1
	}
	if m[10] != "" {
		p.local = strings.FieldsFunc(m[10], func(r rune) bool { return r == '-' || r == '_' || r == '.' })
	}
	return p, nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// PyPI orders two versions by PEP 440: epoch, release (1.0 == 1.0.0),
// pre-release (dev < a < b < rc), post-release, dev release, local version
// (numeric segments above alphanumeric ones, a longer local version above
// its prefix). Alternative spellings compare as their normal form.
func PyPI(a, b string) (int, error) {
	va, err := parsePyPI(a)
	if err != nil {
		return 0, err
	}
	vb, err := parsePyPI(b)
	if err != nil {
		return 0, err
	}
	return comparePyPI(va, vb), nil
}

func comparePyPI(a, b pypiVersion) int {
	if c := compareDigits(a.epoch, b.epoch); c != 0 {
		return c
	}
	for i := 0; i < max(len(a.release), len(b.release)); i++ {
		if c := compareDigits(at(a.release, i), at(b.release, i)); c != 0 {
			return c
		}
	}
	if c := sign(a.pre - b.pre); c != 0 {
		return c
	}
	if a.pre >= 0 && a.pre < 3 {
		if c := compareDigits(a.preN, b.preN); c != 0 {
			return c
		}
	}
	if a.hasPost != b.hasPost {
		return boolOrder(a.hasPost)
	}
	if c := compareDigits(orZero(a.post), orZero(b.post)); c != 0 {
		return c
	}
	if a.hasDev != b.hasDev {
		return -boolOrder(a.hasDev) // no dev release sorts after every dev release
	}
	if c := compareDigits(orZero(a.dev), orZero(b.dev)); c != 0 {
		return c
	}
	for i := 0; i < min(len(a.local), len(b.local)); i++ {
		if c := compareLocalSegment(a.local[i], b.local[i]); c != 0 {
			return c
		}
	}
	return sign(len(a.local) - len(b.local))
}

// at is the i-th release component, or "0" past the end.
func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "0"
}

// boolOrder is +1 for true, -1 for false.
func boolOrder(b bool) int {
	if b {
		return 1
	}
	return -1
}

// compareLocalSegment: numeric segments compare as numbers and above any
// alphanumeric segment, which compare as strings.
func compareLocalSegment(a, b string) int {
	an, bn := allDigits(a), allDigits(b)
	switch {
	case an && bn:
		return compareDigits(a, b)
	case an:
		return 1
	case bn:
		return -1
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
