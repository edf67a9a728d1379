package p2p

import (
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// An upload slot is held until the asker has nearly all of the body, not
// until the holder's last write returns. The write returns once the
// bytes are in yamux's window, the socket's send buffer and the link's
// queue: at 4 Mbit/s that is a second or more of a piece still to go, and
// a slot freed then starts another piece beside it, so both crawl and
// the store-and-forward hop of every piece grows. In the simulation
// (bench/cmd/swarmsim -sendbuf, 4 Mbit/s, 64 MiB in 4 layers, 3 seeds)
// a slot freed with 256 KiB still to go gave 1.178x, 1.239x and 1.289x
// one pull at 10, 20 and 50 nodes; 512 KiB gave 1.36x at 20; 128 KiB
// gave 1.146x, 1.206x and 1.260x.
//
// The signal is the asker's half-close: it closes its side of the
// stream when at most ackBefore bytes of the body are left to read, and
// the holder, its body written, waits for that (awaitAck) before it
// gives its slot back. A node of an earlier release closes its side
// right after the request, so its holder does not wait; a holder of an
// earlier release never reads it.

// ackBefore is how much of a body is left when the asker half-closes.
// It leaves the holder's next stream time to start before the link
// idles, with room for the half-close to wait behind the asker's own
// uploads on its way back (the simulation's best, 64 KiB, has no such
// queue).
const ackBefore = 128 << 10

// ackWait bounds how long a holder keeps a slot for an asker that has
// not half-closed once the body is written: about 2.5 s of queued bytes
// at 4 Mbit/s, the most a node's send buffers hold there.
const ackWait = 5 * time.Second

// awaitAck waits, at most d, for the asker to half-close s (or to send
// anything, or to reset it: each means it is done with the body).
func awaitAck(s network.Stream, d time.Duration) {
	if err := s.SetReadDeadline(time.Now().Add(d)); err != nil {
		return
	}
	var b [1]byte
	_, _ = s.Read(b[:])
}

// ackingReader half-closes its stream once at most ackBefore bytes of
// the body are left.
type ackingReader struct {
	r    *exactReader
	once sync.Once
	ack  func() error
}

func newAckingReader(r *exactReader, s network.Stream) *ackingReader {
	a := &ackingReader{r: r, ack: s.CloseWrite}
	a.check()
	return a
}

func (a *ackingReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	a.check()
	return n, err
}

func (a *ackingReader) check() {
	if a.r.left <= ackBefore {
		a.once.Do(func() { _ = a.ack() })
	}
}

var _ io.Reader = (*ackingReader)(nil)
