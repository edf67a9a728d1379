package version

import "strings"

// apk token types, in apk-tools' order (src/version.c, enum PARTS): when two
// versions agree up to a point and then differ in token type, the type with
// the higher number sorts lower (see Alpine).
const (
	apkInitialDigit = iota
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkCommitHash
	apkRevisionNo
	apkEnd
)

// apk suffix values: the pre-release ones sort below apkSuffixNone (no
// suffix), the post-release ones above it.
const (
	apkSuffixAlpha = iota + 1
	apkSuffixBeta
	apkSuffixPre
	apkSuffixRC
	apkSuffixNone
	apkSuffixCVS
	apkSuffixSVN
	apkSuffixGit
	apkSuffixHg
	apkSuffixP
)

var apkSuffixes = map[string]int{
	"alpha": apkSuffixAlpha, "beta": apkSuffixBeta, "pre": apkSuffixPre, "rc": apkSuffixRC,
	"cvs": apkSuffixCVS, "svn": apkSuffixSVN, "git": apkSuffixGit, "hg": apkSuffixHg, "p": apkSuffixP,
}

// apkToken is one component of an apk version.
type apkToken struct {
	typ    int
	suffix int    // for apkSuffix
	value  string // digits, the letter, the suffix name or the commit hash
}

// Alpine orders two apk versions as apk-tools' apk_version_compare does
// (src/version.c, apk-tools 3): digit{.digit}...{letter}{_suffix{number}}...{~hash}{-rN}.
//
// Tokens are compared pairwise while both versions have the same token type:
// the first number and "-rN" revisions and suffix numbers numerically; later
// dot-separated numbers numerically too, unless either starts with '0', when
// they are compared as strings (Gentoo's rule, so "1.05" < "1.1" and
// "1.0" < "1.00"); letters and commit hashes as strings; suffixes by rank,
// _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p.
// When the types first differ, a pre-release suffix sorts lower; otherwise the
// version whose token type comes later in the list above sorts lower, so
// "1.0" < "1.0-r1" < "1.0_p1" < "1.0a" < "1.0.1". A missing "-rN" thus
// compares below "-r0" ("1.0" < "1.0-r0"), exactly as apk does.
//
// Deviations, both only for inputs apk itself mishandles: numbers of any
// length are compared exactly (apk wraps at 2^64), and a version apk would
// call invalid is an error here (apk compares its valid prefix).
// apk-tools 2 (older Alpine releases) also accepted digits after a letter
// ("6.6.2p1", a typo found in alpine-secdb) and ranked "1.0" above "1.00";
// apk-tools 3, followed here, rejects the first and string-sorts the second.
func Alpine(a, b string) (int, error) {
	ta, err := parseAlpine(a)
	if err != nil {
		return 0, err
	}
	tb, err := parseAlpine(b)
	if err != nil {
		return 0, err
	}
	i := 0
	for ; ta[i].typ == tb[i].typ && ta[i].typ != apkEnd; i++ {
		if c := apkTokenCompare(ta[i], tb[i]); c != 0 {
			return c, nil
		}
	}
	x, y := ta[i], tb[i]
	switch {
	case x.typ == y.typ:
		return 0, nil
	case x.typ == apkSuffix && x.suffix < apkSuffixNone:
		return -1, nil
	case y.typ == apkSuffix && y.suffix < apkSuffixNone:
		return 1, nil
	case x.typ > y.typ:
		return -1, nil
	}
	return 1, nil
}

// apkTokenCompare is apk-tools' token_cmp for two tokens of the same type.
func apkTokenCompare(a, b apkToken) int {
	switch a.typ {
	case apkDigit:
		if a.value[0] == '0' || b.value[0] == '0' {
			return strings.Compare(a.value, b.value)
		}
		return compareDigits(a.value, b.value)
	case apkInitialDigit, apkSuffixNo, apkRevisionNo:
		return compareDigits(a.value, b.value)
	case apkSuffix:
		return sign(a.suffix - b.suffix)
	}
	return strings.Compare(a.value, b.value) // letters, commit hashes
}

// parseAlpine splits an apk version into tokens ending with an apkEnd token,
// applying apk-tools' token_next rules for which token may follow which.
func parseAlpine(s string) ([]apkToken, error) {
	const eco = "Alpine"
	digits := func(i int) int {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i
	}
	end := digits(0)
	if end == 0 {
		return nil, invalidf(eco, s, "must start with a digit")
	}
	toks := []apkToken{{typ: apkInitialDigit, value: s[:end]}}
	for i := end; i < len(s); {
		prev := toks[len(toks)-1].typ
		c := s[i]
		var t apkToken
		switch {
		case 'a' <= c && c <= 'z':
			if prev > apkDigit {
				return nil, invalidf(eco, s, "letter %q at offset %d must follow a number", c, i)
			}
			t = apkToken{typ: apkLetter, value: s[i : i+1]}
			i++
		case c == '.':
			if prev > apkDigit {
				return nil, invalidf(eco, s, "'.' at offset %d must follow a number", i)
			}
			e := digits(i + 1)
			if e == i+1 {
				return nil, invalidf(eco, s, "no number after '.' at offset %d", i)
			}
			t = apkToken{typ: apkDigit, value: s[i+1 : e]}
			i = e
		case isDigit(c):
			if prev != apkSuffix {
				return nil, invalidf(eco, s, "unexpected digit at offset %d", i)
			}
			e := digits(i)
			t = apkToken{typ: apkSuffixNo, value: s[i:e]}
			i = e
		case c == '_':
			if prev > apkSuffixNo {
				return nil, invalidf(eco, s, "suffix at offset %d comes too late", i)
			}
			e := i + 1
			for e < len(s) && 'a' <= s[e] && s[e] <= 'z' {
				e++
			}
			suf, ok := apkSuffixes[s[i+1:e]]
			if !ok {
				return nil, invalidf(eco, s, "unknown suffix %q", s[i+1:e])
			}
			t = apkToken{typ: apkSuffix, suffix: suf, value: s[i+1 : e]}
			i = e
		case c == '~':
			if prev >= apkCommitHash {
				return nil, invalidf(eco, s, "commit hash at offset %d comes too late", i)
			}
			e := i + 1
			for e < len(s) && (isDigit(s[e]) || 'a' <= s[e] && s[e] <= 'f') {
				e++
			}
			if e == i+1 {
				return nil, invalidf(eco, s, "empty commit hash at offset %d", i)
			}
			t = apkToken{typ: apkCommitHash, value: s[i+1 : e]}
			i = e
		case c == '-':
			if prev >= apkRevisionNo || !strings.HasPrefix(s[i:], "-r") {
				return nil, invalidf(eco, s, "'-' at offset %d must start the one \"-rN\" revision", i)
			}
			e := digits(i + 2)
			if e == i+2 {
				return nil, invalidf(eco, s, "no number after \"-r\" at offset %d", i)
			}
			t = apkToken{typ: apkRevisionNo, value: s[i+2 : e]}
			i = e
		default:
			return nil, invalidf(eco, s, "invalid character %q at offset %d", c, i)
		}
		toks = append(toks, t)
	}
	return append(toks, apkToken{typ: apkEnd}), nil
}
