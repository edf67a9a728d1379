package policy

import (
	"errors"
	"fmt"
	"strings"
)

// ValidateGlob checks a repository glob: non-empty "/"-separated segments
// of letters, digits, '.', '_', '-', ':' and '*', where "**" may only be a
// whole segment. Other wildcard characters ('?', '[', '\') are refused
// rather than silently taken literally.
func ValidateGlob(g string) error {
	if g == "" {
		return errors.New("empty glob")
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == "" {
			return errors.New(`empty path segment (leading, trailing or doubled "/")`)
		}
		if strings.Contains(seg, "**") && seg != "**" {
			return fmt.Errorf(`segment %q: "**" must be a whole segment`, seg)
		}
		for _, c := range seg {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			case c == '.', c == '_', c == '-', c == ':', c == '*':
			default:
				return fmt.Errorf("segment %q: character %q is not allowed", seg, c)
			}
		}
	}
	return nil
}

// Match reports whether repo matches glob. Both are "/"-separated paths;
// in the glob, "*" matches any run of characters within one segment and a
// "**" segment matches any number of whole segments, zero included
// ("docker.io/**" matches "docker.io" and everything under it). Matching
// is case-sensitive, as repository names are. An empty repo matches
// nothing.
func Match(glob, repo string) bool {
	if glob == "" || repo == "" {
		return false
	}
	gs := strings.Split(glob, "/")
	rs := strings.Split(repo, "/")
	// ok[j] says whether gs[i:] matches rs[j:], computed from the last glob
	// segment back: O(len(gs)·len(rs)) whatever the glob, never exponential.
	ok := make([]bool, len(rs)+1)
	next := make([]bool, len(rs)+1)
	ok[len(rs)] = true // an exhausted glob matches only an exhausted repo
	for i := len(gs) - 1; i >= 0; i-- {
		next, ok = ok, next
		if gs[i] == "**" {
			// ok[j] = next[j] (zero segments) || ok[j+1] (one more).
			ok[len(rs)] = next[len(rs)]
			for j := len(rs) - 1; j >= 0; j-- {
				ok[j] = next[j] || ok[j+1]
			}
			continue
		}
		ok[len(rs)] = false
		for j := len(rs) - 1; j >= 0; j-- {
			ok[j] = next[j+1] && matchSegment(gs[i], rs[j])
		}
	}
	return ok[0]
}

// matchSegment matches one segment against a pattern where '*' is any run
// of characters, by the usual greedy scan with one backtrack point: linear
// in practice, quadratic at worst.
func matchSegment(pat, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, i
			p++
		case p < len(pat) && pat[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
