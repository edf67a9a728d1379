package policy

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		glob, repo string
		want       bool
	}{
		{"alpine", "alpine", true},
		{"alpine", "alpine2", false},
		{"*", "alpine", true},
		{"*", "library/alpine", false},
		{"library/*", "library/alpine", true},
		{"library/*", "library", false},
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"docker.io/**", "docker.io", true},
		{"docker.io/**", "docker.io/library/alpine", true},
		{"docker.io/**", "docker.iox/library/alpine", false},
		{"**/alpine", "alpine", true},
		{"**/alpine", "docker.io/library/alpine", true},
		{"**/alpine", "docker.io/library/alpine/x", false},
		{"a/**/z", "a/z", true},
		{"a/**/z", "a/b/c/z", true},
		{"a/**/z", "a/b/c/y", false},
		{"a/**/**/z", "a/z", true},
		{"app-*", "app-web", true},
		{"app-*", "app-", true},
		{"app-*", "ap", false},
		{"*-prod", "web-prod", true},
		{"*-prod", "web-prod-old", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"Alpine", "alpine", false},
		{"", "a", false},
		{"**", "", false},
	}
	for _, tt := range tests {
		if got := Match(tt.glob, tt.repo); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.glob, tt.repo, got, tt.want)
		}
	}
}

func TestValidateGlob(t *testing.T) {
	tests := []struct {
		glob string
		ok   bool
	}{
		{"docker.io/library/alpine", true},
		{"**", true},
		{"a/**/b", true},
		{"localhost:5000/app-*", true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a**", false},
		{"a/***", false},
		{"a?", false},
		{"[ab]", false},
		{`a\*`, false},
		{"a b", false},
	}
	for _, tt := range tests {
		if err := ValidateGlob(tt.glob); (err == nil) != tt.ok {
			t.Errorf("ValidateGlob(%q) = %v, want ok=%v", tt.glob, err, tt.ok)
		}
	}
}

// A glob of many "**" segments against a long name must not go
// exponential; the DP makes this instant.
func BenchmarkMatchAdversarial(b *testing.B) {
	glob := "**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/x"
	repo := "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/y"
	for b.Loop() {
		Match(glob, repo)
	}
}
