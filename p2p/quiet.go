package p2p

import (
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// A piece transfer is bounded by its silence, not its length
// (swarm.PieceTimeout). A node fetching eight layers at once on a slow
// link receives each piece at an eighth of the link: at 4 Mbit/s a
// 1 MiB piece then takes 17 s, and a bound on the whole piece failed
// every one of them, over and over, until the fetches stalled and went
// upstream (bench/cmd/swarmsim: 8 layers at 4 Mbit/s, 10 nodes, 1.89
// upstream copies and 2.23x one pull). A peer that is gone or has
// stopped reading still shows within one PieceTimeout.

// quietReader resets t to d on every read that brings bytes: t's
// function (the request's cancel) runs only once d passes with none.
type quietReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (q quietReader) Read(b []byte) (int, error) {
	n, err := q.r.Read(b)
	if n > 0 {
		q.t.Reset(q.d)
	}
	return n, err
}

// quietWriter writes to s in chunks, each with a deadline of d from its
// start: a write fails once the asker has taken nothing for d.
type quietWriter struct {
	s network.Stream
	d time.Duration
}

// quietChunk is the most a quietWriter writes under one deadline.
const quietChunk = 64 << 10

func (w quietWriter) Write(b []byte) (int, error) {
	var n int
	for len(b) > 0 {
		if err := w.s.SetWriteDeadline(time.Now().Add(w.d)); err != nil {
			return n, err
		}
		m, err := w.s.Write(b[:min(len(b), quietChunk)])
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}
