package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// PieceSize is the unit in which the fleet checks a blob as it arrives
// and fetches it from several peers at once (p2p.PieceSize is the same).
// The store keeps each blob's piece digests beside it, computed as the
// blob is written, so a node offering a blob to its peers need not read
// it all again before its first byte.
const PieceSize = 1 << 20

// pieceHasher digests what is written to it in PieceSize pieces.
type pieceHasher struct {
	h      hash.Hash
	inCur  int64
	pieces []digest.Digest

	// checked, when set, is the fetch's source vouching for the piece
	// being written (CheckedPieces): a piece it checked against its
	// digest before handing out a byte of it is not hashed again.
	checked CheckedPieces
	// vouched is the digest the source named for the current piece, ""
	// while the piece is hashed here.
	vouched digest.Digest
	// broken: the source stopped vouching for a piece part way (it
	// switched to another source in the middle of it). The blob is then
	// kept without piece digests, which a node computes when a peer
	// first asks (p2p), rather than with a digest its bytes may not have.
	broken bool
}

// CheckedPieces is a Source's body that checks each piece of the blob
// against a digest before handing out any of its bytes (a download from
// peers), so the store need not hash the pieces a second time.
// CheckedPiece says whether the bytes of piece i of pieceSize bytes
// that the body is handing out, or has just handed out whole, were
// checked, and against which digest. The store asks as the piece begins
// and again once it has it whole, and keeps the digest only if both
// answers agree. The blob's own digest is checked by the store as ever.
type CheckedPieces interface {
	CheckedPiece(i int, pieceSize int64) (digest.Digest, bool)
}

func newPieceHasher() *pieceHasher { return &pieceHasher{h: sha256.New()} }

// piecesOnWrite is a pieceHasher when the store hashes pieces on write,
// else nil (whose methods do nothing).
func (s *Store) piecesOnWrite() *pieceHasher {
	if s.opts.PiecesOnWrite != nil && s.opts.PiecesOnWrite() {
		return newPieceHasher()
	}
	return nil
}

func (p *pieceHasher) Write(b []byte) (int, error) {
	n := len(b)
	if p == nil {
		return n, nil
	}
	if p.broken {
		return n, nil
	}
	for len(b) > 0 {
		if p.inCur == 0 && p.checked != nil {
			p.vouched, _ = p.checked.CheckedPiece(len(p.pieces), PieceSize)
		}
		take := min(int64(len(b)), PieceSize-p.inCur)
		if p.vouched == "" {
			p.h.Write(b[:take])
		}
		p.inCur += take
		b = b[take:]
		if p.inCur == PieceSize {
			p.cut()
		}
	}
	return n, nil
}

func (p *pieceHasher) cut() {
	if p.vouched != "" {
		if d, ok := p.checked.CheckedPiece(len(p.pieces), PieceSize); !ok || d != p.vouched {
			p.broken, p.pieces = true, nil
			return
		}
		p.pieces = append(p.pieces, p.vouched)
		p.vouched = ""
	} else {
		p.pieces = append(p.pieces, digest.NewDigest(digest.SHA256, p.h))
		p.h.Reset()
	}
	p.inCur = 0
}

// Sum is the piece digests of everything written: the last piece may be
// short; an empty blob has none.
func (p *pieceHasher) Sum() []digest.Digest {
	if p == nil {
		return nil
	}
	if p.inCur > 0 && !p.broken {
		p.cut()
	}
	return p.pieces
}

// encodePieces packs piece digests as their raw sha256 sums.
func encodePieces(pieces []digest.Digest) ([]byte, error) {
	out := make([]byte, 0, len(pieces)*sha256.Size)
	for _, p := range pieces {
		raw, err := hex.DecodeString(p.Encoded())
		if err != nil || len(raw) != sha256.Size || p.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("cache: piece digest %q is not sha256", p)
		}
		out = append(out, raw...)
	}
	return out, nil
}

func decodePieces(b []byte) ([]digest.Digest, error) {
	if len(b)%sha256.Size != 0 {
		return nil, errors.New("cache: corrupt piece list")
	}
	out := make([]digest.Digest, 0, len(b)/sha256.Size)
	for i := 0; i < len(b); i += sha256.Size {
		out = append(out, digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(b[i:i+sha256.Size])))
	}
	return out, nil
}

// piecesFor is how many pieces a blob of size bytes has.
func piecesFor(size int64) int { return int((size + PieceSize - 1) / PieceSize) }

// Pieces returns the piece digests of the stored blob d. They were
// computed as it was written; a blob stored before they were kept (or
// through a path that does not hash in pieces) is read once and its list
// kept from then on.
func (s *Store) Pieces(d digest.Digest) ([]digest.Digest, error) {
	size, err := s.StatBlob(d)
	if err != nil {
		return nil, err
	}
	var raw []byte
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key(kindPieces, string(d)))
		if err != nil {
			return err
		}
		raw, err = item.ValueCopy(nil)
		return err
	})
	if err == nil {
		if pieces, derr := decodePieces(raw); derr == nil && len(pieces) == piecesFor(size) {
			return pieces, nil
		}
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return nil, err
	}
	r, err := s.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	ph := newPieceHasher()
	if _, err := io.Copy(ph, io.LimitReader(r.Content, r.Size)); err != nil {
		return nil, err
	}
	pieces := ph.Sum()
	s.keepPieces(d, pieces)
	return pieces, nil
}

// keepPieces records the piece list of a stored blob; losing it only
// costs a re-read later.
func (s *Store) keepPieces(d digest.Digest, pieces []digest.Digest) {
	enc, err := encodePieces(pieces)
	if err != nil {
		return
	}
	s.meta.Lock()
	defer s.meta.Unlock()
	if _, err := s.StatBlob(d); err != nil {
		return // evicted meanwhile
	}
	if _, err := s.update(func(mt *metaTxn) error { return mt.txn.Set(key(kindPieces, string(d)), enc) }); err != nil {
		s.log.Debug("cache: keeping piece digests", "digest", d, "err", err)
	}
}

// piecesToo is a hash that also feeds what it is written to a
// pieceHasher, for the paths that hash through a hash.Hash.
type piecesToo struct {
	hash.Hash
	ph *pieceHasher
}

func (p piecesToo) Write(b []byte) (int, error) {
	p.ph.Write(b)
	return p.Hash.Write(b)
}
