package harness

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy is a reverse proxy on loopback that sits between a node and its
// upstream, counting requests per method and path and optionally slowing
// response bodies down.
type Proxy struct {
	Addr string
	srv  *http.Server

	mu     sync.Mutex
	counts map[string]int

	// bytesPerSec, when positive, limits each response body to about
	// that rate (SetRate). It is atomic: a test lifts the limit while
	// the proxy may still be answering a request of a node it killed,
	// and a plain field raced there (go test -race, CI).
	bytesPerSec atomic.Int64

	corruptMu sync.Mutex
	corrupt   map[string]bool
}

// Corrupt makes GET responses for path (e.g. "/v2/x/blobs/sha256:…") carry
// one flipped byte, or stops doing so when on is false.
func (p *Proxy) Corrupt(path string, on bool) {
	p.corruptMu.Lock()
	defer p.corruptMu.Unlock()
	p.corrupt[path] = on
}

// StartProxy proxies 127.0.0.1:<free port> to target (e.g. http://127.0.0.1:5000).
func StartProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: l.Addr().String(), counts: map[string]int{}, corrupt: map[string]bool{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		p.corruptMu.Lock()
		bad := p.corrupt[resp.Request.URL.Path] && resp.Request.Method == http.MethodGet
		p.corruptMu.Unlock()
		if bad {
			resp.Body = &flipBody{ReadCloser: resp.Body, at: max(resp.ContentLength/2, 0)}
		}
		if rate := p.bytesPerSec.Load(); rate > 0 {
			resp.Body = &slowBody{ReadCloser: resp.Body, rate: rate, start: time.Now()}
		}
		return nil
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.counts[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// SetRate limits each response body that starts from now on to about
// bytesPerSec (0: no limit).
func (p *Proxy) SetRate(bytesPerSec int64) { p.bytesPerSec.Store(bytesPerSec) }

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.Addr }

// Count is how many requests of method for path (e.g. "/v2/x/blobs/sha256:…") arrived.
func (p *Proxy) Count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[method+" "+path]
}

// Counts is a copy of all counts, keyed "METHOD /path".
func (p *Proxy) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		c[k] = v
	}
	return c
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		return p.srv.Close()
	}
	return nil
}

type slowBody struct {
	io.ReadCloser
	rate  int64
	start time.Time
	n     int64
}

func (s *slowBody) Read(b []byte) (int, error) {
	if len(b) > 64<<10 {
		b = b[:64<<10]
	}
	n, err := s.ReadCloser.Read(b)
	s.n += int64(n)
	due := s.start.Add(time.Duration(float64(s.n) / float64(s.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
	return n, err
}

// flipBody inverts the byte at offset at.
type flipBody struct {
	io.ReadCloser
	at, n int64
}

func (f *flipBody) Read(b []byte) (int, error) {
	n, err := f.ReadCloser.Read(b)
	if f.at >= f.n && f.at < f.n+int64(n) {
		b[f.at-f.n] ^= 0xff
	}
	f.n += int64(n)
	return n, err
}
