package p2p

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/opencontainers/go-digest"
)

// An inbound piece read by relays as it arrives: every byte but the last
// goes at once, the last only once the piece is checked; a piece that
// breaks ends every relay with an error, unless a checked copy of the
// same bytes is there to go on from.
func TestInboundRelay(t *testing.T) {
	piece := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	other := bytes.Clone(piece)
	other[len(other)-1] ^= 0xff
	tests := []struct {
		name string
		// settle ends the arrival after all bytes have come.
		ok bool
		// checked is the copy found when it breaks (nil: none).
		checked []byte
		want    []byte // what the relay reads in all
		wantErr bool
	}{
		{name: "checked", ok: true, want: piece},
		{name: "broken", ok: false, want: piece[:len(piece)-1], wantErr: true},
		{name: "broken, another copy checked", ok: false, checked: piece, want: piece},
		{name: "broken, a checked copy that differs before the break", ok: false, checked: bytes.Repeat([]byte{'x'}, len(piece)), want: piece[:len(piece)-1], wantErr: true},
		{name: "broken, a checked copy that differs only after what was sent", ok: false, checked: other, want: append(bytes.Clone(piece[:len(piece)-1]), other[len(other)-1])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			pooled := 0
			pool := func([]byte) { mu.Lock(); pooled++; mu.Unlock() }
			buf := make([]byte, len(piece))
			g := newInbound(buf, pool)
			copy(buf, piece[:100])
			g.arrived(100)
			if !g.flowing() {
				t.Fatal("a piece whose first bytes arrived is not told of")
			}
			checked := func() []byte {
				if tt.checked == nil {
					return nil
				}
				return bytes.Clone(tt.checked)
			}
			r := g.relay(context.Background(), func() []byte { return make([]byte, len(piece)) }, checked, pool)
			if r == nil {
				t.Fatal("no relay of an arriving piece")
			}
			first := make([]byte, 1000)
			n, err := r.Read(first)
			if err != nil || !bytes.Equal(first[:n], piece[:100]) {
				t.Fatalf("first read: %d bytes, %v; want the 100 arrived", n, err)
			}
			got := bytes.Clone(first[:n])
			done := make(chan error, 1)
			go func() {
				rest, err := io.ReadAll(r)
				got = append(got, rest...)
				done <- err
			}()
			copy(buf[100:], piece[100:])
			g.arrived(len(piece))
			select {
			case err := <-done:
				t.Fatalf("the relay ended (%v) before the piece was checked", err)
			case <-time.After(50 * time.Millisecond):
			}
			g.settle(tt.ok)
			if g.flowing() {
				t.Fatal("a settled piece is still told of")
			}
			var err2 error
			select {
			case err2 = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the relay did not end after the piece settled")
			}
			if (err2 != nil) != tt.wantErr {
				t.Fatalf("relay ended with %v, want an error: %v", err2, tt.wantErr)
			}
			if tt.wantErr && !errors.Is(err2, errInboundBroken) {
				t.Fatalf("relay ended with %v, want errInboundBroken", err2)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("relay read %d bytes, want %d (equal: %v)", len(got), len(tt.want), bytes.Equal(got[:min(len(got), len(tt.want))], tt.want[:min(len(got), len(tt.want))]))
			}
			if g.relay(context.Background(), func() []byte { return make([]byte, len(piece)) }, checked, pool) != nil {
				t.Fatal("a settled piece was relayed again: its buffer is no longer this node's")
			}
			r.Close()
			r.Close()
			mu.Lock()
			defer mu.Unlock()
			wantPooled := 1 // the copy relays read
			if tt.checked != nil {
				wantPooled++ // the checked copy asked for
			}
			if pooled != wantPooled {
				t.Fatalf("%d buffers given back, want %d", pooled, wantPooled)
			}
		})
	}
}

