package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// meteredProxy is the upstream as the fleet sees it: a reverse proxy in
// front of docker-registry that counts every response-body byte it
// relays and caps their combined rate with one token bucket for all
// connections, like a site's shared uplink.
type meteredProxy struct {
	Addr   string
	srv    *http.Server
	bucket *tokenBucket
	ctx    context.Context
	cancel context.CancelFunc

	bytes     atomic.Int64 // response-body bytes relayed
	blobBytes atomic.Int64 // of which blob GETs
	blobGets  atomic.Int64
}

// chunk is the largest read relayed at once, so the cap is smooth.
const chunk = 32 << 10

func startMeteredProxy(target string, bytesPerSec float64) (*meteredProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &meteredProxy{Addr: l.Addr().String(), bucket: newTokenBucket(bytesPerSec, 256<<10), ctx: ctx, cancel: cancel}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true, ResponseHeaderTimeout: time.Minute}
	rp.ModifyResponse = func(resp *http.Response) error {
		blob := resp.Request.Method == http.MethodGet && strings.Contains(resp.Request.URL.Path, "/blobs/")
		if blob {
			p.blobGets.Add(1)
		}
		resp.Body = &meteredBody{ReadCloser: resp.Body, p: p, blob: blob}
		return nil
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

func (p *meteredProxy) URL() string { return "http://" + p.Addr }

// Bytes is every response-body byte relayed so far.
func (p *meteredProxy) Bytes() int64 { return p.bytes.Load() }

func (p *meteredProxy) Close() {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
}

type meteredBody struct {
	io.ReadCloser
	p    *meteredProxy
	blob bool
}

func (b *meteredBody) Read(buf []byte) (int, error) {
	if len(buf) > chunk {
		buf = buf[:chunk]
	}
	n, err := b.ReadCloser.Read(buf)
	if n > 0 {
		b.p.bytes.Add(int64(n))
		if b.blob {
			b.p.blobBytes.Add(int64(n))
		}
		if werr := b.p.bucket.wait(b.p.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}
