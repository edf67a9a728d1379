package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// countingProxy is the upstream as the nodes see it: a reverse proxy in
// front of docker-registry that counts the response-body bytes it relays.
// Unlike fleetbench's, it has no aggregate cap: a real registry is not the
// bottleneck, each node's own link is.
type countingProxy struct {
	Addr  string
	srv   *http.Server
	bytes atomic.Int64
}

func startCountingProxy(target, host string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	p := &countingProxy{Addr: l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true, ResponseHeaderTimeout: time.Minute}
	rp.ModifyResponse = func(resp *http.Response) error {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &p.bytes}
		return nil
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

func (p *countingProxy) URL() string  { return "http://" + p.Addr }
func (p *countingProxy) Bytes() int64 { return p.bytes.Load() }

func (p *countingProxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	b.n.Add(int64(n))
	return n, err
}
