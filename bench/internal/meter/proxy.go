// Package meter is the upstream as a benchmark's fleet sees it: a
// reverse proxy in front of docker-registry that counts every
// response-body byte it relays and, when given a rate, caps them all
// together with one token bucket, like a site's shared uplink.
package meter

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// Proxy relays to one upstream, counting and optionally capping.
type Proxy struct {
	Addr   string
	srv    *http.Server
	bucket *tokenBucket
	ctx    context.Context
	cancel context.CancelFunc
	bytes  atomic.Int64 // response-body bytes relayed
}

// chunk is the largest read relayed at once, so the cap is smooth.
const chunk = 32 << 10

// Start listens on host (an address of this machine) and relays to
// target, capping all responses together at bytesPerSec (<= 0: no cap).
func Start(target, host string, bytesPerSec float64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	// The responses go to capped containers: with the congestion
	// control they run (harness.CongestionControl says why), not the
	// host's. Accepted connections take the listener's.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		cc := harness.CongestionControl()
		if cc == "" {
			return nil
		}
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setting %s congestion control: %w", cc, serr)
		}
		return nil
	}}
	l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{Addr: l.Addr().String(), bucket: newTokenBucket(bytesPerSec, 256<<10), ctx: ctx, cancel: cancel}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true, ResponseHeaderTimeout: time.Minute}
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Body = &body{ReadCloser: resp.Body, p: p}
		return nil
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.Addr }

// Bytes is every response-body byte relayed so far.
func (p *Proxy) Bytes() int64 { return p.bytes.Load() }

// WaitQuiet waits until the proxy has relayed nothing for a second (a
// fetch started on a fleet's behalf may outlive the pulls), at most 30 s.
func (p *Proxy) WaitQuiet(ctx context.Context) {
	deadline := time.Now().Add(30 * time.Second)
	last := p.Bytes()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
		now := p.Bytes()
		if now == last {
			return
		}
		last = now
	}
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
}

type body struct {
	io.ReadCloser
	p *Proxy
}

func (b *body) Read(buf []byte) (int, error) {
	if len(buf) > chunk {
		buf = buf[:chunk]
	}
	n, err := b.ReadCloser.Read(buf)
	if n > 0 {
		b.p.bytes.Add(int64(n))
		if werr := b.p.bucket.wait(b.p.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
