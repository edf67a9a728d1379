package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/p2p"
)

// findTimeout bounds the DHT lookup for a blob's holders; past it the
// node goes on as if no peer had it.
const findTimeout = 2 * time.Second

// fleetContent is what this node offers its peers: what it holds, what
// it is fetching, and, as the designated fetcher of a blob, upstream
// fetches on the fleet's behalf.
type fleetContent struct{ n *Node }

func (c fleetContent) Open(ctx context.Context, from peer.ID, d digest.Digest, rule, repo string) (*p2p.Served, error) {
	n := c.n
	if br, err := n.store.OpenBlob(d); err == nil {
		return &p2p.Served{Size: br.Size, Content: br.Content, Complete: true, Close: br.Close}, nil
	}
	// Without a rule a peer asks only for what this node holds. (Starting
	// a store fetch whose source fails at once would let a local client
	// of the same blob join it, and fail, in that instant.)
	if rule == "" || !n.hasRule(rule) {
		return nil, p2p.ErrNotFound
	}
	if err := n.upstreamAllowed(rule); err != nil {
		return nil, fmt.Errorf("%w: %w", p2p.ErrDenied, err)
	}
	r := mirror(rule, repo)
	n.log.Debug("fetching for a peer as the designated fetcher", "peer", from, "digest", d, "repository", r.key)
	br, err := n.store.Fetch(ctx, d, n.upstreamSource(r, d, 0))
	if err != nil {
		return nil, err
	}
	return &p2p.Served{Size: br.Size, Content: br.Content, Complete: br.Complete(), Close: br.Close}, nil
}

func (c fleetContent) Tag(ctx context.Context, from peer.ID, rule, repo, tag string) (digest.Digest, error) {
	key := repo
	switch {
	case rule == "" && c.n.store.IsLocal(repo):
		// A local repository pushed or imported here.
	case rule != "" && c.n.hasRule(rule):
		key = mirror(rule, repo).key
	default:
		return "", p2p.ErrNotFound
	}
	d, _, err := c.n.store.Tag(key, tag)
	if err != nil {
		return "", p2p.ErrNotFound
	}
	return d, nil
}

// fleetReader reads a blob from peers and, if they all fail part way,
// carries on from upstream at the byte where they stopped. The store
// checks the whole digest as it writes the blob and tells the reader its
// verdict (Verified), so the peers that sent a wrong blob are penalised
// without hashing every byte a second time.
type fleetReader struct {
	// ctx is the store's fetch context: it ends when the fetch idles out
	// or the store closes, and must end an upstream fallback too.
	ctx context.Context
	n   *Node
	r   repository
	d   digest.Digest
	dl  *p2p.Download
	off int64

	mu     sync.Mutex    // guards cur and closed against Close
	cur    io.ReadCloser // dl, or upstream after a fallback
	closed bool
}

// Verified is the store's verdict on the whole blob.
func (f *fleetReader) Verified(ok bool) {
	if ok {
		return
	}
	for _, p := range f.dl.Sources() {
		f.n.p2p.Penalise(p, fmt.Sprintf("blob %s did not match its digest", f.d))
	}
}

func (f *fleetReader) Read(p []byte) (int, error) {
	f.mu.Lock()
	cur := f.cur
	f.mu.Unlock()
	n, err := cur.Read(p)
	f.off += int64(n)
	fromPeers := cur == io.ReadCloser(f.dl)
	if fromPeers {
		f.n.metrics.fetchedBytes.WithLabelValues("peer").Add(float64(n))
	}
	switch {
	case err == io.EOF:
		return n, io.EOF
	case err != nil && fromPeers && f.r.mirrored() && f.ctx.Err() == nil:
		f.n.log.Info("peers failed part way; resuming from upstream", "digest", f.d, "offset", f.off, "err", err)
		f.dl.Close()
		body, _, uerr := f.n.upstreamSource(f.r, f.d, f.off)(f.ctx)
		if uerr != nil {
			return n, fmt.Errorf("peers failed at byte %d (%v) and upstream too: %w", f.off, err, uerr)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.closed {
			body.Close()
			return n, net.ErrClosed
		}
		f.cur = body
		return n, nil
	}
	return n, err
}

func (f *fleetReader) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.dl.Close()
	if f.cur != io.ReadCloser(f.dl) {
		return f.cur.Close()
	}
	return nil
}

// blobSource is where a missing blob of r comes from: the fleet first,
// then upstream.
func (n *Node) blobSource(r repository, d digest.Digest) func(ctx context.Context) (io.ReadCloser, int64, error) {
	return func(ctx context.Context) (io.ReadCloser, int64, error) {
		if n.p2p != nil {
			dl, err := n.p2p.Fetch(ctx, d, r.rule, r.path, findTimeout)
			if err == nil {
				n.log.Debug("fetching blob from peers", "digest", d, "size", dl.Size)
				return &fleetReader{ctx: ctx, n: n, r: r, d: d, dl: dl, cur: dl}, dl.Size, nil
			}
			if !errors.Is(err, p2p.ErrNoPeer) {
				n.log.Debug("no peer could supply the blob", "digest", d, "err", err)
			}
		}
		if !r.mirrored() {
			return nil, 0, errNoSource
		}
		return n.upstreamSource(r, d, 0)(ctx)
	}
}

var errNoSource = errors.New("no peer holds the blob and it has no upstream")

// upstreamSource opens blob d of r at upstream from byte offset on,
// counting what arrives.
func (n *Node) upstreamSource(r repository, d digest.Digest, offset int64) func(ctx context.Context) (io.ReadCloser, int64, error) {
	return func(ctx context.Context) (io.ReadCloser, int64, error) {
		if err := n.upstreamAllowed(r.rule); err != nil {
			return nil, 0, err
		}
		body, size, err := n.upstream.BlobFrom(ctx, r.rule, r.path, d, offset)
		if err != nil {
			return nil, 0, err
		}
		n.log.Debug("fetching blob from upstream", "repository", r.key, "digest", d, "size", size, "offset", offset)
		return countingReader{body, n.metrics.fetchedBytes.WithLabelValues("upstream")}, size, nil
	}
}

// dnsPeers finds peers through a DNS name whose addresses are nodes (a
// Kubernetes headless Service): each address is asked for its status,
// which names its peer ID and p2p addresses.
func (n *Node) dnsPeers(name string) func(ctx context.Context) ([]peer.AddrInfo, error) {
	_, port, err := net.SplitHostPort(n.cfg.Listen)
	if err != nil || port == "" {
		port = "5000"
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		// The peer ID learnt here is checked by libp2p's handshake, so
		// the status document need not be trusted.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec
	}
	scheme := n.URLScheme()
	return func(ctx context.Context) ([]peer.AddrInfo, error) {
		ips, err := net.DefaultResolver.LookupHost(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", name, err)
		}
		var (
			mu    sync.Mutex
			found []peer.AddrInfo
			wg    sync.WaitGroup
		)
		for _, ip := range ips {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ai, err := peerStatus(ctx, client, scheme+"://"+net.JoinHostPort(ip, port)+"/shoal/v1/status")
				if err != nil {
					n.log.Debug("asking a discovered node for its peer ID", "ip", ip, "err", err)
					return
				}
				mu.Lock()
				found = append(found, ai...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return found, nil
	}
}

func peerStatus(ctx context.Context, client *http.Client, url string) ([]peer.AddrInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return nil, err
	}
	var out []peer.AddrInfo
	for _, a := range st.P2PAddrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		if ai, err := peer.AddrInfoFromP2pAddr(m); err == nil {
			out = append(out, *ai)
		}
	}
	return out, nil
}
