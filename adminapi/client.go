package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one node's admin API. It is safe for concurrent use.
//
// Errors: a non-2xx answer is an *Error; a request that could not be
// sent or answered is net/http's *url.Error; an answer that cannot be
// read says "reading the node's answer"; a stream the node ended with a
// failure is an error carrying the node's message.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// Bounds on what is read of an answer, far above what a node sends.
const (
	maxStatusBody = 1 << 20
	maxPolicyBody = 64 << 10
	maxDBBody     = 1 << 20
	maxReportBody = 64 << 20
	// maxMetricsBody: a node exports a few hundred series.
	maxMetricsBody = 8 << 20
)

// shortCallTimeout bounds the calls that move little (Status, Ready,
// PutPolicy, Report, DB) when the caller's context has no deadline.
// Import, Preload, Scan and ImportDB run as long as the node works on
// them, until the context ends.
const shortCallTimeout = 30 * time.Second

// New returns a client of the node at baseURL, its scheme and host such
// as http://127.0.0.1:5000 (see ParseBaseURL), calling it through hc. A
// nil hc is a client of the package's own with connect and TLS handshake
// timeouts but no limit on a whole exchange, so that long imports can
// stream; not http.DefaultClient.
func New(baseURL string, hc *http.Client) (*Client, error) {
	base, err := ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = newHTTPClient()
	}
	return &Client{base: base, hc: hc}, nil
}

// newHTTPClient is the default HTTP client: dialling and the TLS
// handshake are bounded, answers are not (shortCallTimeout bounds the
// small calls), and proxies come from the environment as with net/http's
// default.
func newHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
	}}
}

// BaseURLError is a base URL that ParseBaseURL refuses.
type BaseURLError struct {
	// URL is the text given.
	URL string
	// Reason says what is wrong with it.
	Reason string
}

func (e *BaseURLError) Error() string {
	return fmt.Sprintf("%q is not a node's base URL such as http://127.0.0.1:5000: %s", e.URL, e.Reason)
}

// ParseBaseURL checks that raw is a node's base URL: http or https, a
// host, and no path (a trailing slash is fine), query or fragment. The
// URL returned has an empty path. A refusal is a *BaseURLError.
func ParseBaseURL(raw string) (*url.URL, error) {
	bad := func(reason string) error { return &BaseURLError{URL: raw, Reason: reason} }
	if !strings.Contains(raw, "://") {
		return nil, bad("it has no scheme: start it with http:// or https://")
	}
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, bad(err.Error())
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, bad(fmt.Sprintf("the scheme is %s, not http or https", u.Scheme))
	case u.Host == "":
		return nil, bad("it has no host")
	case u.Path != "" && u.Path != "/":
		return nil, bad(fmt.Sprintf("it has the path %s; give only the scheme and host", u.Path))
	case u.RawQuery != "" || u.ForceQuery:
		return nil, bad("it has a query")
	case u.Fragment != "":
		return nil, bad("it has a fragment")
	}
	u.Path, u.RawPath = "", ""
	return u, nil
}

// BaseURL is a copy of the node's base URL.
func (c *Client) BaseURL() *url.URL {
	u := *c.base
	if u.User != nil {
		user := *u.User
		u.User = &user
	}
	return &u
}

// CloseIdleConnections closes the HTTP client's idle connections.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
}

// endpoint is the URL of path on the node, with elem (a path segment,
// escaped) appended when not empty, and query. Every URL the client
// calls is built here.
func (c *Client) endpoint(path, elem string, query url.Values) *url.URL {
	u := *c.base
	u.Path, u.RawPath = path, ""
	if elem != "" {
		u.Path += "/" + elem
		u.RawPath = path + "/" + url.PathEscape(elem)
	}
	u.RawQuery = query.Encode()
	return &u
}

// request is one call of the admin API.
type request struct {
	method, path, elem string
	query              url.Values
	body               io.Reader
	contentType        string
}

// do sends r and returns the node's 2xx answer; any other is an *Error.
// The caller closes the body.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, c.endpoint(r.path, r.elem, r.query).String(), r.body)
	if err != nil {
		return nil, err
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, readError(req, resp)
	}
	return resp, nil
}

// call sends r and decodes the node's JSON answer, at most limit bytes
// of it, into v.
func (c *Client) call(ctx context.Context, r request, limit int64, v any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(v); err != nil {
		return fmt.Errorf("reading the node's answer: %w", err)
	}
	return nil
}

// short bounds ctx by shortCallTimeout unless it has a deadline already.
func short(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, shortCallTimeout)
}

// Status is the node's GET /shoal/v1/status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	ctx, cancel := short(ctx)
	defer cancel()
	var st Status
	if err := c.call(ctx, request{method: http.MethodGet, path: PathStatus}, maxStatusBody, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Metrics is the node's GET /metrics: Prometheus text, at most
// maxMetricsBody bytes of it.
func (c *Client) Metrics(ctx context.Context) ([]byte, error) {
	ctx, cancel := short(ctx)
	defer cancel()
	resp, err := c.do(ctx, request{method: http.MethodGet, path: PathMetrics})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetricsBody))
	if err != nil {
		return nil, fmt.Errorf("reading the node's answer: %w", err)
	}
	return body, nil
}

