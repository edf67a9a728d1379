package version

import "testing"

func TestNuGetOrder(t *testing.T) {
	// NuGet's documentation, "Package versioning", pre-release precedence
	// (listed there highest first; here lowest first).
	checkAscending(t, NuGet, []string{
		"1.0.1-aaa", "1.0.1-alpha10", "1.0.1-alpha2", "1.0.1-beta", "1.0.1-open",
		"1.0.1-rc.2", "1.0.1-rc.10", "1.0.1-zzz", "1.0.1",
	})
	// NuGet.Client's VersionComparerTests: VersionComparisonDefaultLess and
	// VersionComparisonDefaultEqual.
	for _, tc := range [][2]string{
		{"0.0.0", "1.0.0"}, {"1.0.0", "1.1.0"}, {"1.0.0", "1.0.1"}, {"1.999.9999", "2.1.1"},
		{"1.0.0-BETA", "1.0.0-beta2"}, {"1.0.0-beta+AA", "1.0.0+aa"}, {"1.0.0-BETA", "1.0.0-beta.1+AA"},
		{"1.0.0-BETA.X.y.5.77.0+AA", "1.0.0-beta.x.y.5.79.0+aa"},
		{"1.0.0-BETA.X.y.5.79.0+AA", "1.0.0-beta.x.y.5.790.0+abc"},
	} {
		checkAscending(t, NuGet, tc[:])
	}
	checkEqual(t, NuGet, [][]string{
		{"1.0.0", "1.0.0"},
		{"1.0.0-BETA", "1.0.0-beta"},
		{"1.0.0-BETA+AA", "1.0.0-beta+aa"},
		{"1.0.0-BETA.X.y.5.77.0+AA", "1.0.0-beta.x.y.5.77.0+aa"},
		// VersionParsingTests.VersionLength: all normalise to 2.0.0.
		{"2", "2.0", "2.0.0", "2.0.0.0"},
	})
	// VersionParsingTests.FullVersionParsing: all accepted.
	for _, good := range []string{"1.0.0-Beta", "1.0.0-Beta.2", "1.0.0+MetaOnly", "1.0.0", "1.0.0-Beta+Meta",
		"1.0.0-RC.X+MetaAA", "1.0.0-RC.X.35.A.3455+Meta-A-B-C"} {
		if !Valid("NuGet", good) {
			t.Errorf("Valid(NuGet, %q) = false", good)
		}
	}
	// Our own: the fourth number, leading zeros (NuGet normalises 1.01 to
	// 1.1), and int.TryParse reading "-1" as a number.
	checkAscending(t, NuGet, []string{"1.0.0--1", "1.0.0-0", "1.0.0-2147483647", "1.0.0-2147483648", "1.0.0-a", "1.0.0", "1.0.0.1", "1.0.1", "1.01.2"})
	checkEqual(t, NuGet, [][]string{{"1.01", "1.1.0.0"}, {"1.0.0-rc.01", "1.0.0-RC.1"}})
	for _, bad := range []string{"", "v1.0", "1.0.0.0.0", "1..0", "1.0-", "1.0+", "1.0-a..b", "1.0-a_b", "2147483648.0", "1.0.0-beta+a+b", " 1.0", "a"} {
		if Valid("NuGet", bad) {
			t.Errorf("Valid(NuGet, %q) = true", bad)
		}
	}
}
