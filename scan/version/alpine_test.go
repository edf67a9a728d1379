package version

import (
	"errors"
	"strings"
	"testing"
)

// apkVersionData is a subset of apk-tools' test/version.data
// (https://gitlab.alpinelinux.org/alpine/apk-tools, GitHub mirror
// alpinelinux/apk-tools, GPL-2.0-only test vectors): "a op b" per line.
// Left out: "23_foo > 4_beta" and "1.0 < 1.0bc", whose left or right side
// apk-tools 3 rejects as invalid ("_foo" is no suffix; a letter may not
// follow a letter); they are in TestAlpineInvalid.
const apkVersionData = `
2.34 > 0.1.0_alpha
0.1.0_alpha = 0.1.0_alpha
0.1.0_alpha < 0.1.3_alpha
0.1.0_alpha2 > 0.1.0_alpha
0.1.0_alpha < 2.2.39-r1
1.0.4-r3 < 1.0.4-r4
1.0.4-r4 < 1.6
1.0.2 > 0.7-r1
1.1 > 1.1_alpha1
1.2.1 > 1.2
1.2 < 1.3_alpha
1.3_alpha < 1.3_alpha2
0.7.0 < 0.8_beta1
0.8_beta4 < 4.8-r1
3.10.18-r1 > 2.3.0b-r1
2.3.0b-r1 < 2.3.0b-r2
2.3.0b-r4 > 0.12.1
0.12.3 > 0.12
0.12 < 0.13_beta1
0.13_beta5 > 0.9.12
1.2.11 < 1.2.12.1
1.2.12.1 < 1.2.13
0.2.0-r1 = 0.2.0-r1
0.2.0-r1 < 3.1_p16
3.1_p16 < 3.1_p17
3.1_p17 > 1.06-r6
1.06-r6 < 006
006 > 1.0.0
1.2.2-r1 > 1.2.2
9.3.4-r2 > 9.3.4
1.2.2.1 < 1.4.1-r1
2.59 < 20050718-r1
3.9.8-r5 > 2.01.01_alpha10
1.0 > 0.99.3.20040818
1.39 > 1.00_beta2
7.15.1-r1 > 1.02
1.02 < 1.03-r1
0.5.2.7 < 4.2.52_p2-r1
4.2.52_p2-r1 < 4.2.52_p4-r2
4.2.52_p4-r2 > 1.02.07
1.02.07 < 1.02.10-r1
9 > 2.18.3-r10
2.18.3-r10 > 1.05-r18
1.05-r18 < 1.05-r19
2.8 < 2.20.1
2.38 < 20050405
0.7.3-r2 > 0.7.3
20060720 > 3.0.20060720
2.5.1-r8 < 2.5.1a-r1
1.3.5-r10 > 1.3.5-r8
20040401 > 2.0.0_rc3-r1
3.0.0-r2 < 021109-r3
021109-r3 < 20060512
0.9.16-r1 < 3.9_pre20060124
3.9_pre20060124 > 0.01
0.01 < 0.06
1.1.7 < 6b-r7
0.10.0-r1 > 0.10.0
0.10.0 < 0.10.1_rc1
2.0.2 > 1.1a
1.1a < 1.3a
1.0-r1 > 0.15.1b
0.15.1b-r2 > 0.15.1b
1.1.2.1-r1 > 0.0.31
0.0.31 < 0.0.50
22.7-r1 < 22.7.3-r1
22.7.3-r1 > 22.7
22.7 > 2.1_pre20
2.1_pre20 < 2.1_pre26
2.10.1 > 02.08.01b
02.08.01b < 4.77
5.1 > 2.02.06
2.02.06 < 2.02.10
3.81 > 1.6d
1.6d > 1.2.07.8
1.2.07.8 < 1.2.12.04
1.2.12.04 < 1.2.12.05
1.07-r1 < 1.07.5
1.07.5 > 1.07
0.1_pre20060810 < 0.1_pre20060817
3.3.17 > 0.59s-r11
0.59s-r11 < 0.65
4.01 < 4.20
4.20 > 0.20070118
0.20070118 < 0.20070207_rc1
0.20070207_rc1 < 1.0
3.7_p1 > 1.3
4.3_p2-r1 < 4.3_p2-r5
4.3_p2-r5 < 4.4_p1-r6
4.5_p1-r1 > 4.5_p1
4.5_p1 > 0.9.8c-r1
0.9.8c-r1 < 0.9.8d
2.2.3-r2 < 013
013 < 014-r1
1.7 < 1.7b
1.7b < 1.8.4-r3
1.8.5 < 1.8.5_p2
0.98 < 1.00
2.9.11_pre20051101-r3 > 2.9.11_pre20051101
2.9.11_pre20051101 < 2.9.11_pre20061021-r1
1.6.8_p12-r1 > 1.6.8_p9-r2
2.25b-r5 < 2.25b-r6
1.4_p12-r2 < 1.4_p12-r5
0.9.28-r2 < 0.9.28.1
0.9.28.1 < 087-r1
104-r11 > 104-r9
5.52-r1 > 1.2.5_rc2
20040406-r1 > 2.12r-r4
2.12r-r4 < 2.12r-r5
7.0.17 < 7.0.174
1.1.1-r3 > 0.3.4_pre20061029
1.1.1 = 1.1.1
1.2.9.1-r1 > 1.2.9.1
1.3-r0 < 1.3.1-r0
1.3_pre1-r1 < 1.3.2
1.0_p10-r0 > 1.0_p9-r0
0.1.0_alpha_pre2 < 0.1.0_alpha
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0
6.0_pre1 < 6.0
6.1_pre1 < 6.1
6.0_p1 > 6.0
6.1_p1 > 6.1
`

