package version

import (
	"math"
	"strings"
)

// debianVersion is a parsed dpkg version: [epoch:]upstream[-revision].
type debianVersion struct {
	epoch    int
	upstream string
	revision string // "" when absent; dpkg compares an absent revision as ""
}

// Debian orders two dpkg versions (Debian Policy §5.6.12), as dpkg's
// dpkg_version_compare does: epochs numerically, then upstream versions, then
// revisions, each with verrevcmp. Ubuntu uses the same rules.
func Debian(a, b string) (int, error) {
	va, err := parseDebian(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseDebian(b)
	if err != nil {
		return 0, err
	}
	if va.epoch != vb.epoch {
		return sign(va.epoch - vb.epoch), nil
	}
	if c := verrevcmp(va.upstream, vb.upstream); c != 0 {
		return c, nil
	}
	return verrevcmp(va.revision, vb.revision), nil
}

// parseDebian follows dpkg's parseversion (lib/dpkg/parsehelp.c). It treats
// what dpkg reports as warnings (an upstream version not starting with a
// digit, characters outside the allowed sets) as invalid too, as
// Dpkg::Version's is_valid does: the policy defines no order for them.
// Surrounding blanks are trimmed as dpkg does. Epochs are plain digits up to
// INT_MAX (dpkg's strtol would also take a sign; no real package has one).
func parseDebian(s string) (debianVersion, error) {
	const eco = "Debian"
	var v debianVersion
	str := strings.Trim(s, " \t")
	if str == "" {
		return v, invalidf(eco, s, "version string is empty")
	}
	if strings.ContainsAny(str, " \t") {
		return v, invalidf(eco, s, "version string has embedded spaces")
	}
	if epoch, rest, ok := strings.Cut(str, ":"); ok {
		if epoch == "" {
			return v, invalidf(eco, s, "epoch in version is empty")
		}
		n := 0
		for i := 0; i < len(epoch); i++ {
			if !isDigit(epoch[i]) {
				return v, invalidf(eco, s, "epoch in version is not number")
			}
			n = n*10 + int(epoch[i]-'0')
			if n > math.MaxInt32 {
				return v, invalidf(eco, s, "epoch in version is too big")
			}
		}
		if rest == "" {
			return v, invalidf(eco, s, "nothing after colon in version number")
		}
		v.epoch, str = n, rest
	}
	v.upstream = str
	if i := strings.LastIndexByte(str, '-'); i >= 0 {
		// An empty revision ("1.0-") is accepted and equals no revision,
		// as in dpkg's own test data ("0foo- 0foo 0").
		v.upstream, v.revision = str[:i], str[i+1:]
	}
	if v.upstream == "" {
		return v, invalidf(eco, s, "upstream version is empty")
	}
	if !isDigit(v.upstream[0]) {
		return v, invalidf(eco, s, "version number does not start with digit")
	}
	for i := 0; i < len(v.upstream); i++ {
		if c := v.upstream[i]; !isDigit(c) && !isAlpha(c) && strings.IndexByte(".-+~:", c) < 0 {
			return v, invalidf(eco, s, "invalid character in version number")
		}
	}
	for i := 0; i < len(v.revision); i++ {
		if c := v.revision[i]; !isDigit(c) && !isAlpha(c) && strings.IndexByte(".+~", c) < 0 {
			return v, invalidf(eco, s, "invalid character in revision number")
		}
	}
	return v, nil
}

// debianOrder is dpkg's order(): the weight of one character in a non-digit
// run. '~' sorts before everything, even the end of the string (weight 0);
// letters sort before all other characters.
func debianOrder(c byte) int {
	switch {
	case c == 0 || isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

// verrevcmp is dpkg's verrevcmp (lib/dpkg/version.c): alternate runs of
// non-digits (compared character by character with debianOrder) and digits
// (compared numerically). Unlike dpkg it compares digit runs of any length
// exactly, and it returns -1/0/+1.
func verrevcmp(a, b string) int {
	at := func(s string, i int) byte {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := debianOrder(at(a, i)), debianOrder(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := compareDigits(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}
