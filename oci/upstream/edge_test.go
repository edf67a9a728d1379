package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/repository"
)

func TestUnavailable(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int // per attempt on the manifest path; the last repeats
		retryAfter   string
		pingStatus   int
		wantAttempts int64
		wantStatus   int
		wantRetry    time.Duration
		wantOK       bool
	}{
		{name: "503 always", statuses: []int{503}, wantAttempts: 3, wantStatus: 503},
		{name: "502 then 200", statuses: []int{502, 200}, wantAttempts: 2, wantOK: true},
		{name: "429 short Retry-After retried", statuses: []int{429, 200}, retryAfter: "0", wantAttempts: 2, wantOK: true},
		{name: "429 long Retry-After not waited for", statuses: []int{429}, retryAfter: "120", wantAttempts: 1, wantStatus: 429, wantRetry: 120 * time.Second},
		{name: "ping 503", statuses: []int{200}, pingStatus: 503, wantAttempts: 0, wantStatus: 503},
	}
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					w.WriteHeader(max(tt.pingStatus, 200))
					return
				}
				n := attempts.Add(1)
				st := tt.statuses[min(int(n)-1, len(tt.statuses)-1)]
				if st != 200 {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.WriteHeader(st)
					fmt.Fprintf(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Write(body)
			}))
			defer srv.Close()
			c := newTestClient(t, Options{Rules: []Rule{ruleFor(t, "u", srv)}})
			_, _, _, err := c.Manifest(context.Background(), repository.Name{Rule: "u", Path: "library/app"}, "v1")
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ue *UnavailableError
			if !errors.As(err, &ue) || !IsUnavailable(err) {
				t.Fatalf("err = %v, want *UnavailableError", err)
			}
			if ue.Status != tt.wantStatus || ue.RetryAfter != tt.wantRetry || ue.Rule != "u" {
				t.Errorf("UnavailableError = %+v, want status %d retry %s", ue, tt.wantStatus, tt.wantRetry)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	rule := ruleFor(t, "gone", srv)
	srv.Close() // the listener is closed: connections are refused

	c := newTestClient(t, Options{Rules: []Rule{rule}})
	ctx := context.Background()
	gone := repository.Name{Rule: "gone", Path: "r"}
	calls := map[string]func() error{
		"Resolve":  func() error { _, err := c.Resolve(ctx, gone, "t"); return err },
		"Manifest": func() error { _, _, _, err := c.Manifest(ctx, gone, "t"); return err },
		"StatBlob": func() error { _, err := c.StatBlob(ctx, gone, digest.FromString("x")); return err },
		"Blob":     func() error { _, _, err := c.Blob(ctx, gone, digest.FromString("x")); return err },
		"Tags":     func() error { _, err := c.Tags(ctx, gone); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !IsUnavailable(err) {
				t.Errorf("err = %v, want unavailable", err)
			}
		})
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Resolve(cctx, gone, "t"); !errors.Is(err, context.Canceled) || IsUnavailable(err) {
		t.Errorf("cancelled Resolve = %v, want context.Canceled and not unavailable", err)
	}
}

func TestResolveHeadFallback(t *testing.T) {
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	tests := []struct {
		name              string
		headDigest        bool
		headStatus        int
		wantHEAD, wantGET int64
	}{
		{"HEAD with digest", true, 200, 1, 0},
		{"HEAD without digest", false, 200, 1, 1},
		{"HEAD not allowed", true, 405, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var heads, gets atomic.Int64
			var accept atomic.Value
			srv := httptest.NewServer(pingOK(func(w http.ResponseWriter, r *http.Request) {
				accept.Store(r.Header.Get("Accept"))
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				if r.Method == http.MethodHead {
					heads.Add(1)
					if tt.headStatus != 200 {
						w.WriteHeader(tt.headStatus)
						return
					}
					if tt.headDigest {
						w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
					}
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					return
				}
				gets.Add(1)
				w.Write(body)
			}))
			defer srv.Close()
			c := newTestClient(t, Options{Rules: []Rule{ruleFor(t, "u", srv)}})
			got, err := c.Resolve(context.Background(), repository.Name{Rule: "u", Path: "library/app"}, "latest")
			if err != nil {
				t.Fatal(err)
			}
			want := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(body), Size: int64(len(body))}
			if got.MediaType != want.MediaType || got.Digest != want.Digest || got.Size != want.Size {
				t.Errorf("Resolve = %+v, want %+v", got, want)
			}
			if heads.Load() != tt.wantHEAD || gets.Load() != tt.wantGET {
				t.Errorf("HEAD %d GET %d, want %d %d", heads.Load(), gets.Load(), tt.wantHEAD, tt.wantGET)
			}
			a, _ := accept.Load().(string)
			for _, mt := range []string{ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, mediaTypeDockerList, mediaTypeDockerManifest} {
				if !strings.Contains(a, mt) {
					t.Errorf("Accept %q lacks %s", a, mt)
				}
			}
			if !strings.HasSuffix(a, "*/*") {
				t.Errorf("Accept %q does not end with */*", a)
			}
		})
	}
}

