//go:build shoalfault

package p2p

import (
	"io"
	"os"
)

// corrupt, in builds with the shoalfault tag only, flips bits in what this
// node sends its peers when SHOAL_FAULT_CORRUPT_PEER_BYTES=1, or only in
// the pieces of blobs larger than one piece it sends swarm askers
// (piece) when SHOAL_FAULT_CORRUPT_PEER_PIECES=1, so tests can show that
// a lying peer is caught and penalised. The second keeps a node honest
// about small blobs, relayed whole or as a swarm's single piece, so that
// a test of lying pieces is not cut short by a penalty for a lying config
// before any piece of the layer moves (seen in CI, both ways).
func (h *Host) corrupt(r io.Reader, piece bool) io.Reader {
	if os.Getenv("SHOAL_FAULT_CORRUPT_PEER_BYTES") == "1" || (piece && os.Getenv("SHOAL_FAULT_CORRUPT_PEER_PIECES") == "1") {
		return flipper{r}
	}
	return r
}

type flipper struct{ r io.Reader }

func (f flipper) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	for i := 0; i < n; i += 4096 {
		p[i] ^= 0xff
	}
	return n, err
}
