package vulndb

import "testing"

func TestPackageKey(t *testing.T) {
	for _, tc := range []struct{ eco, name, want string }{
		{"PyPI", "Jinja2", "jinja2"},
		{"PyPI", "zope.interface", "zope-interface"},
		{"PyPI", "Foo__Bar-.-baz", "foo-bar-baz"},
		{"PyPI", "typing_extensions", "typing-extensions"},
		{"PyPI", "-x_", "-x-"},
		{"PyPI", "", ""},
		{"npm", "@Babel/Core", "@Babel/Core"},
		{"npm", "lodash.merge", "lodash.merge"},
		{"Maven", "org.apache.logging.log4j:log4j-core", "org.apache.logging.log4j:log4j-core"},
		{"Go", "golang.org/x/text", "golang.org/x/text"},
		{"Debian:12", "Foo_Bar", "Foo_Bar"},
		{"NuGet", "Newtonsoft.Json", "newtonsoft.json"},
		{"Packagist", "Symfony/HTTP-Kernel", "symfony/http-kernel"},
		{"RubyGems", "Rack", "Rack"},
	} {
		if got := packageKey(tc.eco, tc.name); got != tc.want {
			t.Errorf("packageKey(%q, %q) = %q, want %q", tc.eco, tc.name, got, tc.want)
		}
	}
}
