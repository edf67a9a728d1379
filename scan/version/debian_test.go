package version

import (
	"errors"
	"testing"
)

func TestDebian(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		// dpkg's published pairs: scripts/t/Dpkg_Version.t (__DATA__) in
		// https://git.dpkg.org/git/dpkg/dpkg.git (GitHub mirror guillemj/dpkg).
		// Left out: "-0.6.5 0.9.1 -1", whose upstream version is empty, which
		// dpkg's parseversion rejects as an error (lib/dpkg/t/t-version.c, "-0").
		{"1.0-1", "2.0-2", -1},
		{"2.2~rc-4", "2.2-1", -1},
		{"2.2-1", "2.2~rc-4", 1},
		{"1.0000-1", "1.0-1", 0},
		{"1", "0:1", 0},
		{"0", "0:0-0", 0},
		{"2:2.5", "1:7.5", 1},
		{"1:0foo", "0foo", 1},
		{"0:0foo", "0foo", 0},
		{"0foo", "0foo", 0},
		{"0foo-", "0foo", 0},
		{"0foo-", "0foo-0", 0},
		{"0foo", "0fo", 1},
		{"0foo-", "0foo+", -1},
		{"0foo~1", "0foo", -1},
		{"0foo~foo+Bar", "0foo~foo+bar", -1},
		{"0foo~~", "0foo~", -1},
		{"1~", "1", -1},
		{"12345+that-really-is-some-ver-0", "12345+that-really-is-some-ver-10", -1},
		{"0foo-0", "0foo-01", -1},
		{"0foo.bar", "0foobar", 1},
		{"0foo.bar", "0foo1bar", 1},
		{"0foo.bar", "0foo0bar", 1},
		{"0foo1bar-1", "0foobar-1", -1},
		{"0foo2.0", "0foo2", 1},
		{"0foo2.0.0", "0foo2.10.0", -1},
		{"0foo2.0", "0foo2.0.0", -1},
		{"0foo2.0", "0foo2.10", -1},
		{"0foo2.1", "0foo2.10", -1},
		{"1.09", "1.9", 0},
		{"1.0.8+nmu1", "1.0.8", 1},
		{"3.11", "3.10+nmu1", 1},
		{"0.9j-20080306-4", "0.9i-20070324-2", 1},
		{"1.2.0~b7-1", "1.2.0~b6-1", 1},
		{"1.011-1", "1.06-2", 1},
		{"0.0.9+dfsg1-1", "0.0.8+dfsg1-3", 1},
		{"4.6.99+svn6582-1", "4.6.99+svn6496-1", 1},
		{"53", "52", 1},
		{"0.9.9~pre122-1", "0.9.9~pre111-1", 1},
		{"2:2.3.2-2+lenny2", "2:2.3.2-2", 1},
		{"1:3.8.1-1", "3.8.GA-1", 1},
		{"1.0.1+gpl-1", "1.0.1-2", 1},
		{"1a", "1000a", -1},

		// lib/dpkg/t/t-version.c, test_version_compare and test_version_parse
		// (epoch, upstream and revision given separately there).
		{"0:0-00", "0:00-0", 0},
		{"1:2-3", "1:2-3", 0},
		{"0:0-0", "1:0-0", -1},
		{"0:0a-0", "0:0b-0", -1}, // upstream "a"/"b" there; a leading digit added
		{"0:0-a", "0:0-b", -1},
		{"0:0-", "0", 0},
		{"0:0.0-0.0", "0.0-0.0", 0},
		{"5:1", "5:1-", 0},
		{"0:0-0-0", "0:0-0-0", 0},      // upstream "0-0", revision "0"
		{"0:0:0:0-0", "0:0:0:0-00", 0}, // upstream "0:0:0"
		{"0:09azAZ.-+~:-0", "0:09azAZ.-+~:-0", 0},
		{"0:0-azAZ09.+~", "0:0-azAZ09.+~", 0},
		{"  \t0:0-1", "0:0-1\t  ", 0},

		// Debian Policy §5.6.12: '~' sorts before everything, even the end.
		{"1.0~rc1", "1.0", -1},
		{"1:0.1", "2.0", 1},
		{"1.0~~", "1.0~~a", -1},
		{"1.0~~a", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0a", -1},
		{"1.0a", "1.0+", -1}, // letters before non-letters
		{"1.0+", "1.0.", -1}, // then ASCII order: '+' < '-' < '.'
		{"1.0", "1.0-0", 0},  // an absent revision equals "0"

		// Real Debian 12 facts (glibc, CVE-2023-4911 fixed in 2.36-9+deb12u3).
		{"2.36-9+deb12u3", "2.36-9+deb12u2", 1},
		{"2.36-9+deb12u2", "2.36-9", 1},
		{"2.36-9+deb12u2", "2.36-9+deb12u3", -1},
		{"2.36-9+deb12u3", "2.36-9+deb12u4", -1},
		{"2.36-9+deb12u10", "2.36-9+deb12u9", 1},
		// Ubuntu's forms.
		{"2.35-0ubuntu3.4", "2.35-0ubuntu3.10", -1},
		{"1:9.18.18-0ubuntu0.22.04.2", "1:9.18.18-0ubuntu0.22.04.1", 1},
		// Numbers beyond 64 bits compare exactly.
		{"1.99999999999999999999999", "1.100000000000000000000000", -1},
	}
	for _, tt := range tests {
		got, err := Debian(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("Debian(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
		if got, err := Debian(tt.b, tt.a); err != nil || got != -tt.want {
			t.Errorf("Debian(%q, %q) = %d, %v; want %d", tt.b, tt.a, got, err, -tt.want)
		}
	}
}

func TestDebianInvalid(t *testing.T) {
	// lib/dpkg/t/t-version.c test_version_parse, and Dpkg_Version.t's invalid
	// versions; dpkg warnings count as invalid here (see parseDebian).
	invalid := []string{
		"", "  ", "0:", "0:0 0-1", "-1:0-1", "999999999999999999999999:0-1",
		"2147483648:1", "a:0-0", "A:0-0", "-0", "0:-0", "0:abc3-0", "10a:5.2",
		"5.2@3-2", "foo5.2", "0:foo5.2", "0:0-0:0", ":1", "1.0\x00", "1.0-é",
	}
	for _, c := range "!#@$%&/|\\<>()[]{};,_=*^'" {
		invalid = append(invalid, "0:0"+string(c)+"-0")
	}
	for _, c := range "!#@$%&/|\\<>()[]{}:;,_=*^'" {
		invalid = append(invalid, "0:0-0"+string(c))
	}
	for _, v := range invalid {
		if Valid("Debian", v) {
			t.Errorf("Valid(Debian, %q) = true", v)
		}
		if _, err := Debian(v, "1.0"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Debian(%q, 1.0) error = %v, want ErrInvalid", v, err)
		}
		if _, err := Debian("1.0", v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Debian(1.0, %q) error = %v, want ErrInvalid", v, err)
		}
	}
	for _, v := range []string{"0", "2147483647:1", "1.0-", "0:0:0-0", "1.2+dfsg-1~bpo12+1", "7.88.1-10+deb12u5"} {
		if !Valid("Debian", v) || !Valid("Ubuntu:22.04", v) {
			t.Errorf("Valid(Debian, %q) = false", v)
		}
	}
}
