// Package ui serves the node's web page at /ui/: a static shell (HTML,
// CSS, JS) embedded in the binary. The page holds no data of its own: its
// script reads the node's JSON and metrics endpoints with the caller's
// own credentials, so it shows exactly what that caller may read there.
package ui

import (
	"embed"
	"net/http"
	"path"
)

// Prefix is the path the page is served under.
const Prefix = "/ui/"

// OwnReadHeader marks the registry requests the page makes to draw
// itself (it reads each tag's manifest every few seconds): the node
// leaves them out of its recent pulls, which they would otherwise fill.
// It hides nothing else: the request is authorised and counted in the
// metrics like any other.
const OwnReadHeader = "X-Shoal-Page"

// ContentSecurityPolicy keeps the page to its own origin: no external
// script, style, font or image, no framing, no form posts.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// asset is one embedded file and the content type it is served with.
type asset struct {
	file        string
	contentType string
}

// assetsByPath maps each URL path under Prefix to its file; any other
// path is 404, so nothing else in the binary can be reached through it.
func assetsByPath() map[string]asset {
	return map[string]asset{
		"":          {"assets/index.html", "text/html; charset=utf-8"},
		"app.js":    {"assets/app.js", "text/javascript; charset=utf-8"},
		"style.css": {"assets/style.css", "text/css; charset=utf-8"},
	}
}

// Assets are the embedded files, for tests that check what they hold.
func Assets() embed.FS { return assets }

// Handler serves the page's files under Prefix.
func Handler() http.Handler {
	files := assetsByPath()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rel, ok := cutPrefix(r.URL.Path)
		a, known := files[rel]
		if !ok || !known {
			http.NotFound(w, r)
			return
		}
		body, err := assets.ReadFile(a.file)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The shell changes only with the binary; no-cache keeps a
		// browser from running an old script against a new node.
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// cutPrefix is p below Prefix, cleaned; false when p is not under it.
func cutPrefix(p string) (string, bool) {
	if len(p) < len(Prefix) || p[:len(Prefix)] != Prefix {
		return "", false
	}
	rel := p[len(Prefix):]
	if rel == "" {
		return "", true
	}
	if path.Clean("/"+rel) != "/"+rel {
		return "", false
	}
	return rel, true
}
