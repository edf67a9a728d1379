package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seen is what a test server received.
type seen struct {
	method, path, rawPath, query, contentType string
	body                                      []byte
}

// answer is what a test server answers.
type answer struct {
	status      int
	contentType string
	body        string
}

// testServer answers every request with a and records it in *got.
func testServer(t *testing.T, got *seen, a answer) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Header.Get("Content-Type"), b}
		ct := a.contentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		status := a.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestCalls checks each method's request (method, path, query, body) and
// how it reads the node's answer.
func TestCalls(t *testing.T) {
	updated := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		answer answer
		call   func(context.Context, *Client) (any, error)
		want   seen
		result any
	}{
		{
			name:   "status",
			answer: answer{body: `{"version":"1.2.0","peer_id":"12D3Koo","p2p_addrs":["/ip4/127.0.0.1/tcp/5001/p2p/12D3Koo"],"peers":3,"cache":{"bytes":10,"blobs":2,"max_bytes":100},"policy":{"version":4},"upstreams":["docker.io=https://registry-1.docker.io"]}`},
			call:   func(ctx context.Context, c *Client) (any, error) { return c.Status(ctx) },
			want:   seen{method: "GET", path: "/shoal/v1/status"},
			result: &Status{Version: "1.2.0", PeerID: "12D3Koo", P2PAddrs: []string{"/ip4/127.0.0.1/tcp/5001/p2p/12D3Koo"}, Peers: 3,
				Cache: CacheStatus{Bytes: 10, Blobs: 2, MaxBytes: 100}, Policy: PolicyStatus{Version: 4}, Upstream: []string{"docker.io=https://registry-1.docker.io"}},
		},
		{
			name:   "metrics",
			answer: answer{contentType: "text/plain", body: "shoal_peers 2\n"},
			call: func(ctx context.Context, c *Client) (any, error) {
				b, err := c.Metrics(ctx)
				return string(b), err
			},
			want:   seen{method: "GET", path: "/metrics"},
			result: "shoal_peers 2\n",
		},
		{
			name:   "ready",
			answer: answer{contentType: "text/plain", body: "ok\n"},
			call:   func(ctx context.Context, c *Client) (any, error) { return nil, c.Ready(ctx) },
			want:   seen{method: "GET", path: "/readyz"},
		},
		{
			name:   "put policy",
			answer: answer{body: `{"version":7,"digest":"sha256:abc"}` + "\n"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.PutPolicy(ctx, []byte(`{"payloadType":"x"}`))
			},
			want:   seen{method: "PUT", path: "/shoal/v1/policy", contentType: "application/json", body: []byte(`{"payloadType":"x"}`)},
			result: &PolicyApplied{Version: 7, Digest: "sha256:abc"},
		},
		{
			name:   "import",
			answer: answer{contentType: MediaTypeImageStream, body: `{"imported":[{"repo":"a","tag":"1","digest":"sha256:1"}]}` + "\n"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Import(ctx, strings.NewReader("tar bytes"), "", nil)
			},
			want:   seen{method: "POST", path: "/shoal/v1/import", contentType: "application/x-tar", body: []byte("tar bytes")},
			result: ImageStreamLine{Imported: []ImportedImage{{Repo: "a", Tag: "1", Digest: "sha256:1"}}},
		},
		{
			name:   "import into a repository",
			answer: answer{contentType: MediaTypeImageStream, body: `{"imported":[]}` + "\n"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Import(ctx, strings.NewReader("tar"), "my team/app:1.0&x=y", nil)
			},
			want:   seen{method: "POST", path: "/shoal/v1/import", query: "repo=my+team%2Fapp%3A1.0%26x%3Dy", contentType: "application/x-tar", body: []byte("tar")},
			result: ImageStreamLine{Imported: []ImportedImage{}},
		},
		{
			name:   "preload",
			answer: answer{contentType: MediaTypeImageStream, body: `{"ref":"a:1","digest":"sha256:1"}` + "\n" + `{"preloaded":[{"ref":"a:1","repo":"a","digest":"sha256:1"}]}` + "\n"},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Preload(ctx, []string{"a:1"}, nil)
			},
			want:   seen{method: "POST", path: "/shoal/v1/preload", contentType: "application/json", body: []byte(`{"refs":["a:1"]}`)},
			result: ImageStreamLine{Preloaded: []PreloadedImage{{Ref: "a:1", Repo: "a", Digest: "sha256:1"}}},
		},
		{
			name:   "scan",
			answer: answer{body: `{"ref":"team/app:1","digest":"sha256:1","reports":[{"image":"sha256:2","db":"sha256:3","db_updated":"2024-05-01T12:00:00Z","scanner":"12D3","started":"0001-01-01T00:00:00Z","finished":"0001-01-01T00:00:00Z","os":{},"packages":2,"findings":null,"db_age":"1h0m0s","db_age_seconds":3600,"envelope":"sha256:4","trusted":true}]}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				res, err := c.Scan(ctx, "team/app:1", false)
				if err != nil {
					return nil, err
				}
				r := res.Reports[0]
				return []any{res.Ref, res.Digest, r.Image.String(), r.DB.String(), r.DBUpdated.Equal(updated), r.Scanner, r.Packages, r.DBAge, r.DBAgeSeconds, r.Envelope, r.Trusted}, nil
			},
			want:   seen{method: "POST", path: "/shoal/v1/scans", query: "ref=team%2Fapp%3A1"},
			result: []any{"team/app:1", "sha256:1", "sha256:2", "sha256:3", true, "12D3", 2, "1h0m0s", 3600.0, "sha256:4", true},
		},
		{
			name:   "scan with force",
			answer: answer{body: `{"ref":"team/app@sha256:1","digest":"sha256:1","reports":[]}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.Scan(ctx, "team/app@sha256:1", true)
			},
			want:   seen{method: "POST", path: "/shoal/v1/scans", query: "force=1&ref=team%2Fapp%40sha256%3A1"},
			result: &ScanResult{Ref: "team/app@sha256:1", Digest: "sha256:1", Reports: []ReportView{}},
		},
		{
			name:   "report",
			answer: answer{body: `{"image":"sha256:2","scanner":"12D3","db_age":"5s","envelope":"sha256:4","trusted":false}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				r, err := c.Report(ctx, "sha256:2")
				if err != nil {
					return nil, err
				}
				return []any{r.Image.String(), r.Scanner, r.DBAge, r.Envelope, r.Trusted}, nil
			},
			want:   seen{method: "GET", path: "/shoal/v1/scans/sha256:2"},
			result: []any{"sha256:2", "12D3", "5s", "sha256:4", false},
		},
		{
			name:   "report on a digest that is not one path segment",
			answer: answer{body: `{}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				_, err := c.Report(ctx, "../x?y")
				return nil, err
			},
			want: seen{method: "GET", path: "/shoal/v1/scans/../x?y", rawPath: "/shoal/v1/scans/..%2Fx%3Fy"},
		},
		{
			name:   "import db",
			answer: answer{body: `{"digest":"sha256:5","records":12,"updated":"2024-05-01T12:00:00Z","signer":"12D3","size":99}`},
			call: func(ctx context.Context, c *Client) (any, error) {
				return c.ImportDB(ctx, strings.NewReader("gzip bytes"))
			},
			want:   seen{method: "PUT", path: "/shoal/v1/scan/db", contentType: "application/vnd.shoal.vulndb.v1+gzip", body: []byte("gzip bytes")},
			result: &DBStatus{Digest: "sha256:5", Records: 12, Updated: updated, Signer: "12D3", Size: 99},
		},
		{
			name:   "db",
			answer: answer{body: `{"digest":"sha256:5","records":12,"updated":"2024-05-01T12:00:00Z","signer":"12D3","size":99}`},
			call:   func(ctx context.Context, c *Client) (any, error) { return c.DB(ctx) },
			want:   seen{method: "GET", path: "/shoal/v1/scan/db"},
			result: &DBStatus{Digest: "sha256:5", Records: 12, Updated: updated, Signer: "12D3", Size: 99},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			c := testServer(t, &got, tt.answer)
			res, err := tt.call(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if got.body == nil {
				got.body = []byte{}
			}
			if tt.want.body == nil {
				tt.want.body = []byte{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("request = %+v\nwant      %+v", got, tt.want)
			}
			if tt.result != nil && !reflect.DeepEqual(res, tt.result) {
				t.Errorf("result = %#v\nwant     %#v", res, tt.result)
			}
		})
	}
}

