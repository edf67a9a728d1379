package p2p

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/swarm"
)

// inbound is a piece on its way into this node from a peer, which the
// node serves on to other askers while it arrives (cut-through). A node
// that passed a piece on only once it held it whole paid a whole piece's
// time per hop: on 4 Mbit/s links that is 2 s, the first copies of a
// blob spread one hop per 2 s, and a rollout of a one-layer image at 50
// nodes took 2.26x the time of 50 direct pulls in the simulation (1.37x
// with cut-through; bench/RESULTS.md).
//
// What is served on is never a piece the node has not checked: every
// byte but the last goes as it arrives, and the last only once the
// node's own check of the whole piece has passed (settle). A piece that
// fails its check, or whose request fails or is called off, breaks the
// streams serving it on before their last byte, so their askers see a
// failed request, not a wrong piece: they count it against this node as
// a failed request (a backoff), never as a lie, and ask another peer.
//
// The bytes arrive in the request's piece buffer, which goes on to the
// reader and back to the pool; relays read a copy (tee), made when the
// first attaches and kept up by the writer, so that nothing reads the
// buffer once it has been handed on.
type inbound struct {
	mu   sync.Mutex
	buf  []byte // the request's buffer; nil once settled
	n    int    // bytes arrived
	size int
	tee  []byte // the relays' copy of buf[:n]; nil until one attaches
	// relays reading tee; the last to close gives it back to the pool.
	relays int
	state  inboundState
	// change is closed, and replaced, at every change readers wait on.
	change chan struct{}
	pool   func([]byte)
}

type inboundState uint8

const (
	inArrival inboundState = iota
	checkedWhole
	broken
)

// errInboundBroken is a relayed piece's end when this node's own copy
// failed: the asker's request fails and it asks another peer.
var errInboundBroken = errors.New("p2p: piece relayed while arriving did not arrive whole and checked")

func newInbound(buf []byte, pool func([]byte)) *inbound {
	return &inbound{buf: buf, size: len(buf), change: make(chan struct{}), pool: pool}
}

// arrived records that buf[:n] has arrived.
func (g *inbound) arrived(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != inArrival || n <= g.n {
		return
	}
	if g.tee != nil {
		copy(g.tee[g.n:n], g.buf[g.n:n])
	}
	g.n = n
	g.changed()
}

// settle ends the piece's arrival: checked whole and passed on (ok), or
// not. After it the buffer is never read here again, so its owner may
// hand it on or give it back.
func (g *inbound) settle(ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != inArrival {
		return
	}
	g.buf = nil
	g.state = broken
	if ok && g.n == g.size {
		g.state = checkedWhole
	}
	if g.tee != nil && g.relays == 0 {
		g.pool(g.tee)
		g.tee = nil
	}
	g.changed()
}

// flowing says whether the piece is arriving and its first bytes have:
// it is then one the node tells the swarm it holds.
func (g *inbound) flowing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state == inArrival && g.n > 0
}

func (g *inbound) changed() {
	close(g.change)
	g.change = make(chan struct{})
}

// relay is a reader of the piece for an asker, or nil if it can no
// longer be had here. checked, if the piece breaks, is asked for a
// checked copy from elsewhere in the node (another request's for the
// same piece may have won), which the reader then goes on from; put
// gives that copy back.
func (g *inbound) relay(ctx context.Context, tee func() []byte, checked func() []byte, put func([]byte)) *relayReader {
	g.mu.Lock()
	defer g.mu.Unlock()
	// Nothing arrived yet is nothing to pass on, and a relay attached
	// to it could be one of two nodes each relaying the other's empty
	// copy (a stale advertisement) until both time out.
	if g.state != inArrival || g.n == 0 {
		return nil
	}
	if g.tee == nil {
		g.tee = tee()[:g.size]
		copy(g.tee, g.buf[:g.n])
	}
	g.relays++
	return &relayReader{g: g, ctx: ctx, checked: checked, put: put}
}

// relayReader reads an inbound piece as it arrives, holding its last
// byte back until the piece is checked.
type relayReader struct {
	g   *inbound
	ctx context.Context
	off int
	// closed makes Close idempotent.
	closed bool
	// checked and put find a checked copy when the arrival breaks
	// (relay); whole is that copy.
	checked func() []byte
	put     func([]byte)
	whole   []byte
}

// Read returns the bytes arrived beyond what it has returned. It waits
// up to swarm.PieceTimeout for more: the asker bounds the silence of a
// piece request so, and so does the node's own request.
func (r *relayReader) Read(p []byte) (int, error) {
	g := r.g
	for {
		if r.whole != nil {
			if r.off >= len(r.whole) {
				return 0, io.EOF
			}
			k := copy(p, r.whole[r.off:])
			r.off += k
			return k, nil
		}
		g.mu.Lock()
		limit := g.n
		if g.state != checkedWhole {
			limit = min(limit, g.size-1)
		}
		switch {
		case r.off < limit && g.state != broken:
			k := copy(p, g.tee[r.off:limit])
			r.off += k
			g.mu.Unlock()
			return k, nil
		case g.state == broken:
			g.mu.Unlock()
			// Another request's copy may have won: going on from it
			// is right only if what was sent so far is its start
			// (a copy that broke for not matching was not).
			if r.checked != nil {
				if b := r.checked(); b != nil {
					g.mu.Lock()
					same := bytes.Equal(g.tee[:r.off], b[:r.off])
					g.mu.Unlock()
					if same {
						r.whole = b
						continue
					}
					r.put(b)
				}
			}
			return 0, errInboundBroken
		case r.off >= g.size:
			g.mu.Unlock()
			return 0, io.EOF
		}
		change := g.change
		g.mu.Unlock()
		t := time.NewTimer(swarm.PieceTimeout)
		select {
		case <-change:
			t.Stop()
		case <-t.C:
			return 0, errInboundBroken
		case <-r.ctx.Done():
			t.Stop()
			return 0, r.ctx.Err()
		}
	}
}

// Close ends the relay; the last one gives the copy back to the pool
// once the piece has settled.
func (r *relayReader) Close() error {
	if r.whole != nil {
		r.put(r.whole)
		r.whole = nil
	}
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	g.relays--
	if g.relays == 0 && g.state != inArrival && g.tee != nil {
		g.pool(g.tee)
		g.tee = nil
	}
	return nil
}
