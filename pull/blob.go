package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/repository"
)

// StatBlob sizes blob d of repo. A local repository pushed here answers
// for the blobs linked into it.
func (p *Puller) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	if p.Remote(repo) {
		return p.remoteStatBlob(ctx, repo, d)
	}
	if !p.cfg.Store.BlobLinked(repo.Key(), d) {
		return 0, blobUnknown(d)
	}
	size, err := p.cfg.Store.StatBlob(d)
	return size, storeErr(err, blobUnknown(d))
}

// Blob opens blob d of repo: from the store, or streamed from peers or
// upstream while the store writes and verifies it. Concurrent requests
// share one transfer.
func (p *Puller) Blob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error) {
	if p.Remote(repo) {
		return p.remoteBlob(ctx, repo, d)
	}
	if !p.cfg.Store.BlobLinked(repo.Key(), d) {
		return nil, blobUnknown(d)
	}
	b, err := p.cfg.Store.OpenBlob(d)
	return b, storeErr(err, blobUnknown(d))
}

// remoteStatBlob sizes a blob this node may not hold.
func (p *Puller) remoteStatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	// The bytes are the same whichever repository brought a blob in, but
	// a repository only shows the blobs it holds.
	held, err := p.scope(ctx, repo, d)
	if err != nil {
		return 0, err
	}
	if held {
		if size, err := p.cfg.Store.StatBlob(d); err == nil {
			return size, nil
		}
	}
	// A denied upstream is skipped: peers may still hold the blob.
	if repo.Mirrored() && p.cfg.UpstreamAllowed(repo.Rule) == nil {
		size, err := p.cfg.Upstream.StatBlob(ctx, repo, d)
		if err == nil || !upstream.IsUnavailable(err) {
			return size, upstreamErr(err, blobUnknown(d))
		}
	}
	// Upstream down, or a local repository: a peer may hold it.
	if p.cfg.Peers != nil {
		if dl, err := p.cfg.Peers.Fetch(ctx, d, holdersOf(repo), FindTimeout, p.tagPeers.of(repo)); err == nil {
			dl.Close()
			return dl.Size(), nil
		}
	}
	return 0, blobUnknown(d)
}

func (p *Puller) remoteBlob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error) {
	held, err := p.scope(ctx, repo, d)
	if err != nil {
		return nil, err
	}
	if held {
		if b, err := p.cfg.Store.OpenBlob(d); err == nil {
			return b, nil
		}
	}
	b, _, err := p.fetchFor(ctx, repo, d, held, p.blobSource(repo, d))
	if err != nil {
		if errors.Is(err, errNoSource) {
			return nil, blobUnknown(d)
		}
		return nil, upstreamErr(err, blobUnknown(d))
	}
	return b, nil
}

var errNoSource = errors.New("no peer holds the blob and it has no upstream")

// holdersOf names repo to peers so that only those whose repo holds the
// content answer, none fetching it from upstream for this node: the same
// key, without the rule that would make the designated peer fetch.
func holdersOf(repo repository.Name) repository.Name { return repository.Local(repo.Key()) }

// scope says whether repo holds blob d here (Store.Holds), asking when d
// is stored for something else: held or an error for a stored blob, and
// for a blob not stored false, nil — it may then come only from repo's
// own sources (fetchFor), never from the store or a transfer another
// request started.
// Without it any blob in the store could be read, or probed with HEAD,
// through any repository name a caller may pull.
func (p *Puller) scope(ctx context.Context, repo repository.Name, d digest.Digest) (held bool, err error) {
	if p.cfg.Store.Holds(repo.Key(), d) {
		return true, nil
	}
	if _, err := p.cfg.Store.StatBlob(d); err != nil {
		return false, nil
	}
	if err := p.confirm(ctx, repo, d); err != nil {
		return false, err
	}
	return true, nil
}

// confirm asks the source repo's blobs come from whether repo holds d,
// under repo's name — a mirrored repository's upstream (with that
// repository's credentials), for a local repository another node holds
// the peers whose repository of that name holds it — and remembers a yes
// as a link.
func (p *Puller) confirm(ctx context.Context, repo repository.Name, d digest.Digest) error {
	if !repo.Mirrored() {
		if p.cfg.Peers == nil {
			return blobUnknown(d)
		}
		dl, err := p.cfg.Peers.Fetch(ctx, d, holdersOf(repo), FindTimeout, p.tagPeers.of(repo))
		if err != nil {
			return blobUnknown(d)
		}
		dl.Close()
		p.remember(repo, d)
		return nil
	}
	if p.cfg.UpstreamAllowed(repo.Rule) != nil {
		return blobUnknown(d)
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	if _, err := p.cfg.Upstream.StatBlob(ctx, repo, d); err != nil {
		return upstreamErr(err, blobUnknown(d))
	}
	p.remember(repo, d)
	return nil
}

// fetchFor reads blob d for repo through the store, filling it from src,
// repo's own source. The store serves a blob it holds and shares one
// transfer among everyone asking for a digest: unless repo is known to
// hold d, what src did not fill is confirmed with repo's source first.
//
// A store that cannot write passes the blob through from src instead
// (passthrough.go): checked on the way, not stored, and not shared.
func (p *Puller) fetchFor(ctx context.Context, repo repository.Name, d digest.Digest, held bool, src BlobSource) (*oci.Blob, bool, error) {
	var filled atomic.Bool
	b, complete, err := p.cfg.Store.Fetch(ctx, d, func(ctx context.Context) (io.ReadCloser, int64, error) {
		filled.Store(true)
		return src(ctx)
	})
	if errors.Is(err, ErrCannotStore) {
		b, err := p.passThrough(ctx, d, src)
		return b, false, err
	}
	if err != nil || held || filled.Load() {
		return b, complete, err
	}
	if err := p.confirm(ctx, repo, d); err != nil {
		b.Close()
		return nil, false, err
	}
	return b, complete, nil
}

// remember links the stored blob d into repo, whose source confirmed
// that repo holds it.
func (p *Puller) remember(repo repository.Name, d digest.Digest) {
	if err := p.cfg.Store.LinkBlob(repo.Key(), d); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCannotStore) {
		p.log.Warn("remembering that a repository holds a blob", "repository", repo, "digest", d, "err", err)
	}
}

