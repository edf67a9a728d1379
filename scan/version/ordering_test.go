package version

import "testing"

// checkAscending checks that each version sorts strictly before every later
// one, in both argument orders.
func checkAscending(t *testing.T, cmp func(a, b string) (int, error), vs []string) {
	t.Helper()
	for i := range vs {
		for j := range vs {
			got, err := cmp(vs[i], vs[j])
			want := sign(i - j)
			if err != nil || got != want {
				t.Errorf("compare(%q, %q) = %d, %v; want %d", vs[i], vs[j], got, err, want)
			}
		}
	}
}

// checkEqual checks that every version in each group equals the others.
func checkEqual(t *testing.T, cmp func(a, b string) (int, error), groups [][]string) {
	t.Helper()
	for _, g := range groups {
		for _, a := range g {
			for _, b := range g {
				if got, err := cmp(a, b); err != nil || got != 0 {
					t.Errorf("compare(%q, %q) = %d, %v; want 0", a, b, got, err)
				}
			}
		}
	}
}

func TestPyPIOrder(t *testing.T) {
	// PEP 440, "Summary of permitted suffixes and relative ordering".
	checkAscending(t, PyPI, []string{
		"1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
		"1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345",
		"1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7", "1.0+5",
		"1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1",
	})
	// Epochs, and numbers past any machine integer.
	checkAscending(t, PyPI, []string{"2024.1", "1!1.0", "1!1.0.1", "2!0.1", "2!99999999999999999999999.0"})
	// PEP 440 normalisation: alternative spellings of the same version.
	checkEqual(t, PyPI, [][]string{
		{"1.0", "1", "1.0.0", "v1.0", " 1.0 "},
		{"1.1a1", "1.1.a1", "1.1-a1", "1.1_a1", "1.1alpha1", "1.1A1", "1.1a01"},
		{"1.1b1", "1.1beta1", "1.1.b.1"},
		{"1.1rc1", "1.1c1", "1.1pre1", "1.1preview1", "1.1-rc-1"},
		{"1.0a0", "1.0a"},
		{"1.2.post2", "1.2-post2", "1.2_post2", "1.2-2", "1.2.rev2", "1.2.r2", "1.2post2"},
		{"1.0.post0", "1.0.post", "1.0-post"},
		{"1.2.dev0", "1.2.dev", "1.2-dev0", "1.2dev0"},
		{"1.0+ubuntu-1", "1.0+ubuntu.1", "1.0+ubuntu_1"},
	})
	for _, bad := range []string{"", "1.0-", "one", "1.0+", "1..0", "1.0a1b2", "1.0+café", "1!"} {
		if Valid("PyPI", bad) {
			t.Errorf("Valid(PyPI, %q) = true", bad)
		}
	}
}

func TestNpmOrder(t *testing.T) {
	// semver.org 2.0.0, item 11, and the major/minor/patch example.
	checkAscending(t, Npm, []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1", "10.0.0",
	})
	// node-semver strips "=", "v" and space; build metadata is ignored.
	checkEqual(t, Npm, [][]string{{"1.2.3", "v1.2.3", "=1.2.3", " 1.2.3 ", "1.2.3+build.5", "=v1.2.3"}})
	for _, bad := range []string{"", "1", "1.2", "v1.2", "01.2.3", "1.2.3-", "1.2.3.4", "a.b.c"} {
		if Valid("npm", bad) {
			t.Errorf("Valid(npm, %q) = true", bad)
		}
	}
}

func TestMavenOrder(t *testing.T) {
	// Maven's ComparableVersionTest (maven-artifact), VERSIONS_QUALIFIER
	// and VERSIONS_NUMBER.
	checkAscending(t, Maven, []string{
		"1-alpha2snapshot", "1-alpha2", "1-alpha-123", "1-beta-2", "1-beta123", "1-m2", "1-m11",
		"1-rc", "1-cr2", "1-rc123", "1-SNAPSHOT", "1", "1-sp", "1-sp2", "1-sp123", "1-abc",
		"1-def", "1-pom-1", "1-1-snapshot", "1-1", "1-2", "1-123",
	})
	checkAscending(t, Maven, []string{
		"2.0", "2-1", "2.0.a", "2.0.0.a", "2.0.2", "2.0.123", "2.1.0", "2.1-a", "2.1b", "2.1-c",
		"2.1-1", "2.1.0.1", "2.2", "2.123", "11.a2", "11.a11", "11.b2", "11.b11", "11.m2",
		"11.m11", "11", "11.a", "11b", "11c", "11m",
	})
	// ComparableVersionTest.testVersionsEqual.
	checkEqual(t, Maven, [][]string{
		{"1", "1.0", "1.0.0", "1-0", "1.0-0", "1ga", "1GA", "1-ga", "1.ga", "1.0-ga", "1.0.ga", "1-final", "1.0-FINAL", "1-release", "1.0.0.RELEASE"},
		{"1a1", "1-a1", "1alpha-1", "1-alpha-1", "1alpha1", "1ALPHA1"},
		{"1b2", "1-b2", "1beta-2", "1-beta2", "1BETA2"},
		{"1m3", "1-m3", "1milestone-3", "1MILESTONE3"},
		{"1rc", "1-rc", "1cr", "1-cr", "1CR"},
		{"1x", "1-x", "1X"},
	})
}
