package version

import "strings"

// rubySegment is one segment of a Gem::Version: a run of digits or of letters.
type rubySegment struct {
	text    string
	numeric bool
}

// parseRubyGems returns Gem::Version's canonical segments of v. It accepts
// what Gem::Version::ANCHORED_VERSION_PATTERN does ("1.2.3", "1.0.a9",
// "1.0.0-rc.1", surrounding space), reads "-" as ".pre." as Gem::Version.new
// does, and drops trailing zeros from the release part and from the
// pre-release part, as canonical_segments does. The empty version, which
// Gem::Version reads as "0", is rejected: an unknown version must not fall
// inside every range that starts at 0.
func parseRubyGems(v string) ([]rubySegment, error) {
	s := strings.Trim(v, " \t\r\n\f\v")
	if s == "" {
		return nil, invalidf("RubyGems", v, "empty")
	}
	if !rubyPattern(s) {
		return nil, invalidf("RubyGems", v, "malformed version number string")
	}
	s = strings.ReplaceAll(s, "-", ".pre.")
	var segs []rubySegment
	for i := 0; i < len(s); {
		j := i
		switch {
		case isDigit(s[i]):
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			segs = append(segs, rubySegment{strings.TrimLeft(s[i:j], "0"), true})
		case isAlpha(s[i]):
			for j < len(s) && isAlpha(s[j]) {
				j++
			}
			segs = append(segs, rubySegment{s[i:j], false})
		default:
			j++
		}
		i = j
	}
	// canonical_segments: trailing zeros go from the numbers before the
	// first letter segment, and from the segments after it.
	first := len(segs)
	for i, sg := range segs {
		if !sg.numeric {
			first = i
			break
		}
	}
	release, pre := dropZeros(segs[:first]), dropZeros(segs[first:])
	return append(release[:len(release):len(release)], pre...), nil
}

// dropZeros removes trailing zero segments (stored as "", leading zeros trimmed).
func dropZeros(segs []rubySegment) []rubySegment {
	for len(segs) > 0 && segs[len(segs)-1].numeric && segs[len(segs)-1].text == "" {
		segs = segs[:len(segs)-1]
	}
	return segs
}

// rubyPattern matches Gem::Version's
// [0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?
func rubyPattern(s string) bool {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return false
	}
	// Dot-separated alphanumeric parts until an optional "-" tail, in which
	// "-" is allowed inside parts too.
	tail := false
	for i < len(s) {
		switch {
		case s[i] == '.':
		case s[i] == '-' && !tail:
			tail = true
		default:
			return false
		}
		i++
		j := i
		for j < len(s) && (isDigit(s[j]) || isAlpha(s[j]) || tail && s[j] == '-') {
			j++
		}
		if j == i {
			return false
		}
		i = j
	}
	return true
}

// RubyGems orders two versions as Gem::Version#<=> does: canonical segments
// compared in turn, a missing one counting as 0, numbers numerically,
// letters in byte order, and a letter segment below any number, so
// "1.0.a" (a pre-release) sorts before "1.0".
func RubyGems(a, b string) (int, error) {
	sa, err := parseRubyGems(a)
	if err != nil {
		return 0, err
	}
	sb, err := parseRubyGems(b)
	if err != nil {
		return 0, err
	}
	zero := rubySegment{"", true}
	for i := 0; i < len(sa) || i < len(sb); i++ {
		x, y := zero, zero
		if i < len(sa) {
			x = sa[i]
		}
		if i < len(sb) {
			y = sb[i]
		}
		switch {
		case x.numeric && y.numeric:
			if c := compareDigits(x.text, y.text); c != 0 {
				return c, nil
			}
		case x.numeric:
			return 1, nil
		case y.numeric:
			return -1, nil
		default:
			if c := strings.Compare(x.text, y.text); c != 0 {
				return c, nil
			}
		}
	}
	return 0, nil
}