func TestManifestVerification(t *testing.T) {
	good := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	bad := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x":1}`)
	huge := []byte(`{"schemaVersion":2,"x":"` + strings.Repeat("a", maxManifestBytes) + `"}`)
	tests := []struct {
		name        string
		ref         string
		body        []byte
		header      string // Docker-Content-Digest
		contentType string
		wantDigest  digest.Digest
		wantType    string
		wantErr     bool
	}{
		{name: "digest ok", ref: digest.FromBytes(good).String(), body: good, wantDigest: digest.FromBytes(good), wantType: ocispec.MediaTypeImageManifest},
		{name: "sha512 ok", ref: digest.SHA512.FromBytes(good).String(), body: good, wantDigest: digest.SHA512.FromBytes(good), wantType: ocispec.MediaTypeImageManifest},
		{name: "digest mismatch", ref: digest.FromBytes(good).String(), body: bad, wantErr: true},
		{name: "tag ok", ref: "v1", body: good, header: digest.FromBytes(good).String(), wantDigest: digest.FromBytes(good), wantType: ocispec.MediaTypeImageManifest},
		{name: "tag without header", ref: "v1", body: good, wantDigest: digest.FromBytes(good), wantType: ocispec.MediaTypeImageManifest},
		{name: "tag header sha512", ref: "v1", body: good, header: digest.SHA512.FromBytes(good).String(), wantDigest: digest.FromBytes(good), wantType: ocispec.MediaTypeImageManifest},
		{name: "tag header mismatch", ref: "v1", body: bad, header: digest.FromBytes(good).String(), wantErr: true},
		{name: "too big", ref: "v1", body: huge, wantErr: true},
		{name: "type from header", ref: "v1", body: []byte(`{"schemaVersion":2}`), contentType: mediaTypeDockerManifest + "; charset=utf-8", wantDigest: digest.FromString(`{"schemaVersion":2}`), wantType: mediaTypeDockerManifest},
		{name: "no type anywhere", ref: "v1", body: []byte(`{"schemaVersion":2}`), contentType: "application/json", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(pingOK(func(w http.ResponseWriter, r *http.Request) {
				ct := tt.contentType
				if ct == "" {
					ct = ocispec.MediaTypeImageManifest
				}
				w.Header().Set("Content-Type", ct)
				if tt.header != "" {
					w.Header().Set("Docker-Content-Digest", tt.header)
				}
				w.Write(tt.body)
			}))
			defer srv.Close()
			c := newTestClient(t, Options{Rules: []Rule{ruleFor(t, "u", srv)}})
			mt, body, d, err := c.Manifest(context.Background(), repository.Name{Rule: "u", Path: "library/app"}, tt.ref)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				if IsUnavailable(err) || errors.Is(err, ErrNotFound) {
					t.Errorf("err = %v, classified as unavailable or not found", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d != tt.wantDigest || mt != tt.wantType || string(body) != string(tt.body) {
				t.Errorf("Manifest = %s %s, want %s %s", mt, d, tt.wantType, tt.wantDigest)
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	srv := httptest.NewServer(pingOK(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":[{"code":"DENIED","message":"no pulls for you"}]}`)
	}))
	defer srv.Close()
	c := newTestClient(t, Options{Rules: []Rule{ruleFor(t, "u", srv)}})
	_, err := c.Tags(context.Background(), repository.Name{Rule: "u", Path: "library/app"})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 403 || se.Code != "DENIED" || se.Message != "no pulls for you" {
		t.Errorf("err = %v, want 403 DENIED StatusError", err)
	}
}

func TestTagsPagination(t *testing.T) {
	tests := []struct {
		name    string
		link    func(srvURL string, page int) string // Link for page, "" for none
		pages   int
		want    string
		wantErr bool
	}{
		{
			name:  "relative links",
			pages: 3,
			link: func(_ string, p int) string {
				return fmt.Sprintf(`</v2/library/app/tags/list?last=t%d&n=2>; rel="next"`, p)
			},
			want: "t0a,t0b,t1a,t1b,t2a,t2b",
		},
		{
			name:  "absolute link among others",
			pages: 2,
			link: func(u string, p int) string {
				return fmt.Sprintf(`<%s/prev>; rel="prev", <%s/v2/library/app/tags/list?last=t%d>; rel="next"`, u, u, p)
			},
			want: "t0a,t0b,t1a,t1b",
		},
		{
			name:    "link to another host",
			pages:   2,
			link:    func(string, int) string { return `<http://elsewhere.invalid/v2/x/tags/list>; rel="next"` },
			wantErr: true,
		},
		{
			name:    "endless",
			pages:   1 << 20,
			link:    func(_ string, p int) string { return fmt.Sprintf(`</v2/library/app/tags/list?last=%d>; rel="next"`, p) },
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int64
			var srv *httptest.Server
			srv = httptest.NewServer(pingOK(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				page := 0
				if last := r.URL.Query().Get("last"); last != "" {
					fmt.Sscanf(strings.TrimPrefix(last, "t"), "%d", &page)
					page++
				}
				if page+1 < tt.pages {
					w.Header().Set("Link", tt.link(srv.URL, page))
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"name":"library/app","tags":["t%[1]db","t%[1]da"]}`, page)
			}))
			defer srv.Close()
			c := newTestClient(t, Options{Rules: []Rule{ruleFor(t, "u", srv)}})
			tags, err := c.Tags(context.Background(), repository.Name{Rule: "u", Path: "library/app"})
			if requests.Load() > maxPages {
				t.Errorf("%d page requests, over the bound %d", requests.Load(), maxPages)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %v", tags)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(tags, ","); got != tt.want {
				t.Errorf("Tags = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestReferrersNotFound(t *testing.T) {
	srv := httptest.NewServer(pingOK(http.NotFound))
	defer srv.Close()
	c := newTestClient(t, Options{Rules: []Rule{ruleFor(t, "u", srv)}})
	if _, err := c.Referrers(context.Background(), repository.Name{Rule: "u", Path: "library/app"}, digest.FromString("x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

func TestNewValidates(t *testing.T) {
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tests := []struct {
		name    string
		rules   []Rule
		wantErr bool
	}{
		{"ok", []Rule{{Name: "docker.io", URL: mustURL("https://registry-1.docker.io")}, {Name: "local", URL: mustURL("http://127.0.0.1:5000/")}}, false},
		{"no name", []Rule{{URL: mustURL("https://r.example")}}, true},
		{"duplicate", []Rule{{Name: "a", URL: mustURL("https://r.example")}, {Name: "a", URL: mustURL("https://s.example")}}, true},
		{"no URL", []Rule{{Name: "a"}}, true},
		{"ftp", []Rule{{Name: "a", URL: mustURL("ftp://r.example")}}, true},
		{"path", []Rule{{Name: "a", URL: mustURL("https://r.example/prefix")}}, true},
		{"userinfo", []Rule{{Name: "a", URL: mustURL("https://u:p@r.example")}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Options{Rules: tt.rules})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := c.Rules(); len(got) != len(tt.rules) || got[0].Name != tt.rules[0].Name {
				t.Errorf("Rules = %+v", got)
			}
			r, ok := c.Rule(tt.rules[0].Name)
			if !ok || r.URL.Host != tt.rules[0].URL.Host {
				t.Errorf("Rule = %+v, %v", r, ok)
			}
			r.URL.Host = "changed.example" // a copy: the client's rule is unchanged
			if r2, _ := c.Rule(tt.rules[0].Name); r2.URL.Host != tt.rules[0].URL.Host {
				t.Error("Rule returned a shared URL")
			}
			if _, ok := c.Rule("nope"); ok {
				t.Error("Rule(nope) found something")
			}
		})
	}
}

func TestHTTPSUpstream(t *testing.T) {
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	var plain atomic.Int64
	srv := httptest.NewTLSServer(pingOK(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			plain.Add(1)
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	}))
	defer srv.Close()
	c := newTestClient(t, Options{Rules: []Rule{ruleFor(t, "tls", srv)}, Transport: srv.Client().Transport, UserAgent: "shoal-test"})
	d, err := c.Resolve(context.Background(), repository.Name{Rule: "tls", Path: "library/app"}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Digest != digest.FromBytes(body) {
		t.Errorf("digest %s", d.Digest)
	}
	if plain.Load() != 0 {
		t.Errorf("%d plain-http requests to an https upstream", plain.Load())
	}
	// A plain-http request to the https rule's host is refused outright.
	guard := &httpsOnly{host: strings.TrimPrefix(srv.URL, "https://"), inner: srv.Client().Transport}
	req, _ := http.NewRequest(http.MethodGet, strings.Replace(srv.URL, "https://", "http://", 1)+"/v2/", nil)
	if _, err := guard.RoundTrip(req); err == nil {
		t.Error("httpsOnly let a plain-http request through")
	}
}
