package version

import "testing"

func TestComposerOrder(t *testing.T) {
	// composer/semver tests/ComparatorTest.php, compareProvider and the
	// lessThan cases (dev- branches left out: see parseComposer).
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.25.0", "1.24.0", 1}, {"1.25.0", "1.25.0", 0}, {"1.25.0", "1.26.0", -1},
		{"1.25.0-beta2.1", "1.25.0-b.3", -1},
		{"1.25.0-b2.1", "1.25.0beta.3", -1},
		{"1.25.0-b-2.1", "1.25.0-rc", -1},
		{"1.25.0-beta2.1", "1.25.0-b.2.1", 0},
		{"1.25.0beta2.1", "1.25.0-b2.1", 0},
		{"1.0.0", "1.2-dev", -1},
	} {
		if got, err := Composer(tc.a, tc.b); err != nil || got != tc.want {
			t.Errorf("Composer(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
		if got, err := Composer(tc.b, tc.a); err != nil || got != -tc.want {
			t.Errorf("Composer(%q, %q) = %d, %v; want %d", tc.b, tc.a, got, err, -tc.want)
		}
	}
	// composer/semver tests/VersionParserTest.php, successfulNormalizedVersions:
	// each input equals its normalised form.
	checkEqual(t, Composer, [][]string{
		{"1.0.0", "1.0.0.0"}, {"1.2.3.4"},
		{"1.0.0RC1dev", "1.0.0.0-RC1-dev"}, {"1.0.0-rC15-dev", "1.0.0.0-RC15-dev"},
		{"1.0.0.RC.15-dev", "1.0.0.0-RC15-dev"}, {"1.0.0-rc1", "1.0.0.0-RC1"},
		{"1.0.0.pl3-dev", "1.0.0.0-patch3-dev"}, {"1.0-dev", "1.0.0.0-dev"}, {"0", "0.0.0.0"},
		{"10.4.13-beta", "10.4.13.0-beta"}, {"10.4.13beta2", "10.4.13.0-beta2"},
		{"10.4.13beta.2", "10.4.13.0-beta2"}, {"v1.13.11-beta.0", "1.13.11.0-beta0"},
		{"10.4.13-b", "10.4.13.0-beta"}, {"10.4.13-b5", "10.4.13.0-beta5"}, {"v1.0.0", "1.0.0.0"},
		{"2010.01", "2010.01.0.0"}, {"2010.01.02", "2010.01.02.0"}, {"v20100102", "20100102"},
		{"2010-01-02.5", "2010.01.02.5"}, {"20100102-203040", "20100102.203040"},
		{"20100102203040-10", "20100102203040.10"}, {"20100102-203040-p1", "20100102.203040-patch1"},
		{"1.x-dev", "1.9999999.9999999.9999999-dev"},
		{"1.0.0+foo", "1.0.0.0"}, {"1.0.0-beta.5+foo", "1.0.0.0-beta5"},
		{"1.0.0-alpha.3.1+foo", "1.0.0.0-alpha3.1"}, {"1.0.0-alpha-2.1-3+foo", "1.0.0.0-alpha2.1-3"},
		{"00.01.03.04", "0.1.3.4"}, {"0700", "0700.0.0.0"}, {" 1.0.0", "1.0.0 ", "1.0.0.0"},
	})
	// failingNormalizedVersions, and the branches this order rejects.
	for _, bad := range []string{"", "a", "1.0.0-meh", "1.0.0.0.0", "feature-foo", "1.0.0+foo bar",
		"1.0.1-SNAPSHOT", "1.0.0<1.0.5-dev", "1.0 .2", "^", "~1", "1.*", "dev-master", "master", "DEV-FOOBAR"} {
		if Valid("Packagist", bad) {
			t.Errorf("Valid(Packagist, %q) = true", bad)
		}
	}
	// The stability order the Composer documentation gives (dev < alpha <
	// beta < RC < stable), with patch releases after and a numeric branch
	// ("1.1.x-dev", normalised to 1.1.9999999.9999999-dev) above its
	// releases; the list is our own.
	checkAscending(t, Composer, []string{
		"1.0.0-dev", "1.0.0-alpha", "1.0.0-alpha2", "1.0.0-beta1-dev", "1.0.0-beta1", "1.0.0-RC1",
		"1.0.0", "1.0.0-patch1", "1.0.0-pl2", "1.0.0.1", "v1.0.1", "1.1.0", "1.1.x-dev", "1.2.0-dev",
	})
}
