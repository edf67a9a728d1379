package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestServesThePage(t *testing.T) {
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/ui/", "text/html; charset=utf-8", `<script src="/ui/app.js"`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "/shoal/v1/status"},
		{"/ui/style.css", "text/css; charset=utf-8", "body"},
	} {
		rec := get(t, http.MethodGet, tc.path)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", tc.path, rec.Code)
		}
		if got := rec.Header().Get("Content-Type"); got != tc.contentType {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.contentType)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.HasPrefix(csp, "default-src 'self';") || strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: Content-Security-Policy %q is not strict", tc.path, csp)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", tc.path, got)
		}
		if !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
	if rec := get(t, http.MethodHead, "/ui/"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /ui/: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestUnknownPathsAreNotFound(t *testing.T) {
	for _, p := range []string{"/ui/x", "/ui/index.html", "/ui/assets/app.js", "/ui/../ui/app.js", "/ui//app.js", "/ui/app.js/", "/ui", "/other"} {
		if rec := get(t, http.MethodGet, p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
	if rec := get(t, http.MethodPost, "/ui/"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /ui/: %d, want 405", rec.Code)
	}
}

// The page must load nothing from outside the node: no URL with a scheme
// or a protocol-relative one outside comments. The SVG namespace name is
// the one URL allowed: it names a namespace and is never fetched.
func TestNoExternalURLs(t *testing.T) {
	// Each comment form on its own flags: with (?s) over the whole
	// expression a line comment ran to the end of the file, and hid
	// everything after it.
	comments := regexp.MustCompile(`(?s:/\*.*?\*/)|(?s:<!--.*?-->)|(?m:^[ \t]*//[^\n]*$)`)
	const svgNamespace = `"http://www.w3.org/2000/svg"`
	external := regexp.MustCompile(`(?i)https?://|["'(=]\s*//[a-z0-9]`)
	n := 0
	err := fs.WalkDir(Assets(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(Assets(), p)
		if err != nil {
			return err
		}
		code := strings.ReplaceAll(comments.ReplaceAllString(string(b), ""), svgNamespace, `""`)
		if m := external.FindString(code); m != "" {
			t.Errorf("%s refers outside the node: %q", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(assetsByPath()) {
		t.Errorf("%d embedded files, %d served: every file embedded should be served", n, len(assetsByPath()))
	}
}

// The script marks its manifest reads with OwnReadHeader, by the name the
// node looks for: a name that drifted would list the page's own reads
// among the recent pulls again.
func TestScriptMarksItsOwnReads(t *testing.T) {
	b, err := fs.ReadFile(Assets(), "assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"`+OwnReadHeader+`": "1"`) {
		t.Fatalf("app.js does not send %s with its manifest reads", OwnReadHeader)
	}
}