func TestAlpine(t *testing.T) {
	type pair struct {
		a, b string
		want int
	}
	var tests []pair
	ops := map[string]int{"<": -1, "=": 0, ">": 1}
	for line := range strings.Lines(apkVersionData) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			t.Fatalf("bad test line %q", line)
		}
		tests = append(tests, pair{f[0], f[2], ops[f[1]]})
	}
	tests = append(tests, []pair{
		// Real Alpine facts: busybox 1.30.1-r2 fixes CVE-2019-5747 in v3.10
		// (alpine-secdb v3.10/main.yaml).
		{"1.30.1-r1", "1.30.1-r2", -1},
		{"1.30.1-r2", "1.31.0-r0", -1},
		{"1.30.1", "1.30.1-r2", -1},
		// apk has no implicit -r0: a version without "-rN" sorts just below it.
		{"1.30.1", "1.30.1-r0", -1},
		// Suffix ranks: _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p.
		{"1.0_alpha", "1.0_beta", -1},
		{"1.0_beta", "1.0_pre", -1},
		{"1.0_pre", "1.0_rc", -1},
		{"1.0_rc", "1.0", -1},
		{"1.0", "1.0_cvs", -1},
		{"1.0_cvs", "1.0_svn", -1},
		{"1.0_svn", "1.0_git", -1},
		{"1.0_git", "1.0_hg", -1},
		{"1.0_hg", "1.0_p", -1},
		{"1.0_rc9", "1.0_rc10", -1},
		{"1.0_rc1", "1.0-r1", -1},
		{"1.0_p1", "1.0-r5", 1},
		{"1.0_p1", "1.0.1", -1},
		{"1.0a", "1.0.1", -1},
		{"1.0a", "1.0_p1", 1},
		// Leading zeros: the first number is numeric, later ones string-sorted.
		{"01.0", "1.0", 0},
		{"1.05", "1.1", -1},
		{"1.0", "1.00", -1},
		{"1.10", "1.09", 1},
		{"1.0_rc01", "1.0_rc1", 0},
		{"1.0-r01", "1.0-r1", 0},
		// Commit hashes (apk-tools 3): after suffixes, before the revision.
		{"1.0~abc1", "1.0", 1},
		{"1.0~abc1", "1.0~abc2", -1},
		{"1.0~abc1-r1", "1.0-r1", 1},
		{"1.0_git20240101~0f1e-r0", "1.0_git20240101-r0", 1},
		// Numbers beyond 64 bits compare exactly.
		{"1.99999999999999999999999", "1.100000000000000000000000", -1},
		{"18446744073709551616", "18446744073709551615", 1},
	}...)
	for _, tt := range tests {
		got, err := Alpine(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("Alpine(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
		if got, err := Alpine(tt.b, tt.a); err != nil || got != -tt.want {
			t.Errorf("Alpine(%q, %q) = %d, %v; want %d", tt.b, tt.a, got, err, -tt.want)
		}
	}
}

func TestAlpineInvalid(t *testing.T) {
	for _, v := range []string{
		"", "a", ".1", "1.", "1..2", "1.0bc", "23_foo", "1.0_", "1.0_Alpha", "1.0_alpha_",
		"1.0a1", "1.0a.1", "1.0-r", "1.0-r1-r2", "1.0-1", "1.0-", "1.0~", "1.0~xyz", "1.0~ABC",
		"1.0-r1_p1", "1.0-r1~ab", "1.0~ab~cd", "1.0~ab_p1", "1.0_p1a", "1.0_p1.2", "1.0 ", " 1.0",
		"1.0\x00", "1.0_rc1_rc1x", "v1.0", "1:1.0",
	} {
		if Valid("Alpine", v) {
			t.Errorf("Valid(Alpine, %q) = true", v)
		}
		if _, err := Alpine(v, "1.0"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Alpine(%q, 1.0) error = %v, want ErrInvalid", v, err)
		}
		if _, err := Alpine("1.0", v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Alpine(1.0, %q) error = %v, want ErrInvalid", v, err)
		}
	}
	for _, v := range []string{"0", "1.0_alpha_pre2", "1.0_rc1_p2-r3", "2.12r-r4", "1.0_git20240101~0f1e-r0", "1.0~abc"} {
		if !Valid("Alpine:v3.10", v) {
			t.Errorf("Valid(Alpine, %q) = false", v)
		}
	}
}