// A relay waits no longer than the asker would: it ends when its context
// does.
func TestInboundRelayEndsWithItsContext(t *testing.T) {
	g := newInbound(make([]byte, 10), func([]byte) {})
	g.arrived(1)
	ctx, cancel := context.WithCancel(context.Background())
	r := g.relay(ctx, func() []byte { return make([]byte, 10) }, nil, nil)
	if n, err := r.Read(make([]byte, 10)); n != 1 || err != nil {
		t.Fatalf("first read: %d bytes, %v; want the one arrived", n, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a relay waiting for bytes did not end with its context")
	}
}

// A node still receiving a piece from a peer serves it on to an asker as
// it arrives (cut-through), and its last byte only once the whole piece
// is checked. One that turns out wrong reaches the asker as a broken
// request, never whole: the relay is not blamed for it, its sender is.
func TestRelayServesAPieceWhileItArrives(t *testing.T) {
	for _, corrupt := range []bool{false, true} {
		name := "whole"
		if corrupt {
			name = "corrupt"
		}
		t.Run(name, func(t *testing.T) {
			fleet := newFleet(t, 3)
			source, relay, asker := fleet[0], fleet[1], fleet[2]
			const size = 2 * PieceSize
			blob := randomBytes(t, size)
			d := digest.FromBytes(blob)
			list := []digest.Digest{digest.FromBytes(blob[:PieceSize]), digest.FromBytes(blob[PieceSize:])}
			release := make(chan struct{})
			answerAs(source, func(s network.Stream, req Request) {
				resp := Response{Size: size, PieceSize: PieceSize, Have: size}
				if req.Status || req.Length == 0 {
					resp.Pieces = list
					_ = writeHeader(s, resp)
					return
				}
				if writeHeader(s, resp) != nil {
					return
				}
				part := bytes.Clone(blob[req.Offset : req.Offset+req.Length])
				if req.Offset != 0 {
					_, _ = s.Write(part)
					return
				}
				// Piece 0 comes in two halves, the second once the
				// test says so.
				_, _ = s.Write(part[:PieceSize/2])
				select {
				case <-release:
				case <-time.After(20 * time.Second):
				}
				if corrupt {
					part[len(part)-1] ^= 0xff
				}
				_, _ = s.Write(part[PieceSize/2:])
			})
			// The relay holds nothing in its store: what it serves of
			// the blob can only come from its fetch.
			relay.h.ServeContent(&swarmContent{blobs: map[digest.Digest]*arriving{d: newArriving(size)}}, nil)
			dl := fetchFrom(t, relay, d, source)
			defer dl.Close()
			go func() { _, _ = io.Copy(io.Discard, dl) }()

			deadline := time.Now().Add(20 * time.Second)
			for !slices.Contains(dl.sw.extras(), 0) {
				if time.Now().After(deadline) {
					t.Fatal("the relay never told of piece 0 while it arrived")
				}
				time.Sleep(10 * time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := asker.h.Open(ctx, relay.h.ID(), Request{Digest: d, Length: PieceSize, Swarm: true})
			if err != nil {
				t.Fatalf("asking the relay for piece 0: %v", err)
			}
			defer s.Close()
			half := make([]byte, PieceSize/2)
			_ = s.s.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(s, half); err != nil {
				t.Fatalf("the relay did not pass on the half of piece 0 it had: %v", err)
			}
			if !bytes.Equal(half, blob[:PieceSize/2]) {
				t.Fatal("the relay passed on other bytes than it received")
			}
			close(release)
			rest, err := io.ReadAll(s)
			got := append(half, rest...)
			switch {
			case !corrupt && (err != nil || !bytes.Equal(got, blob[:PieceSize])):
				t.Fatalf("read %d bytes of piece 0 (%v), want it whole and right", len(got), err)
			case corrupt && len(got) >= PieceSize:
				t.Fatalf("a piece that failed the relay's check reached the asker whole (%d bytes, %v)", len(got), err)
			}
			if corrupt {
				deadline := time.Now().Add(20 * time.Second)
				for !relay.h.penalised(source.h.ID()) {
					if time.Now().After(deadline) {
						t.Fatal("the sender of the wrong piece was not penalised by the relay")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

// On a link so slow that a piece takes longer than swarm.CutThroughMax
// to come in at its measured rate, a node neither names nor serves on the
// pieces still arriving: chains of relays broke there (swarm.CutThrough).
func TestSlowLinkRelaysNothingArriving(t *testing.T) {
	tests := []struct {
		name  string
		rate  int64 // bytes a second the intake measured (0: none yet)
		relay bool
	}{
		{name: "rate not yet measured", rate: 0, relay: true},
		{name: "4 Mbit/s", rate: 500_000, relay: true},
		{name: "1 Mbit/s", rate: 125_000, relay: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newLoneHost(t)
			if tt.rate > 0 {
				t0 := time.Now()
				h.intake.mu.Lock()
				h.intake.slots.Take()
				h.intake.slots.Sent(0, t0)
				h.intake.slots.Sent(tt.rate, t0.Add(time.Second))
				h.intake.mu.Unlock()
			}
			d := digest.FromString("a blob")
			g := newInbound(make([]byte, PieceSize), func([]byte) {})
			g.arrived(100)
			sf := &swarmFetch{dl: &Download{h: h, d: d}, mem: map[int][]byte{}, inbound: map[int]*inbound{3: g}}
			h.activeMu.Lock()
			h.active[d] = sf
			h.activeMu.Unlock()
			named := slices.Contains(sf.extras(), 3)
			r := h.arrivingPiece(context.Background(), d, 3, PieceSize)
			if r != nil {
				defer r.Close()
			}
			if named != tt.relay || (r != nil) != tt.relay {
				t.Fatalf("piece named: %v, served on: %v; want both %v", named, r != nil, tt.relay)
			}
		})
	}
}

// A piece none of whose bytes has arrived is not relayed: two nodes
// could each relay the other's empty copy until both timed out.
func TestInboundRelayNeedsBytes(t *testing.T) {
	g := newInbound(make([]byte, 10), func([]byte) {})
	tee := func() []byte { return make([]byte, 10) }
	if g.relay(context.Background(), tee, nil, nil) != nil {
		t.Fatal("a piece with no byte arrived was relayed")
	}
	g.arrived(1)
	r := g.relay(context.Background(), tee, nil, nil)
	if r == nil {
		t.Fatal("a piece whose first byte arrived was not relayed")
	}
	r.Close()
}

// A fetch that fails settles the pieces still arriving: no check will
// release their last bytes, and an answer that came after its loop
// returned could otherwise sit unread, its piece named as arriving
// (found in review).
func TestFailedFetchBreaksItsArrivals(t *testing.T) {
	h := newLoneHost(t)
	g := newInbound(make([]byte, PieceSize), func([]byte) {})
	g.arrived(PieceSize)
	sf := &swarmFetch{dl: &Download{h: h}, mem: map[int][]byte{}, inbound: map[int]*inbound{1: g}}
	if !slices.Contains(sf.extras(), 1) {
		t.Fatal("an arriving piece is not named")
	}
	sf.fail(errors.New("stalled"))
	if slices.Contains(sf.extras(), 1) {
		t.Fatal("a failed fetch still names a piece arriving")
	}
	if g.relay(context.Background(), func() []byte { return make([]byte, PieceSize) }, nil, nil) != nil {
		t.Fatal("a failed fetch's arriving piece can still be relayed")
	}
}
