package version

import (
	"errors"
	"testing"
)

func TestGo(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"v0.3.5", "v0.3.7", -1},
		{"0.3.5", "v0.3.7", -1}, // OSV's Go records omit the "v"
		{"0.3.7", "v0.3.7", 0},
		{"v1.2", "v1.2.0", 0},
		{"v1.10.0", "v1.9.9", 1},
		// semver.org §11 precedence examples.
		{"v1.0.0-alpha", "v1.0.0-alpha.1", -1},
		{"v1.0.0-alpha.1", "v1.0.0-alpha.beta", -1},
		{"v1.0.0-alpha.beta", "v1.0.0-beta", -1},
		{"v1.0.0-beta", "v1.0.0-beta.2", -1},
		{"v1.0.0-beta.2", "v1.0.0-beta.11", -1},
		{"v1.0.0-beta.11", "v1.0.0-rc.1", -1},
		{"v1.0.0-rc.1", "v1.0.0", -1},
		// OSV stdlib form "1.18.0-0": the lowest 1.18.0 pre-release.
		{"1.18.0-0", "go1.18beta1", -1},
		{"1.18.0-0", "1.17.12", 1},
		// Pseudo-versions (https://go.dev/ref/mod#pseudo-versions).
		{"v0.0.0-20200101000000-abcdefabcdef", "v0.0.0-20210101000000-000000000000", -1},
		{"v0.0.0-20210101000000-000000000000", "v0.1.0", -1},
		{"v1.2.4-0.20200101000000-abcdefabcdef", "v1.2.3", 1},
		{"v1.2.4-0.20200101000000-abcdefabcdef", "v1.2.4", -1},
		{"v1.2.4-pre.0.20200101000000-abcdefabcdef", "v1.2.4-pre", 1},
		{"v0.3.8-0.20220916205838-a2abe5bcd41b", "0.3.8", -1}, // x/text, GO-2022-1059 fixed in 0.3.8
		// "+incompatible" is build metadata: ignored.
		{"v2.0.0+incompatible", "v2.0.0", 0},
		{"v2.1.0+incompatible", "v2.0.0+incompatible", 1},
		{"17.0.0+incompatible", "v20.10.0+incompatible", -1},
		// Go toolchain names, mapped as the Go vulnerability database does.
		{"go1.21.3", "1.21.10", -1},
		{"go1.21.3", "v1.21.3", 0},
		{"1.21", "v1.21.0", 0},
		{"go1.21", "1.21.0", 0},
		{"1.21rc1", "v1.21.0-rc.1", 0},
		{"go1.21rc1", "go1.21rc2", -1},
		{"go1.21rc2", "go1.21.0", -1},
		{"go1.21rc1", "go1.20.14", 1},
		{"go1.13beta1", "v1.13.0-beta.1", 0},
		{"go1.13beta1", "go1.13rc1", -1},
		{"go1", "v1.0.0", 0},
		{"go1.9.2", "go1.10", -1},
	}
	for _, tt := range tests {
		got, err := Go(tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("Go(%q, %q) = %d, %v; want %d", tt.a, tt.b, got, err, tt.want)
		}
		if got, err := Go(tt.b, tt.a); err != nil || got != -tt.want {
			t.Errorf("Go(%q, %q) = %d, %v; want %d", tt.b, tt.a, got, err, -tt.want)
		}
	}
}

func TestGoInvalid(t *testing.T) {
	// The last four are non-semver events found in golang/vulndb's OSV data.
	for _, v := range []string{
		"", "v", "vv1.0.0", "v1.0.0.0", "v01.0.0", "1.07", "go", "go1.21.3 X:boringcrypto",
		"go01.2", "go1.21rc01", "go1.21alpha1", "gov1.2.3", " v1.0.0", "1.0.0 ", "latest",
		"19.03.0+incompatible", "RELEASE.2024-06-06T09-36-42Z", "9.6.0b1", "0.9.1.3",
	} {
		if Valid("Go", v) {
			t.Errorf("Valid(Go, %q) = true", v)
		}
		if _, err := Go(v, "v1.0.0"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Go(%q, v1.0.0) error = %v, want ErrInvalid", v, err)
		}
		if _, err := Go("v1.0.0", v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Go(v1.0.0, %q) error = %v, want ErrInvalid", v, err)
		}
	}
}
