package version

import "testing"

func TestCargoOrder(t *testing.T) {
	// semver.org 2.0.0, items 11 (the precedence example) and 10 (build
	// metadata does not take part in precedence); the same list is the
	// semver crate's tests/test_version.rs test_spec_order.
	checkAscending(t, Cargo, []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1",
	})
	checkEqual(t, Cargo, [][]string{
		{"1.0.0-alpha", "1.0.0-alpha+001"},
		{"1.0.0", "1.0.0+20130313144700", "1.0.0+21AF26D3----117B344092BD"},
		{"1.0.0-beta", "1.0.0-beta+exp.sha.5114f85"},
	})
	// The semver crate's test_lt and test_gt (less its build-metadata
	// tie-break, deliberately not followed: see Cargo).
	checkAscending(t, Cargo, []string{"0.0.0", "1.0.0", "1.2.0", "1.2.3-alpha1", "1.2.3-alpha2", "1.2.3"})
	// The semver crate's test_parse: what it accepts, and what it rejects.
	for _, good := range []string{"1.2.3", "1.2.3-alpha1", "1.2.3+build5", "1.2.3+5build", "1.2.3-alpha1+build5",
		"1.2.3-1.alpha1.9+build5.7.3aedf", "1.2.3-0a.alpha1.9+05build.7.3aedf", "0.4.0-beta.1+0851523", "1.1.0-beta-10"} {
		if !Valid("crates.io", good) {
			t.Errorf("Valid(crates.io, %q) = false", good)
		}
	}
	for _, bad := range []string{"", "  ", "1", "1.2", "1.2.3-", "a.b.c", "1.2.3 abc", "1.2.3-01", "5.1.5++", "07",
		"75774777777757777757.0.0", "8\x00", "v1.2.3", "=1.2.3", " 1.2.3", "1.2.3.4"} {
		if Valid("crates.io", bad) {
			t.Errorf("Valid(crates.io, %q) = true", bad)
		}
	}
}
