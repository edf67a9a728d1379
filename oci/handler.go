package oci

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxManifestBytes is the largest manifest accepted when
// HandlerOptions.MaxManifestBytes is zero.
const DefaultMaxManifestBytes = 4 << 20

// HandlerOptions tunes NewHandler. The zero value is usable.
type HandlerOptions struct {
	// MaxManifestBytes is the largest manifest a PUT may carry; larger ones
	// get 413 SIZE_INVALID. Zero means DefaultMaxManifestBytes.
	MaxManifestBytes int64
	// ChunkMinLength, when positive, is sent as OCI-Chunk-Min-Length on
	// upload responses.
	ChunkMinLength int64
	// Logger receives errors that are not protocol errors (the 500s) and
	// recovered panics. Nil discards them.
	Logger *slog.Logger
	// Observe, when set, is called once per request with a fixed route label
	// (base, catalog, manifests, blobs, uploads, tags, referrers, unknown),
	// the method, the status sent and the time taken.
	Observe func(route, method string, status int, d time.Duration)
	// BytesServed, when set, is called after each blob GET with the number
	// of body bytes written to the client.
	BytesServed func(n int64)
	// ManifestServed, when set, is called after each manifest GET (not
	// HEAD) answered 200: a client pulled repo by reference (a tag or a
	// digest), which resolved to digest. r is the request, for the
	// listener to tell who asked.
	ManifestServed func(r *http.Request, repo Repo, reference, digest string)
	// Authorize, when set, is asked before any route touches the Registry
	// whether the caller may do action (ActionPull, ActionPush,
	// ActionDelete, ActionList) on repo; repo.Name is "" for the catalog,
	// and action is ActionBase for the /v2/ endpoint. An error is answered
	// as is (an *Error in its chain sets code and status); an error that
	// is also a Challenger sends WWW-Authenticate. Nil allows everything.
	Authorize func(r *http.Request, repo Repo, action string) error
	// FilterCatalog, when set, keeps only the catalog names the caller may
	// see. It runs before pagination, so pages stay consistent.
	FilterCatalog func(r *http.Request, names []string) []string
}

// The actions Authorize is asked about.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
	ActionList   = "list"
	// ActionBase is the /v2/ version check: an error asks the client to
	// authenticate before it goes on.
	ActionBase = ""
)

// Challenger is an error that asks the client to authenticate: each of
// its challenges is sent as a WWW-Authenticate header.
type Challenger interface {
	error
	Challenges() []string
}

// NewHandler serves the OCI distribution API (v1.1) under /v2/ from reg.
// It validates names, references, digests and headers before calling reg,
// and answers every error in the OCI error form.
func NewHandler(reg Registry, opts HandlerOptions) http.Handler {
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = DefaultMaxManifestBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{reg: reg, opts: opts, log: log}
}

type handler struct {
	reg  Registry
	opts HandlerOptions
	log  *slog.Logger
}

// request is one request being served: its parsed route and query.
type request struct {
	*http.Request
	route
	repo  Repo
	query url.Values
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w}
	kind := routeUnknown
	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler { //nolint:errorlint // sentinel compared as a panic value
			h.log.Error("panic serving request", "method", r.Method, "path", r.URL.EscapedPath(), "panic", p, "stack", string(debug.Stack()))
			if rw.wroteHeader {
				// Too late for an error response: break the connection
				// rather than end a damaged response cleanly.
				p = http.ErrAbortHandler
			} else {
				WriteError(rw, ErrInternal)
				p = nil
			}
		}
		if h.opts.Observe != nil {
			h.opts.Observe(kind.label(), r.Method, rw.status(), time.Since(start))
		}
		if p != nil {
			panic(p)
		}
	}()

	rw.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, err := parseRoute(r.URL.EscapedPath())
	kind = rt.kind
	if err != nil {
		WriteError(rw, err)
		return
	}
	req := &request{Request: r, route: rt, query: r.URL.Query()}
	ns := req.query.Get("ns")
	if !validNS(ns) {
		WriteError(rw, ErrNameInvalid.WithMessage("invalid ns parameter"))
		return
	}
	req.repo = Repo{Name: rt.name, NS: ns}

	switch rt.kind {
	case routeBase:
		h.dispatch(rw, req, methods{get: h.base, head: h.base})
	case routeCatalog:
		h.dispatch(rw, req, methods{get: h.catalog})
	case routeTags:
		h.dispatch(rw, req, methods{get: h.tags})
	case routeReferrers:
		h.dispatch(rw, req, methods{get: h.referrers})
	case routeManifest:
		h.dispatch(rw, req, methods{get: h.getManifest, head: h.getManifest, put: h.putManifest, delete: h.deleteManifest})
	case routeBlob:
		h.dispatch(rw, req, methods{get: h.getBlob, head: h.headBlob, delete: h.deleteBlob})
	case routeUploadStart:
		h.dispatch(rw, req, methods{post: h.startUpload})
	case routeUpload:
		if !validUploadID(rt.arg) {
			WriteError(rw, ErrBlobUploadUnknown.WithMessage("invalid upload id"))
			return
		}
		h.dispatch(rw, req, methods{get: h.uploadStatus, patch: h.patchUpload, put: h.putUpload, delete: h.cancelUpload})
	default:
		WriteError(rw, errNoRoute)
	}
}