// Ready is nil when the node's GET /readyz answers 200; otherwise it is an
// *Error whose Body lists what keeps the node from serving.
func (c *Client) Ready(ctx context.Context) error {
	ctx, cancel := short(ctx)
	defer cancel()
	resp, err := c.do(ctx, request{method: http.MethodGet, path: PathReadyz})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// PutPolicy installs a signed policy envelope on the node (PUT
// /shoal/v1/policy). The node checks it as `shoal policy verify` does and
// refuses a version not above the one it holds, answering an *Error.
func (c *Client) PutPolicy(ctx context.Context, envelope []byte) (*PolicyApplied, error) {
	ctx, cancel := short(ctx)
	defer cancel()
	var a PolicyApplied
	r := request{method: http.MethodPut, path: PathPolicy, body: bytes.NewReader(envelope), contentType: mediaTypeJSON}
	if err := c.call(ctx, r, maxPolicyBody, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Import sends an image archive (a tar of an OCI image layout, or a
// docker save tarball, optionally gzip-compressed) to the node (POST
// /shoal/v1/import), which spools it whole before it answers.
// A non-empty repo puts every image in that repository. onLine, unless
// nil, is called with each line of the node's answer as it arrives,
// the last one included. The last line is returned; when it reports a
// failure, so does the error.
func (c *Client) Import(ctx context.Context, body io.Reader, repo string, onLine func(ImageStreamLine)) (ImageStreamLine, error) {
	var q url.Values
	if repo != "" {
		q = url.Values{QueryRepo: {repo}}
	}
	return c.stream(ctx, request{method: http.MethodPost, path: PathImport, query: q, body: body, contentType: MediaTypeImageArchive}, onLine)
}

// Preload makes the node fetch refs through its own mirror path (POST
// /shoal/v1/preload). onLine, unless nil, is called with each line of the
// node's answer as it arrives, the last one included; a ref that failed
// is a line with Ref and Error. The last line is returned, listing the
// refs preloaded; when any ref failed, the error carries the node's
// summary too.
func (c *Client) Preload(ctx context.Context, refs []string, onLine func(ImageStreamLine)) (ImageStreamLine, error) {
	body, err := json.Marshal(PreloadRequest{Refs: refs})
	if err != nil {
		return ImageStreamLine{}, err
	}
	return c.stream(ctx, request{method: http.MethodPost, path: PathPreload, body: bytes.NewReader(body), contentType: mediaTypeJSON}, onLine)
}

// streamCutError is a JSON-lines answer that ended before its last line.
type streamCutError struct{}

func (streamCutError) Error() string {
	return "the node ended its answer before it finished (was it stopped?)"
}

func (streamCutError) Unwrap() error { return io.ErrUnexpectedEOF }

// stream sends r and follows the node's JSON-lines answer to its last
// line.
func (c *Client) stream(ctx context.Context, r request, onLine func(ImageStreamLine)) (ImageStreamLine, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return ImageStreamLine{}, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var l ImageStreamLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				return ImageStreamLine{}, streamCutError{}
			}
			return ImageStreamLine{}, fmt.Errorf("reading the node's answer: %w", err)
		}
		if onLine != nil {
			onLine(l)
		}
		if l.Final() {
			if l.Error != "" {
				return l, errors.New(l.Error)
			}
			return l, nil
		}
	}
}

// Scan makes the node scan ref, REPOSITORY:TAG or REPOSITORY@DIGEST as
// it serves it (POST /shoal/v1/scans?ref=). The node answers with a
// fresh trusted report it holds already unless force. Scanning may take
// minutes; only ctx bounds it.
func (c *Client) Scan(ctx context.Context, ref string, force bool) (*ScanResult, error) {
	q := url.Values{QueryRef: {ref}}
	if force {
		q.Set(QueryForce, "1")
	}
	var res ScanResult
	if err := c.call(ctx, request{method: http.MethodPost, path: PathScans, query: q}, maxReportBody, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Report is the report the node holds on an image (platform manifest)
// digest (GET /shoal/v1/scans/<digest>); an *Error with StatusCode 404
// when it has none.
func (c *Client) Report(ctx context.Context, digest string) (*ReportView, error) {
	if digest == "" {
		return nil, errors.New("no digest to ask a report on")
	}
	ctx, cancel := short(ctx)
	defer cancel()
	var rv ReportView
	if err := c.call(ctx, request{method: http.MethodGet, path: PathScans, elem: digest}, maxReportBody, &rv); err != nil {
		return nil, err
	}
	return &rv, nil
}

// SignatureChecks are the node's last signature checks of an image
// digest (GET /shoal/v1/signatures/<digest>), in the repositories the
// caller may pull; an *Error with StatusCode 404 from a node older than
// the endpoint.
func (c *Client) SignatureChecks(ctx context.Context, digest string) (*SignatureChecks, error) {
	if digest == "" {
		return nil, errors.New("no digest to ask signature checks of")
	}
	ctx, cancel := short(ctx)
	defer cancel()
	var sc SignatureChecks
	if err := c.call(ctx, request{method: http.MethodGet, path: PathSignatures, elem: digest}, maxReportBody, &sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

// ImportDB sends an encoded vulnerability database (MediaTypeVulnDB, as
// vulndb's Encode writes it) to the node (PUT /shoal/v1/scan/db), which
// checks, signs, stores and loads it, and answers what it now uses.
func (c *Client) ImportDB(ctx context.Context, body io.Reader) (*DBStatus, error) {
	var st DBStatus
	if err := c.call(ctx, request{method: http.MethodPut, path: PathScanDB, body: body, contentType: MediaTypeVulnDB}, maxDBBody, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// DB describes the vulnerability database the node uses (GET
// /shoal/v1/scan/db); an *Error with StatusCode 404 when it has none.
func (c *Client) DB(ctx context.Context) (*DBStatus, error) {
	ctx, cancel := short(ctx)
	defer cancel()
	var st DBStatus
	if err := c.call(ctx, request{method: http.MethodGet, path: PathScanDB}, maxDBBody, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
