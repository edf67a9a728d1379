package version

import (
	"strings"
	"unicode/utf8"
)

// Maven orders two versions as Maven's ComparableVersion does (the
// algorithm of Maven 3.x, described in the POM reference's "Version Order
// Specification"): the version splits at ".", "-" and changes between
// digits and letters into numbers, qualifiers and sub-lists (each "-" or
// digit/letter change starts a sub-list); trailing null items (0, "",
// "ga", "final", "release") are dropped; qualifiers order alpha < beta <
// milestone < rc = cr < snapshot < "" < sp < any other (alphabetical),
// "a1", "b1", "m1" meaning alpha-1, beta-1, milestone-1. Every string is a
// valid Maven version except one that is not UTF-8 or is empty.
func Maven(a, b string) (int, error) {
	va, err := parseMaven(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseMaven(b)
	if err != nil {
		return 0, err
	}
	return sign(va.compare(vb)), nil
}

// mavenItem is one item of a parsed version: a number (digits, leading
// zeros dropped), a qualifier, or a sub-list.
type mavenItem struct {
	kind  mavenKind
	value string // number digits, or the qualifier after aliasing
	list  []*mavenItem
}

type mavenKind uint8

const (
	mavenInt mavenKind = iota
	mavenString
	mavenList
)

// maxMavenLength bounds parsing work; no real version comes near it.
const maxMavenLength = 1024

func parseMaven(v string) (*mavenItem, error) {
	if v == "" || len(v) > maxMavenLength || !utf8.ValidString(v) {
		return nil, invalidf("Maven", v, "empty, too long or not UTF-8")
	}
	v = strings.ToLower(v)
	root := &mavenItem{kind: mavenList}
	list := root
	stack := []*mavenItem{root}
	inDigits := false
	start := 0
	sub := func() {
		l := &mavenItem{kind: mavenList}
		list.list = append(list.list, l)
		list = l
		stack = append(stack, l)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.' || c == '-':
			if i == start {
				list.list = append(list.list, &mavenItem{kind: mavenInt, value: "0"})
			} else {
				list.list = append(list.list, mavenParseItem(inDigits, v[start:i], false))
			}
			start = i + 1
			if c == '-' {
				sub()
			}
		case isDigit(c):
			if !inDigits && i > start {
				list.list = append(list.list, mavenParseItem(false, v[start:i], true))
				start = i
				sub()
			}
			inDigits = true
		default:
			if inDigits && i > start {
				list.list = append(list.list, mavenParseItem(true, v[start:i], false))
				start = i
				sub()
			}
			inDigits = false
		}
	}
	if len(v) > start {
		list.list = append(list.list, mavenParseItem(inDigits, v[start:], false))
	}
	for i := len(stack) - 1; i >= 0; i-- {
		stack[i].normalize()
	}
	return root, nil
}

func mavenParseItem(digits bool, s string, followedByDigit bool) *mavenItem {
	if digits {
		s = strings.TrimLeft(s, "0")
		if s == "" {
			s = "0"
		}
		return &mavenItem{kind: mavenInt, value: s}
	}
	if followedByDigit && len(s) == 1 {
		switch s {
		case "a":
			s = "alpha"
		case "b":
			s = "beta"
		case "m":
			s = "milestone"
		}
	}
	switch s {
	case "ga", "final", "release":
		s = ""
	case "cr":
		s = "rc"
	}
	return &mavenItem{kind: mavenString, value: s}
}

// normalize drops trailing null items, looking past sub-lists (as
// ComparableVersion's ListItem.normalize does).
func (l *mavenItem) normalize() {
	for i := len(l.list) - 1; i >= 0; i-- {
		it := l.list[i]
		if it.isNull() {
			l.list = append(l.list[:i], l.list[i+1:]...)
		} else if it.kind != mavenList {
			break
		}
	}
}

func (it *mavenItem) isNull() bool {
	switch it.kind {
	case mavenInt:
		return it.value == "0"
	case mavenString:
		return it.value == ""
	}
	return len(it.list) == 0
}

// mavenQualifiers are the known qualifiers in order; "" is a release.
var mavenQualifiers = [...]string{"alpha", "beta", "milestone", "rc", "snapshot", "", "sp"}

// qualifierRank compares as ComparableVersion's comparableQualifier does:
// a known qualifier by its index, any other after all of them, among
// themselves alphabetically.
func compareQualifiers(a, b string) int {
	ia, ib := qualifierIndex(a), qualifierIndex(b)
	if ia != ib {
		return sign(ia - ib)
	}
	if ia < len(mavenQualifiers) {
		return 0
	}
	return strings.Compare(a, b)
}

func qualifierIndex(q string) int {
	for i, k := range mavenQualifiers {
		if q == k {
			return i
		}
	}
	return len(mavenQualifiers)
}

// compare orders it against other; other nil is the null item that pads a
// shorter list.
func (it *mavenItem) compare(other *mavenItem) int {
	switch it.kind {
	case mavenInt:
		if other == nil {
			if it.value == "0" {
				return 0
			}
			return 1
		}
		switch other.kind {
		case mavenInt:
			return compareDigits(it.value, other.value)
		default:
			return 1 // a number is above a qualifier and a sub-list
		}
	case mavenString:
		if other == nil {
			return compareQualifiers(it.value, "")
		}
		switch other.kind {
		case mavenString:
			return compareQualifiers(it.value, other.value)
		default:
			return -1 // a qualifier is below a number and a sub-list
		}
	}
	if other == nil {
		if len(it.list) == 0 {
			return 0
		}
		return it.list[0].compare(nil)
	}
	switch other.kind {
	case mavenInt:
		return -1
	case mavenString:
		return 1
	}
	for i := 0; i < max(len(it.list), len(other.list)); i++ {
		var l, r *mavenItem
		if i < len(it.list) {
			l = it.list[i]
		}
		if i < len(other.list) {
			r = other.list[i]
		}
		var c int
		switch {
		case l == nil && r == nil:
			c = 0
		case l == nil:
			c = -r.compare(nil)
		default:
			c = l.compare(r)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
