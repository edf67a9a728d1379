//go:build shoalfault

package p2p

import (
	"io"
	"os"
)

// corrupt, in builds with the shoalfault tag only, flips bits in what this
// node sends its peers when SHOAL_FAULT_CORRUPT_PEER_BYTES=1, so tests can
// show that a lying peer is caught and penalised.
func (h *Host) corrupt(r io.Reader) io.Reader {
	if os.Getenv("SHOAL_FAULT_CORRUPT_PEER_BYTES") != "1" {
		return r
	}
	return flipper{r}
}

type flipper struct{ r io.Reader }

func (f flipper) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	for i := 0; i < n; i += 4096 {
		p[i] ^= 0xff
	}
	return n, err
}
