package version

import (
	"errors"
	"testing"
)

func TestCompareEcosystems(t *testing.T) {
	tests := []struct {
		ecosystem, a, b string
		want            int
	}{
		{"Debian", "2.36-9+deb12u2", "2.36-9+deb12u3", -1},
		{"Debian:12", "2.36-9+deb12u4", "2.36-9+deb12u3", 1},
		{"Ubuntu:22.04", "1.0~rc1", "1.0", -1},
		{"Ubuntu:22.04:LTS", "1:0.1", "2.0", 1},
		{"Alpine", "1.30.1-r1", "1.30.1-r2", -1},
		{"Alpine:v3.10", "1.31.0-r0", "1.30.1-r2", 1},
		{"Go", "v0.3.5", "0.3.7", -1},
		{"Go", "go1.21.3", "v1.21.3", 0},
	}
	for _, tt := range tests {
		got, err := Compare(tt.ecosystem, tt.a, tt.b)
		if err != nil || got != tt.want {
			t.Errorf("Compare(%q, %q, %q) = %d, %v; want %d", tt.ecosystem, tt.a, tt.b, got, err, tt.want)
		}
		if !Valid(tt.ecosystem, tt.a) || !Valid(tt.ecosystem, tt.b) {
			t.Errorf("Valid(%q, %q / %q) = false", tt.ecosystem, tt.a, tt.b)
		}
	}
}

func TestCompareErrors(t *testing.T) {
	for _, eco := range []string{"", "debian", "pypi", "Alpine ", ":12", "Wolfi"} {
		if _, err := Compare(eco, "1.0", "1.0"); !errors.Is(err, ErrUnknownEcosystem) {
			t.Errorf("Compare(%q) error = %v, want ErrUnknownEcosystem", eco, err)
		}
		if Valid(eco, "1.0") {
			t.Errorf("Valid(%q, 1.0) = true", eco)
		}
	}
	// Each ecosystem rejects what only another one accepts.
	for _, tt := range []struct{ ecosystem, v string }{
		{"Debian", "v1.2.3"}, {"Alpine", "1:1.0-1"}, {"Go", "1.0-r1"}, {"Go", "2.36-9+deb12u3"},
	} {
		if _, err := Compare(tt.ecosystem, tt.v, tt.v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compare(%q, %q) error = %v, want ErrInvalid", tt.ecosystem, tt.v, err)
		}
	}
}
