// Package upstreamtest builds upstream rules for tests.
package upstreamtest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/oci/upstream"
)

// Rules are upstream rules from NAME=URL specs, as --upstream gives them
// (without credentials).
func Rules(t testing.TB, specs ...string) []upstream.Rule {
	t.Helper()
	var out []upstream.Rule
	for _, s := range specs {
		name, raw, _ := strings.Cut(s, "=")
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, upstream.Rule{Name: name, URL: u})
	}
	return out
}
