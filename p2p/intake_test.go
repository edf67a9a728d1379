package p2p

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/opencontainers/go-digest"
)

// Every piece request waits for the node's intake, a fetch's first
// (nothing else out) too, unless that fetch's reader starves: a node
// fetching four layers on a link with room for two had four pieces in
// flight at half their holders' rate (swarm.NewIntake, bench/RESULTS.md).
func TestIntakeAdmitsFirstRequestsOnlyWithRoom(t *testing.T) {
	tests := []struct {
		name     string
		out      int // requests already out, nothing measured yet
		first    bool
		starving bool
		want     bool
	}{
		{"room left", 1, true, false, true},
		{"full, first request", 2, true, false, false},
		{"full, later request", 2, false, false, false},
		{"full, first request of a starving fetch", 2, true, true, true},
		{"full, later request of a starving fetch", 2, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFleet(t, 1)[0].h
			// The intake has measured nothing: it admits its minimum.
			for range tt.out {
				if !h.admitIntake(time.Now(), true, false) {
					t.Fatalf("request %d of the intake's minimum refused", h.intake.active()+1)
				}
			}
			if got := h.admitIntake(time.Now(), tt.first, tt.starving); got != tt.want {
				t.Fatalf("admitted %v, want %v (%d out)", got, tt.want, tt.out)
			}
			want := tt.out
			if tt.want {
				want++
			}
			if n := h.intake.active(); n != want {
				t.Fatalf("%d requests counted, want %d", n, want)
			}
		})
	}
}

// heldBackPiece serves a one-piece blob from a new fleet's first node
// to its second, which fetches it once before (if not nil) has run on
// it: the piece request is answered after wait, send writes what goes
// before the test's say-so and says how much, and the rest goes once
// release is called. It returns once send has written, with the asker,
// release, and done, which releases and checks that the fetch ends with
// the blob.
func heldBackPiece(t *testing.T, before func(asker *testPeer), wait time.Duration, send func(s network.Stream, part []byte) int) (asker *testPeer, release, done func()) {
	t.Helper()
	fleet := newFleet(t, 2)
	source := fleet[0]
	asker = fleet[1]
	const size = PieceSize
	blob := randomBytes(t, size)
	d := digest.FromBytes(blob)
	released, sent := make(chan struct{}), make(chan struct{}, 1)
	answerAs(source, func(s network.Stream, req Request) {
		resp := Response{Size: size, PieceSize: PieceSize, Have: size}
		if req.Status || req.Length == 0 {
			resp.Pieces = []digest.Digest{d}
			_ = writeHeader(s, resp)
			return
		}
		time.Sleep(wait)
		if writeHeader(s, resp) != nil {
			return
		}
		part := blob[req.Offset : req.Offset+req.Length]
		n := send(s, part)
		sent <- struct{}{}
		select {
		case <-released:
		case <-time.After(20 * time.Second):
		}
		_, _ = s.Write(part[n:])
	})
	if before != nil {
		before(asker)
	}
	dl := fetchFrom(t, asker, d, source)
	got := make(chan []byte, 1)
	go func() { got <- readAll(t, dl) }()
	select {
	case <-sent:
	case <-time.After(20 * time.Second):
		t.Fatal("the piece was never asked for")
	}
	release = sync.OnceFunc(func() { close(released) })
	t.Cleanup(release)
	return asker, release, func() {
		t.Helper()
		release()
		select {
		case b := <-got:
			if !bytes.Equal(b, blob) {
				t.Fatalf("read %d bytes, not the blob", len(b))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the fetch did not end once the rest came")
		}
	}
}

// A piece request gives its intake room back while its last bytes come
// in (swarm.AskAhead), so that the next request's answer comes as it
// ends: here the holder answers after 100 ms, sends half the piece, and
// 150 ms later all of the rest but its last KiB, which it holds back;
// the room must be free while the request is still open.
func TestPieceRequestAsksAhead(t *testing.T) {
	asker, release, done := heldBackPiece(t, nil, 100*time.Millisecond, func(s network.Stream, part []byte) int {
		_, _ = s.Write(part[:len(part)/2])
		time.Sleep(150 * time.Millisecond)
		_, _ = s.Write(part[len(part)/2 : len(part)-1024])
		return len(part) - 1024
	})
	// Well within swarm.PieceTimeout, after which the request would be
	// given up and its room given back anyway.
	deadline := time.Now().Add(5 * time.Second)
	for asker.h.intake.active() != 0 {
		if time.Now().After(deadline) {
			release()
			t.Fatalf("the piece's last KiB is held back and its request still holds the intake (%d out)", asker.h.intake.active())
		}
		time.Sleep(5 * time.Millisecond)
	}
	done()
	if n := asker.h.intake.active(); n != 0 {
		t.Fatalf("%d requests still counted in the intake after the fetch", n)
	}
}

// Bytes queued behind an answer's header come in one read, and judged on
// those the stream looked hundreds of times faster than it was: a
// request whose answer took 150 ms gave its room back a few milliseconds
// after the header, seconds before its end (found in review). Here the
// holder answers after 150 ms with 32 KiB and then sends nothing until
// the test says so, on a link measured at about 500 KB/s (a piece in
// 2 s, so that the slow-link bound, AskAheadPieceMax, does not decide):
// the request must keep its room.
func TestBurstBehindTheHeaderKeepsTheIntake(t *testing.T) {
	measured := func(asker *testPeer) {
		asker.h.intake.take()
		for range 15 {
			time.Sleep(20 * time.Millisecond)
			asker.h.intake.sent(40_000)
		}
		asker.h.intake.release()
		if r := asker.h.intake.rate(); r < 200_000 {
			t.Fatalf("the intake measures %.0f B/s, want about 500,000", r)
		}
	}
	asker, release, done := heldBackPiece(t, measured, 150*time.Millisecond, func(s network.Stream, part []byte) int {
		_, _ = s.Write(part[:32<<10])
		return 32 << 10
	})
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if n := asker.h.intake.active(); n != 1 {
			release()
			t.Fatalf("with 32 KiB of the piece in, the request gave its intake room back (%d out)", n)
		}
	}
	done()
}
