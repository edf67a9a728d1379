package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
)

// fleetPeers is the p2p host as the pull path's Peers.
type fleetPeers struct{ h *p2p.Host }

func peersErr(err error) error {
	if errors.Is(err, p2p.ErrNoPeer) || errors.Is(err, p2p.ErrNotFound) {
		return fmt.Errorf("%w: %w", pull.ErrNotFound, err)
	}
	return err
}

func (f fleetPeers) Fetch(ctx context.Context, d digest.Digest, repo repository.Name, find time.Duration, known []string) (pull.Download, error) {
	var ids []peer.ID
	for _, k := range known {
		// A peer ID pull was told by this same host; one that does not
		// parse is skipped, the DHT's holders are asked all the same.
		if id, err := peer.Decode(k); err == nil {
			ids = append(ids, id)
		}
	}
	dl, err := f.h.Fetch(ctx, d, repo, find, ids)
	if err != nil {
		return nil, peersErr(err)
	}
	return download{dl, f.h, d}, nil
}

func (f fleetPeers) Tag(ctx context.Context, repo repository.Name, tag string, timeout time.Duration) (pull.PeerTag, error) {
	a, err := f.h.Tag(ctx, repo, tag, timeout)
	if errors.Is(err, p2p.ErrOwnerHasNoTag) {
		return pull.PeerTag{}, fmt.Errorf("%w: %w", pull.ErrOwnerHasNoTag, err)
	}
	if err != nil {
		return pull.PeerTag{}, peersErr(err)
	}
	return pull.PeerTag{Digest: a.Digest, Peer: a.Peer.String(), Secondhand: a.Cached}, nil
}

// download is a p2p download as a pull.Download.
type download struct {
	*p2p.Download
	h *p2p.Host
	d digest.Digest
}

func (d download) Size() int64       { return d.Download.Size }
func (d download) MediaType() string { return d.Download.MediaType }
func (d download) Blame(why string) {
	for _, p := range d.Sources() {
		d.h.Penalise(p, why)
	}
}

// peerContent is what this node offers its peers (p2p.Content): the
// pull path's ForPeer and TagForPeer.
type peerContent struct{ n *Node }

func (c peerContent) Open(ctx context.Context, from peer.ID, d digest.Digest, repo repository.Name) (*p2p.Served, error) {
	b, complete, err := c.n.puller.ForPeer(ctx, d, repo, c.n.hasRule)
	switch {
	case errors.Is(err, pull.ErrNotFound):
		return nil, p2p.ErrNotFound
	case errors.Is(err, pull.ErrDenied):
		return nil, fmt.Errorf("%w: %w", p2p.ErrDenied, err)
	case errors.Is(err, pull.ErrHandedOff):
		return nil, p2p.ErrHandedOff
	case err != nil:
		return nil, err
	}
	served := &p2p.Served{Size: b.Size, Content: b.Content, Complete: complete, Close: b.Close}
	if complete {
		// Kept with the blob since it was written: no read before the
		// first byte.
		served.Pieces, _ = c.n.store.Pieces(d)
		served.Have = b.Size
	} else if pr, ok := c.n.store.Progress(d); ok {
		// Still arriving: what this node can pass on now, and the piece
		// digests of what it has, for a peer to check pieces against.
		served.Have, served.Pieces = pr.Have, pr.Pieces
		served.Complete = pr.Complete
	}
	return served, nil
}

func (c peerContent) Tag(ctx context.Context, from peer.ID, repo repository.Name, tag string, acceptCached bool) (digest.Digest, bool, error) {
	d, cached, err := c.n.puller.TagForPeer(repo, tag, c.n.hasRule, acceptCached)
	if errors.Is(err, pull.ErrOwnerHasNoTag) {
		return "", false, p2p.ErrOwnerHasNoTag
	}
	if err != nil {
		return "", false, p2p.ErrNotFound
	}
	return d, cached, nil
}
