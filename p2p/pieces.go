package p2p

import (
	"container/list"
	"crypto/sha256"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
)

// PieceSize is the unit in which blobs are checked as they arrive and
// fetched from several peers at once (cache.PieceSize is the same). A
// node passes a piece on only once it has checked it, so each hop of a
// blob through the fleet costs one piece's time: 1 MiB is 0.2 s at
// 40 Mbit/s, where 4 MiB cost 0.8 s a hop.
const PieceSize = 1 << 20

// pieceCache remembers the piece digests of blobs this node served
// recently, so that a popular blob is hashed once, not once per peer.
type pieceCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of digest.Digest, most recent first
	items map[digest.Digest]*list.Element
	value map[digest.Digest][]digest.Digest
}

func newPieceCache(max int) *pieceCache {
	return &pieceCache{max: max, order: list.New(), items: map[digest.Digest]*list.Element{}, value: map[digest.Digest][]digest.Digest{}}
}

// of returns the piece digests of blob d, whose content is r. It leaves
// r's offset anywhere.
func (c *pieceCache) of(d digest.Digest, r io.ReadSeeker, size int64) ([]digest.Digest, error) {
	c.mu.Lock()
	if e, ok := c.items[d]; ok {
		c.order.MoveToFront(e)
		p := c.value[d]
		c.mu.Unlock()
		return p, nil
	}
	c.mu.Unlock()
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	pieces, err := hashPieces(io.LimitReader(r, size), size)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[d]; !ok {
		c.items[d] = c.order.PushFront(d)
		c.value[d] = pieces
		for c.order.Len() > c.max {
			old := c.order.Remove(c.order.Back()).(digest.Digest)
			delete(c.items, old)
			delete(c.value, old)
		}
	}
	return pieces, nil
}

// hashPieces digests r in PieceSize pieces.
func hashPieces(r io.Reader, size int64) ([]digest.Digest, error) {
	pieces := make([]digest.Digest, 0, (size+PieceSize-1)/PieceSize)
	h := sha256.New()
	for read := int64(0); read < size; {
		h.Reset()
		n, err := io.CopyN(h, r, min(PieceSize, size-read))
		if err != nil {
			return nil, err
		}
		read += n
		pieces = append(pieces, digest.NewDigest(digest.SHA256, h))
	}
	return pieces, nil
}

// pieceBuf is a PieceSize buffer from the host's pool: a fetch from
// several peers holds a few pieces at a time, and reusing their buffers
// keeps a node's heap from growing with the bytes it moves.
func (h *Host) pieceBuf() []byte {
	if b, ok := h.piecePool.Get().(*[]byte); ok {
		return (*b)[:PieceSize]
	}
	return make([]byte, PieceSize)
}

func (h *Host) putPieceBuf(b []byte) {
	if cap(b) < PieceSize {
		return
	}
	b = b[:PieceSize]
	h.piecePool.Put(&b)
}