// TestStream checks that stream lines reach onLine as the node sends
// them, and how the last line ends the call.
func TestStream(t *testing.T) {
	t.Run("lines arrive as they are sent", func(t *testing.T) {
		next := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", MediaTypeImageStream)
			rc := http.NewResponseController(w)
			for _, l := range []string{`{"blob":"sha256:1","bytes":5,"total":10}`, `{"warning":"skipped x"}`} {
				io.WriteString(w, l+"\n")
				rc.Flush()
				// The next line is only sent once the client has seen this
				// one: a client that waited for the whole answer would hang
				// (and the test time out).
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			io.WriteString(w, `{"imported":[{"repo":"a","tag":"","digest":"sha256:1"}]}`+"\n")
		}))
		defer srv.Close()
		c, err := New(srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseIdleConnections()
		var lines []ImageStreamLine
		final, err := c.Import(context.Background(), strings.NewReader("tar"), "", func(l ImageStreamLine) {
			lines = append(lines, l)
			if !l.Final() {
				next <- struct{}{}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []ImageStreamLine{
			{Blob: "sha256:1", Bytes: 5, Total: 10},
			{Warning: "skipped x"},
			{Imported: []ImportedImage{{Repo: "a", Digest: "sha256:1"}}},
		}
		if !reflect.DeepEqual(lines, want) || !reflect.DeepEqual(final, want[2]) {
			t.Fatalf("lines %+v, final %+v; want %+v", lines, final, want)
		}
	})

	for _, tt := range []struct {
		name, body string
		wantLines  int
		wantFinal  ImageStreamLine
		wantErr    string
		cut        bool
	}{
		{
			name:      "a preload with a failed ref",
			body:      `{"ref":"a:1","error":"not found"}` + "\n" + `{"ref":"b:1","digest":"sha256:2"}` + "\n" + `{"preloaded":[{"ref":"b:1","repo":"b","digest":"sha256:2"}],"error":"1 of 2 refs failed"}` + "\n",
			wantLines: 3,
			wantFinal: ImageStreamLine{Preloaded: []PreloadedImage{{Ref: "b:1", Repo: "b", Digest: "sha256:2"}}, Error: "1 of 2 refs failed"},
			wantErr:   "1 of 2 refs failed",
		},
		{
			name:      "a failed operation",
			body:      `{"blob":"sha256:1","bytes":1,"total":2}` + "\n" + `{"error":"blob sha256:1: digest mismatch"}` + "\n",
			wantLines: 2,
			wantFinal: ImageStreamLine{Error: "blob sha256:1: digest mismatch"},
			wantErr:   "blob sha256:1: digest mismatch",
		},
		{
			name:      "an answer cut before its last line",
			body:      `{"blob":"sha256:1","bytes":1,"total":2}` + "\n",
			wantLines: 1,
			wantErr:   "the node ended its answer before it finished (was it stopped?)",
			cut:       true,
		},
		{
			name:    "an answer that is not JSON lines",
			body:    "<html>hello</html>",
			wantErr: "reading the node's answer: invalid character '<'",
		},
		{
			name:      "lines after the last are not read",
			body:      `{"preloaded":[]}` + "\n" + `garbage`,
			wantLines: 1,
			wantFinal: ImageStreamLine{Preloaded: []PreloadedImage{}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got seen
			c := testServer(t, &got, answer{contentType: MediaTypeImageStream, body: tt.body})
			n := 0
			final, err := c.Preload(context.Background(), []string{"a:1", "b:1"}, func(ImageStreamLine) { n++ })
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if n != tt.wantLines || !reflect.DeepEqual(final, tt.wantFinal) {
				t.Fatalf("%d lines, final %+v; want %d, %+v", n, final, tt.wantLines, tt.wantFinal)
			}
			if tt.cut != errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("errors.Is(%v, io.ErrUnexpectedEOF) = %v", err, !tt.cut)
			}
		})
	}
}

// TestErrors checks that a non-2xx answer becomes an *Error with the
// node's words, whatever the call.
func TestErrors(t *testing.T) {
	calls := map[string]func(context.Context, *Client) error{
		"status": func(ctx context.Context, c *Client) error {
			_, err := c.Status(ctx)
			return err
		},
		"ready": func(ctx context.Context, c *Client) error {
			return c.Ready(ctx)
		},
		"put policy": func(ctx context.Context, c *Client) error {
			_, err := c.PutPolicy(ctx, []byte("{}"))
			return err
		},
		"import": func(ctx context.Context, c *Client) error {
			_, err := c.Import(ctx, strings.NewReader(""), "x", nil)
			return err
		},
		"preload": func(ctx context.Context, c *Client) error {
			_, err := c.Preload(ctx, []string{"a"}, nil)
			return err
		},
		"scan": func(ctx context.Context, c *Client) error {
			_, err := c.Scan(ctx, "a:1", false)
			return err
		},
		"report": func(ctx context.Context, c *Client) error {
			_, err := c.Report(ctx, "sha256:1")
			return err
		},
		"import db": func(ctx context.Context, c *Client) error {
			_, err := c.ImportDB(ctx, strings.NewReader(""))
			return err
		},
		"db": func(ctx context.Context, c *Client) error {
			_, err := c.DB(ctx)
			return err
		},
	}
	for _, tt := range []struct {
		name    string
		answer  answer
		want    Error // Method and Path are checked apart
		message string
	}{
		{
			name:    "an OCI error",
			answer:  answer{status: 409, body: `{"errors":[{"code":"UNSUPPORTED","message":"no vulnerability database: import one"}]}`},
			want:    Error{StatusCode: 409, Status: "409 Conflict", Code: "UNSUPPORTED", Message: "no vulnerability database: import one", Errors: []ErrorEntry{{Code: "UNSUPPORTED", Message: "no vulnerability database: import one"}}},
			message: "the node refused: no vulnerability database: import one",
		},
		{
			name:   "an OCI error with details",
			answer: answer{status: 500, body: `{"errors":[{"code":"UNKNOWN","message":"scan failed","detail":"disk full"},{"code":"X","message":"","detail":{"n":1}}]}`},
			want: Error{StatusCode: 500, Status: "500 Internal Server Error", Code: "UNKNOWN", Message: "scan failed", Detail: "disk full",
				Errors: []ErrorEntry{{Code: "UNKNOWN", Message: "scan failed", Detail: "disk full"}, {Code: "X", Detail: map[string]any{"n": 1.0}}}},
			message: `the node refused: scan failed (disk full); X ({"n":1})`,
		},
		{
			name:    "not found, not from a shoal node",
			answer:  answer{status: 404, contentType: "text/plain", body: "404 page not found\n"},
			want:    Error{StatusCode: 404, Status: "404 Not Found", Body: "404 page not found"},
			message: "the node answered 404 Not Found to ",
		},
		{
			name:    "method not allowed",
			answer:  answer{status: 405, contentType: "text/plain", body: "Method Not Allowed\n"},
			want:    Error{StatusCode: 405, Status: "405 Method Not Allowed", Body: "Method Not Allowed"},
			message: "the node answered 405 Method Not Allowed to ",
		},
		{
			name:    "not ready",
			answer:  answer{status: 503, contentType: "text/plain", body: "store: not open\np2p: not listening\n"},
			want:    Error{StatusCode: 503, Status: "503 Service Unavailable", Body: "store: not open\np2p: not listening"},
			message: "the node answered 503 Service Unavailable: store: not open; p2p: not listening",
		},
		{
			name:    "an empty answer",
			answer:  answer{status: 502},
			want:    Error{StatusCode: 502, Status: "502 Bad Gateway"},
			message: "the node answered 502 Bad Gateway",
		},
		{
			name:    "JSON that is not an OCI error",
			answer:  answer{status: 400, body: `{"errors":[]}`},
			want:    Error{StatusCode: 400, Status: "400 Bad Request", Body: `{"errors":[]}`},
			message: `the node answered 400 Bad Request: {"errors":[]}`,
		},
	} {
		for name, call := range calls {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				var got seen
				c := testServer(t, &got, tt.answer)
				err := call(context.Background(), c)
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %#v, want an *Error", err)
				}
				if e.Method != got.method || e.Path != got.path {
					t.Errorf("error names %s %s, want %s %s", e.Method, e.Path, got.method, got.path)
				}
				w := tt.want
				w.Method, w.Path = e.Method, e.Path
				if !reflect.DeepEqual(*e, w) {
					t.Errorf("error = %#v\nwant    %#v", *e, w)
				}
				if !strings.HasPrefix(e.Error(), tt.message) {
					t.Errorf("message %q, want %q", e.Error(), tt.message)
				}
			})
		}
	}
}