type handlerFunc func(w *responseWriter, r *request) error

// methods are the handlers of one route, by method.
type methods struct {
	get, head, put, post, patch, delete handlerFunc
}

func (h *handler) dispatch(w *responseWriter, r *request, m methods) {
	var f handlerFunc
	switch r.Method {
	case http.MethodGet:
		f = m.get
	case http.MethodHead:
		f = m.head
	case http.MethodPut:
		f = m.put
	case http.MethodPost:
		f = m.post
	case http.MethodPatch:
		f = m.patch
	case http.MethodDelete:
		f = m.delete
	}
	if f == nil {
		w.Header().Set("Allow", m.allow())
		WriteError(w, ErrUnsupported.WithMessage("method %s not allowed here", truncate(r.Method, 32)))
		return
	}
	if err := h.authorize(r); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := f(w, r); err != nil {
		h.fail(w, r, err)
	}
}

// authorize asks opts.Authorize about what r is about to do, before any
// handler reaches the Registry.
func (h *handler) authorize(r *request) error {
	if h.opts.Authorize == nil {
		return nil
	}
	action := ActionPull
	switch r.kind {
	case routeBase:
		action = ActionBase
	case routeCatalog, routeTags:
		action = ActionList
	case routeUploadStart, routeUpload:
		action = ActionPush
	case routeManifest, routeBlob:
		switch r.Method {
		case http.MethodPut:
			action = ActionPush
		case http.MethodDelete:
			action = ActionDelete
		}
	}
	if err := h.opts.Authorize(r.Request, r.repo, action); err != nil {
		return err
	}
	// A cross-repository mount reads the source repository.
	if r.kind == routeUploadStart && r.Method == http.MethodPost && r.query.Has("mount") && r.query.Get("from") != "" {
		from := Repo{Name: r.query.Get("from"), NS: r.repo.NS}
		if err := ValidateName(from.Name); err != nil {
			return err
		}
		return h.opts.Authorize(r.Request, from, ActionPull)
	}
	return nil
}

func (m methods) allow() string {
	var s []string
	for _, x := range []struct {
		f    handlerFunc
		name string
	}{{m.get, "GET"}, {m.head, "HEAD"}, {m.put, "PUT"}, {m.post, "POST"}, {m.patch, "PATCH"}, {m.delete, "DELETE"}} {
		if x.f != nil {
			s = append(s, x.name)
		}
	}
	return strings.Join(s, ", ")
}

// fail answers err, logging it when it is not a protocol error.
func (h *handler) fail(w *responseWriter, r *request, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Status >= 500 {
		h.log.Error("request failed", "method", r.Method, "path", r.URL.EscapedPath(), "repo", r.repo.Name, "err", err)
	}
	if w.wroteHeader {
		// The response is under way (a handler bug): do not let the client
		// take what it got as complete.
		panic(http.ErrAbortHandler)
	}
	var c Challenger
	if errors.As(err, &c) {
		for _, v := range c.Challenges() {
			w.Header().Add("WWW-Authenticate", v)
		}
	}
	WriteError(w, err)
}

func (h *handler) base(w *responseWriter, r *request) error {
	writeJSON(w, http.StatusOK, "application/json", struct{}{})
	return nil
}

// writeJSON sends v with an exact Content-Length.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// location is a path under /v2/<name>/ for a Location header, keeping the
// ns parameter so that follow-up requests reach the same namespace.
func location(repo Repo, suffix string) string {
	loc := "/v2/" + repo.Name + "/" + suffix
	if repo.NS != "" {
		loc += "?" + url.Values{"ns": {repo.NS}}.Encode()
	}
	return loc
}

// responseWriter records the status and body size for metrics. While
// ociErrors is set (around http.ServeContent) it replaces any 4xx/5xx that
// net/http writes in plain text with the OCI error form.
type responseWriter struct {
	http.ResponseWriter
	wroteHeader bool
	code        int
	written     int64
	ociErrors   bool
	discard     bool
}

func (w *responseWriter) status() int {
	if !w.wroteHeader {
		return http.StatusOK
	}
	return w.code
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if w.ociErrors && code >= 400 {
		w.ociErrors = false
		e := &Error{Status: code, Code: "UNSUPPORTED", Message: http.StatusText(code)}
		if code == http.StatusRequestedRangeNotSatisfiable {
			e = ErrRangeInvalid
		}
		h := w.Header()
		h.Del("ETag")
		h.Del("Cache-Control")
		h.Del("Accept-Ranges")
		h.Del("X-Content-Type-Options")
		WriteError(w, e)
		w.discard = true
		return
	}
	w.wroteHeader = true
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.discard {
		return len(p), nil
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for *os.File content.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.discard {
		return io.Copy(io.Discard, r)
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, r)
	}
	w.written += n
	return n, err
}

func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.wroteHeader {
			w.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides ReadFrom so io.Copy does not recurse.
type writerOnly struct{ io.Writer }
