package version

import "strings"

// rpmEVR is an RPM epoch:version-release.
type rpmEVR struct{ epoch, version, release string }

// parseRPM splits "[epoch:]version[-release]" as rpm's parseEVR does: the
// epoch is the digits before the first ':', the release follows the last
// '-'. An absent epoch is 0, as rpm treats it.
func parseRPM(v string) (rpmEVR, error) {
	if v == "" {
		return rpmEVR{}, invalidf("RPM", v, "empty")
	}
	for i := 0; i < len(v); i++ {
		// rpm rejects whitespace and control bytes in a version tag.
		if v[i] <= ' ' || v[i] == 0x7f {
			return rpmEVR{}, invalidf("RPM", v, "space or control character")
		}
	}
	e := rpmEVR{epoch: "0"}
	rest := v
	if ep, after, ok := strings.Cut(v, ":"); ok {
		if ep == "" || strings.IndexFunc(ep, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			return rpmEVR{}, invalidf("RPM", v, "epoch is not a number")
		}
		e.epoch, rest = ep, after
	}
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		e.version, e.release = rest[:i], rest[i+1:]
	} else {
		e.version = rest
	}
	if e.version == "" {
		return rpmEVR{}, invalidf("RPM", v, "empty version")
	}
	if strings.Contains(e.release, ":") || strings.Contains(e.version, ":") {
		return rpmEVR{}, invalidf("RPM", v, "more than one ':'")
	}
	return e, nil
}

// RPM orders two epoch:version-release strings as rpm does: epochs as
// numbers, then version and release with rpmvercmp.
func RPM(a, b string) (int, error) {
	ea, err := parseRPM(a)
	if err != nil {
		return 0, err
	}
	eb, err := parseRPM(b)
	if err != nil {
		return 0, err
	}
	if c := compareDigits(ea.epoch, eb.epoch); c != 0 {
		return c, nil
	}
	if c := rpmvercmp(ea.version, eb.version); c != 0 {
		return c, nil
	}
	return rpmvercmp(ea.release, eb.release), nil
}

// rpmvercmp is rpm's lib/rpmvercmp.c: the strings are runs of digits, runs
// of letters, '~' and '^', with every other byte a separator. Run by run,
// '~' sorts before anything (the end included), the end before '^', '^'
// before any run, a letter run before a digit run; digit runs compare as
// numbers and letter runs in ASCII order.
func rpmvercmp(a, b string) int {
	for {
		a = strings.TrimLeftFunc(a, rpmSeparator)
		b = strings.TrimLeftFunc(b, rpmSeparator)
		ka, ra, na := rpmToken(a)
		kb, rb, nb := rpmToken(b)
		if ka != kb {
			return sign(ka - kb)
		}
		switch ka {
		case rpmEnd:
			return 0
		case rpmDigits:
			if c := compareDigits(ra, rb); c != 0 {
				return c
			}
		case rpmLetters:
			if c := strings.Compare(ra, rb); c != 0 {
				return c
			}
		}
		a, b = a[na:], b[nb:]
	}
}

// Token kinds in rpmvercmp's order.
const (
	rpmTilde = iota
	rpmEnd
	rpmCaret
	rpmLetters
	rpmDigits
)

// rpmToken returns the kind of the token s starts with, its text and length.
func rpmToken(s string) (kind int, tok string, n int) {
	if s == "" {
		return rpmEnd, "", 0
	}
	switch c := s[0]; {
	case c == '~':
		return rpmTilde, "~", 1
	case c == '^':
		return rpmCaret, "^", 1
	case isDigit(c):
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		return rpmDigits, s[:n], n
	}
	for n < len(s) && isAlpha(s[n]) {
		n++
	}
	return rpmLetters, s[:n], n
}

// rpmSeparator reports whether rpmvercmp skips r: anything but an ASCII
// letter or digit, '~' or '^' (bytes past ASCII included, as rpm's
// risalnum is ASCII only).
func rpmSeparator(r rune) bool {
	return r > 0x7f || !(r < 0x80 && (isDigit(byte(r)) || isAlpha(byte(r)))) && r != '~' && r != '^'
}
