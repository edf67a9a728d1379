package version

import (
	"errors"
	"testing"
)

// checkOrder checks that cmp is a consistent order on the three inputs: no
// error for valid versions and ErrInvalid otherwise, reflexivity,
// antisymmetry, and transitivity over every arrangement of the triple.
func checkOrder(t *testing.T, ecosystem string, cmp func(a, b string) (int, error), vs [3]string) {
	t.Helper()
	var valid []string
	for _, v := range vs {
		c, err := cmp(v, v)
		if ok := Valid(ecosystem, v); ok != (err == nil) {
			t.Fatalf("Valid(%q) = %v but compare error = %v", v, ok, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("compare(%q) error %v does not wrap ErrInvalid", v, err)
			}
			continue
		}
		if c != 0 {
			t.Fatalf("compare(%q, %q) = %d, want 0", v, v, c)
		}
		valid = append(valid, v)
	}
	if len(valid) < 3 {
		for _, a := range valid {
			for _, b := range valid {
				must(t, cmp, a, b)
			}
		}
		return
	}
	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, p := range perms {
		a, b, c := valid[p[0]], valid[p[1]], valid[p[2]]
		ab, bc, ac := must(t, cmp, a, b), must(t, cmp, b, c), must(t, cmp, a, c)
		if ab <= 0 && bc <= 0 {
			want := 0
			if ab < 0 || bc < 0 {
				want = -1
			}
			if ac != want {
				t.Fatalf("not transitive: cmp(%q,%q)=%d, cmp(%q,%q)=%d, cmp(%q,%q)=%d", a, b, ab, b, c, bc, a, c, ac)
			}
		}
	}
}

// must compares two valid versions, checking antisymmetry and the result range.
func must(t *testing.T, cmp func(a, b string) (int, error), a, b string) int {
	t.Helper()
	ab, err1 := cmp(a, b)
	ba, err2 := cmp(b, a)
	if err1 != nil || err2 != nil {
		t.Fatalf("compare(%q, %q): %v, %v", a, b, err1, err2)
	}
	if ab < -1 || ab > 1 || ab != -ba {
		t.Fatalf("compare(%q, %q) = %d but compare(%q, %q) = %d", a, b, ab, b, a, ba)
	}
	return ab
}

func FuzzDebian(f *testing.F) {
	f.Add("1.0~rc1", "1.0", "1:0.1")
	f.Add("2.36-9+deb12u2", "2.36-9+deb12u3", "2.36-9+deb12u10")
	f.Add("0foo.bar", "0foo1bar", "0foo~~")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "Debian", Debian, [3]string{a, b, c})
	})
}

func FuzzAlpine(f *testing.F) {
	f.Add("1.30.1-r1", "1.30.1", "1.31.0-r0")
	f.Add("1.0_alpha_pre2", "1.0_p1", "1.0a-r1")
	f.Add("1.05", "1.1", "1.0~abc1-r2")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "Alpine", Alpine, [3]string{a, b, c})
	})
}

func FuzzGo(f *testing.F) {
	f.Add("v0.3.5", "0.3.7", "go1.21rc1")
	f.Add("v0.0.0-20200101000000-abcdefabcdef", "v2.0.0+incompatible", "1.21")
	f.Add("go1.13beta1", "1.18.0-0", "v1.0.0-alpha.beta")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "Go", Go, [3]string{a, b, c})
	})
}

func FuzzPyPI(f *testing.F) {
	f.Add("1.0a12.dev456", "1!1.0.post1", "1.0+abc.5")
	f.Add("1.dev0", "1.0.0", "v1.0-r2")
	f.Add("1.0+5", "1.0+abc", "1.0rc1.post1.dev2")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "PyPI", PyPI, [3]string{a, b, c})
	})
}

func FuzzNpm(f *testing.F) {
	f.Add("1.0.0-alpha.1", "=v1.0.0", "1.0.0-beta.11+build")
	f.Add("0.0.1-0", "10.20.30", "1.0.0-alpha.beta")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "npm", Npm, [3]string{a, b, c})
	})
}

func FuzzMaven(f *testing.F) {
	f.Add("1-alpha2snapshot", "1.0-1", "2.0.a")
	f.Add("1-sp2", "1-pom-1", "11.m11")
	f.Add("1.0.0.RELEASE", "1-1-snapshot", "1..--x")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "Maven", Maven, [3]string{a, b, c})
	})
}

func FuzzRPM(f *testing.F) {
	f.Add("1.0~rc1^git1", "1:1.0-1.el8", "1.0^20160101^git1")
	f.Add("5.5p10", "xyz.4", "2_0")
	f.Add("4.18.0-553.el8_10", "0:4.18.0-553.5.1.el8_10", "1.0^git1~pre")
	f.Add("+_", "1.0-", "10.0001")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "Red Hat", RPM, [3]string{a, b, c})
	})
}

func FuzzRubyGems(f *testing.F) {
	f.Add("1.8.2.a10", "1.8.2", "5.0.0.rc2")
	f.Add("0.beta.1", "0.0.beta.1", "1.0.0-1")
	f.Add("1.0.0-alpha.1", " 1.0 ", "1--")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "RubyGems", RubyGems, [3]string{a, b, c})
	})
}

func FuzzCargo(f *testing.F) {
	f.Add("1.0.0-alpha.beta", "1.0.0+21AF26D3----117B344092BD", "1.1.0-beta-10")
	f.Add("1.2.3-0a.alpha1.9+05build.7.3aedf", "18446744073709551615.0.0", "1.2.3-01")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "crates.io", Cargo, [3]string{a, b, c})
	})
}

func FuzzNuGet(f *testing.F) {
	f.Add("1.0.1-alpha10", "1.0.1-rc.10", "1.0.0.1")
	f.Add("1.0.0-BETA.X.y.5.77.0+AA", "1.0.0--1", "1.0.0-2147483648")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "NuGet", NuGet, [3]string{a, b, c})
	})
}

func FuzzComposer(f *testing.F) {
	f.Add("1.25.0-beta2.1", "1.25.0-b.3", "1.0.0.pl3-dev")
	f.Add("20100102-203040-p1", "1.x-dev", "v1.13.11-beta.0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "Packagist", Composer, [3]string{a, b, c})
	})
}
