package cache

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Progress is how much of a blob the store can hand out now.
type Progress struct {
	// Size is the blob's whole size; -1 while a fetch of unknown length
	// runs.
	Size int64
	// Have is how many leading bytes a reader gets without waiting:
	// Size for a stored blob. A fetch writes in order, so what a node
	// holds of a blob is always a prefix.
	Have int64
	// Pieces are the PieceSize piece digests of the first whole pieces
	// (all of them for a stored blob), when the store keeps them.
	Pieces []digest.Digest
	// Complete says the blob is stored and verified.
	Complete bool
}

// Progress reports what the store holds of blob d, stored or still being
// fetched; ok is false when it has none of it.
func (s *Store) Progress(d digest.Digest) (p Progress, ok bool) {
	s.mu.Lock()
	bi, f := s.blobs[d], s.inflight[d]
	s.mu.Unlock()
	if bi != nil {
		pieces, _ := s.Pieces(d)
		return Progress{Size: bi.size, Have: bi.size, Pieces: pieces, Complete: true}, true
	}
	if f == nil {
		return Progress{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Progress{}, false
	}
	return Progress{Size: f.size, Have: f.releasable(), Pieces: f.pieces}, true
}

// Follow opens blob d if the store holds it or is fetching it, without
// starting a fetch: it answers ErrNotFound otherwise. A peer asking for a
// blob this node is itself still receiving reads it as it arrives, which
// is what lets a fleet pass a blob on instead of all asking one node.
func (s *Store) Follow(ctx context.Context, d digest.Digest) (*Reader, error) {
	if validDigest(d) != nil {
		return nil, ErrNotFound
	}
	return s.fetchOrFollow(ctx, d, nil)
}