// blobSource is where a missing blob of repo comes from: the fleet
// first, then upstream.
func (p *Puller) blobSource(repo repository.Name, d digest.Digest) BlobSource {
	return func(ctx context.Context) (io.ReadCloser, int64, error) {
		if p.cfg.Peers != nil {
			dl, err := p.cfg.Peers.Fetch(ctx, d, repo, FindTimeout, p.tagPeers.of(repo))
			if err == nil {
				p.log.Debug("fetching blob from peers", "digest", d, "size", dl.Size())
				return &fleetReader{ctx: ctx, p: p, repo: repo, d: d, dl: dl, cur: dl}, dl.Size(), nil
			}
			if !errors.Is(err, ErrNotFound) {
				p.log.Debug("no peer could supply the blob", "digest", d, "err", err)
			}
		}
		if !repo.Mirrored() {
			return nil, 0, errNoSource
		}
		return p.upstreamSource(repo, d, 0, true)(ctx)
	}
}

// upstreamSource opens blob d of repo at upstream from byte offset on,
// counting what arrives. bringsIn says this node fetches the blob for
// the fleet (no peer could supply it, or it is the designated fetcher),
// not only for itself after its peers failed part way (Downlink).
func (p *Puller) upstreamSource(repo repository.Name, d digest.Digest, offset int64, bringsIn bool) BlobSource {
	return func(ctx context.Context) (io.ReadCloser, int64, error) {
		failed := func(err error) (io.ReadCloser, int64, error) {
			if bringsIn && p.cfg.Downlink != nil {
				p.cfg.Downlink.BringInFailed(d)
			}
			return nil, 0, err
		}
		if err := p.cfg.UpstreamAllowed(repo.Rule); err != nil {
			return failed(err)
		}
		body, size, err := p.cfg.Upstream.BlobFrom(ctx, repo, d, offset)
		if err != nil {
			return failed(err)
		}
		p.log.Debug("fetching blob from upstream", "repository", repo, "digest", d, "size", size, "offset", offset)
		counted := countingReader{body, p.metrics, "upstream"}
		var r io.ReadCloser = counted
		if p.cfg.Downlink != nil {
			sent, end := p.cfg.Downlink.UpstreamStream(d, bringsIn)
			r = downlinkReader{counted, sent, end}
		}
		return confirmedBody{r, repo.Key()}, size, nil
	}
}

// confirmedBody is a blob's body from the upstream of repo, the
// repository it names (Confirmed).
type confirmedBody struct {
	io.ReadCloser
	repo string
}

func (b confirmedBody) ConfirmedIn() string { return b.repo }

// countingReader counts the bytes read through it as fetched from
// source.
type countingReader struct {
	io.ReadCloser
	m      *metrics
	source string
}

func (r countingReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.m.fetched(r.source, n)
	return n, err
}

// fleetReader reads a blob from peers and, if they all fail part way,
// carries on from upstream at the byte where they stopped. The store
// checks the whole digest as it writes the blob and tells the reader its
// verdict (Verified), so the peers that sent a wrong blob are penalised
// without hashing every byte a second time.
type fleetReader struct {
	// ctx is the store's fetch context: it ends when the fetch idles out
	// or the store closes, and must end an upstream fallback too.
	ctx  context.Context
	p    *Puller
	repo repository.Name
	d    digest.Digest
	dl   Download
	off  int64

	mu     sync.Mutex    // guards cur and closed against Close
	cur    io.ReadCloser // dl, or upstream after a fallback
	closed bool
}

var (
	_ Verifier      = (*fleetReader)(nil)
	_ CheckedPieces = (*fleetReader)(nil)
)

// CheckedPiece passes on the peers' word for a piece they sent, which
// the download checked; not for bytes from upstream after a fallback,
// nor for a piece the fallback began in the middle of.
func (f *fleetReader) CheckedPiece(i int, pieceSize int64) (digest.Digest, bool) {
	f.mu.Lock()
	fromPeers := f.cur == io.ReadCloser(f.dl)
	f.mu.Unlock()
	c, ok := f.dl.(CheckedPieces)
	if !fromPeers || !ok {
		return "", false
	}
	return c.CheckedPiece(i, pieceSize)
}

// Verified is the store's verdict on the whole blob.
func (f *fleetReader) Verified(ok bool) {
	if !ok {
		f.dl.Blame(fmt.Sprintf("blob %s did not match its digest", f.d))
	}
}

func (f *fleetReader) Read(b []byte) (int, error) {
	f.mu.Lock()
	cur := f.cur
	f.mu.Unlock()
	n, err := cur.Read(b)
	f.off += int64(n)
	fromPeers := cur == io.ReadCloser(f.dl)
	if fromPeers {
		f.p.metrics.fetched("peer", n)
	}
	switch {
	case err == io.EOF:
		return n, io.EOF
	case err != nil && fromPeers && f.repo.Mirrored() && f.ctx.Err() == nil:
		f.p.log.Info("peers failed part way; resuming from upstream", "digest", f.d, "offset", f.off, "err", err)
		f.dl.Close()
		body, _, uerr := f.p.upstreamSource(f.repo, f.d, f.off, false)(f.ctx)
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
