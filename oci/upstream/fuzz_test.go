package upstream

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func FuzzNextLink(f *testing.F) {
	for _, s := range []string{
		`</v2/a/tags/list?last=x&n=2>; rel="next"`,
		`<https://r.example/prev>; rel="prev", <https://r.example/next>; rel="next"`,
		`<x>; title="a, b"; rel="next"`,
		`<x>; rel=next`,
		`<x`,
		`, , <>; rel="next prev"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		target, ok := nextLink([]string{v})
		if ok && !strings.Contains(v, target) {
			t.Errorf("nextLink(%q) = %q, not part of the input", v, target)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "", "1e9"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > 24*time.Hour {
			t.Errorf("parseRetryAfter(%q) = %s, out of range", v, d)
		}
	})
}

func FuzzManifestMediaType(f *testing.F) {
	f.Add(`{"mediaType":"application/vnd.oci.image.index.v1+json"}`, "application/json")
	f.Add(`{}`, "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")
	f.Add(`not json`, "")
	f.Fuzz(func(t *testing.T, body, ct string) {
		h := http.Header{}
		h.Set("Content-Type", ct)
		manifestMediaType(h, []byte(body))
	})
}