func TestNotFoundNamesTheEndpoint(t *testing.T) {
	var got seen
	c := testServer(t, &got, answer{status: 404, contentType: "text/plain", body: "404 page not found"})
	_, err := c.Preload(context.Background(), []string{"a"}, nil)
	want := "the node answered 404 Not Found to POST /shoal/v1/preload: is it a shoal node that has this endpoint?"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestLongErrorBodyIsCut(t *testing.T) {
	var got seen
	c := testServer(t, &got, answer{status: 500, contentType: "text/plain", body: strings.Repeat("x", 10_000)})
	err := c.Ready(context.Background())
	if err == nil || len(err.Error()) > maxErrorText+100 || !strings.HasSuffix(err.Error(), "…") {
		t.Fatalf("err = %.200v… (%d bytes)", err, len(err.Error()))
	}
}

func TestSendErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	c, err := New(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %#v, want a *url.Error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Scan(ctx, "a", false); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, err := c.Report(context.Background(), ""); err == nil {
		t.Fatal("Report of no digest succeeded")
	}
}

func TestBadAnswer(t *testing.T) {
	var got seen
	c := testServer(t, &got, answer{contentType: "text/html", body: "<html>"})
	_, err := c.DB(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "reading the node's answer: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestShortCallsAreBounded(t *testing.T) {
	ctx, cancel := short(context.Background())
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > shortCallTimeout {
		t.Fatalf("deadline %v, %v", d, ok)
	}
	parent, cancelParent := context.WithTimeout(context.Background(), time.Hour)
	defer cancelParent()
	ctx, cancel = short(parent)
	defer cancel()
	if ctx != parent {
		t.Fatal("a deadline the caller set was replaced")
	}
}

func TestParseBaseURL(t *testing.T) {
	for _, tt := range []struct {
		in, want, reason string
	}{
		{in: "http://127.0.0.1:5000", want: "http://127.0.0.1:5000"},
		{in: "https://shoal.example/", want: "https://shoal.example"},
		{in: "http://user:pw@[::1]:5000", want: "http://user:pw@[::1]:5000"},
		{in: "127.0.0.1:5000", reason: "it has no scheme"},
		{in: "localhost:5000", reason: "it has no scheme"},
		{in: "", reason: "it has no scheme"},
		{in: "ftp://host", reason: "the scheme is ftp, not http or https"},
		{in: "http://", reason: "it has no host"},
		{in: "http:///v2", reason: "it has no host"},
		{in: "http://host/v2", reason: "it has the path /v2; give only the scheme and host"},
		{in: "http://host/shoal/", reason: "it has the path /shoal;"},
		{in: "http://host?x=1", reason: "it has a query"},
		{in: "http://host/?", reason: "it has a query"},
		{in: "http://host#top", reason: "it has a fragment"},
		{in: "http://host:port", reason: `invalid port ":port"`},
		{in: "http://a b", reason: "invalid character"},
	} {
		u, err := ParseBaseURL(tt.in)
		if tt.reason == "" {
			if err != nil || u.String() != tt.want {
				t.Errorf("ParseBaseURL(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
			}
			continue
		}
		var be *BaseURLError
		if !errors.As(err, &be) || be.URL != tt.in || !strings.HasPrefix(be.Reason, tt.reason) {
			t.Errorf("ParseBaseURL(%q) = %v, %v; want a *BaseURLError %q", tt.in, u, err, tt.reason)
			continue
		}
		if strings.Contains(err.Error(), "--") {
			t.Errorf("%q: the message names a flag: %v", tt.in, err)
		}
		if _, err := New(tt.in, nil); !errors.As(err, &be) {
			t.Errorf("New(%q) = %v, want a *BaseURLError", tt.in, err)
		}
	}
}

func TestNewHTTPClient(t *testing.T) {
	c, err := New("http://127.0.0.1:5000", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.hc == http.DefaultClient || c.hc.Transport == nil || c.hc.Transport == http.DefaultTransport {
		t.Fatal("a nil *http.Client must give the package's own client")
	}
	if c.hc.Timeout != 0 {
		t.Fatal("a whole-exchange timeout would cut long imports")
	}
	own := &http.Client{}
	if c, _ := New("http://127.0.0.1:5000", own); c.hc != own {
		t.Fatal("the given *http.Client is not used")
	}
	u := c.BaseURL()
	u.Host = "elsewhere"
	if c.BaseURL().Host != "127.0.0.1:5000" {
		t.Fatal("BaseURL shares the client's URL")
	}
}

func TestImageStreamLineJSON(t *testing.T) {
	for _, tt := range []struct {
		line  string
		final bool
	}{
		{`{"blob":"sha256:1","bytes":1,"total":2}`, false},
		{`{"warning":"w"}`, false},
		{`{"ref":"a","digest":"sha256:1"}`, false},
		{`{"ref":"a","error":"e"}`, false},
		{`{"imported":[{"repo":"a","tag":"","digest":"sha256:1"}]}`, true},
		{`{"preloaded":[{"ref":"a","repo":"a","digest":"sha256:1"}],"error":"1 of 2 refs failed"}`, true},
		{`{"error":"e"}`, true},
	} {
		var l ImageStreamLine
		if err := json.Unmarshal([]byte(tt.line), &l); err != nil {
			t.Fatal(err)
		}
		if l.Final() != tt.final {
			t.Errorf("%s: Final() = %v", tt.line, l.Final())
		}
		if b, _ := json.Marshal(l); string(b) != tt.line {
			t.Errorf("%s re-encodes as %s", tt.line, b)
		}
	}
}
