package version

import "testing"

func TestRubyGemsOrder(t *testing.T) {
	// RubyGems' test/rubygems/test_gem_version.rb: test_spaceship,
	// test_semver, test_equals2, test_initialize and test_canonical_segments.
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0.0", 0},
		{"1.0", "1.0.a", 1},
		{"1.8.2", "0.0.0", 1},
		{"1.8.2", "1.8.2.a", 1},
		{"1.8.2.b", "1.8.2.a", 1},
		{"1.8.2.a", "1.8.2", -1},
		{"1.8.2.a10", "1.8.2.a9", 1},
		{"0.beta.1", "0.0.beta.1", 0},
		{"0.0.beta", "0.0.beta.1", -1},
		{"0.0.beta", "0.beta.1", -1},
		{"5.a", "5.0.0.rc2", -1},
		{"5.x", "5.0.0.rc2", 1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-beta.2", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-rc1", "1.0.0", -1},
		{"1.0.0-1", "1", -1},
		{"1.2", "1.2", 0},
		{"1.2", "1.3", -1},
		{"1.2.b1", "1.2.b.1", 0},
		{"1.0", "1.0 ", 0}, {"1.0", " 1.0 ", 0}, {"1.0", "1.0\n", 0}, {"1.0", "\n1.0\n", 0},
		{"1.0.0.a.1.0", "1.a.1", 0},
		{"1.2.3-1", "1.2.3.pre.1", 0},
	} {
		if got, err := RubyGems(tc.a, tc.b); err != nil || got != tc.want {
			t.Errorf("RubyGems(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
		if got, err := RubyGems(tc.b, tc.a); err != nil || got != -tc.want {
			t.Errorf("RubyGems(%q, %q) = %d, %v; want %d", tc.b, tc.a, got, err, -tc.want)
		}
	}
	// test_initialize_invalid, and the empty version (Gem::Version's "0",
	// rejected here so that an unknown version is not inside every range).
	for _, bad := range []string{
		"junk", "1.0\n2.0", "1..2", "1.2 3.4",
		"2.3422222.222.222222222.22222.ads0as.dasd0.ddd2222.2.qd3e.",
		"", " ", "1.", "1-", ".1", "v1.0", "1.0+build", "1.0_1",
	} {
		if Valid("RubyGems", bad) {
			t.Errorf("Valid(RubyGems, %q) = true", bad)
		}
	}
	// Our own: pre-releases, numbers past any machine integer, a dash tail.
	checkAscending(t, RubyGems, []string{
		"0.a", "0.9", "1.0.0.a", "1.0.0.b", "1.0.0.rc1", "1.0.0", "1.0.1-pre-1",
		"1.0.1", "1.10", "99999999999999999999999.0",
	})
}
