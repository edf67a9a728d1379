//go:build shoalfault

package p2p

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// arrivingContent serves one blob as the node's store does while it
// arrives: what has been written, and the rest as it comes.
type arrivingContent struct {
	d digest.Digest
	a *arriving
}

func (c arrivingContent) Open(ctx context.Context, from peer.ID, d digest.Digest, repo repository.Name) (*Served, error) {
	if d != c.d {
		return nil, ErrNotFound
	}
	have := c.a.have()
	return &Served{Size: c.a.size, Content: &follower{a: c.a}, Have: have, Pieces: c.a.pieces(), Complete: have == c.a.size, Close: func() error { return nil }}, nil
}

func (arrivingContent) Tag(context.Context, peer.ID, repository.Name, string, bool) (digest.Digest, bool, error) {
	return "", false, ErrNotFound
}

// The docker fleet tests make a node lie with
// SHOAL_FAULT_CORRUPT_PEER_BYTES=1 in a shoalfault build; what they show
// holds only if every piece the node sends is corrupted, whichever path
// it takes: a blob the node holds whole, one still arriving through its
// store, a checked piece it holds in memory beyond what its store has
// (heldPiece), and a piece it serves on while it arrives (inbound.go).
// Without the variable, the same pieces arrive intact.
func TestFaultCorruptsEveryPieceStream(t *testing.T) {
	blob := randomBytes(t, 3*PieceSize+100)
	d := digest.FromBytes(blob)
	piece := func(i int) []byte { return blob[i*PieceSize : min((i+1)*PieceSize, len(blob))] }
	tests := []struct {
		name string
		// have is how much of the blob the serving node's store holds;
		// memory are the pieces it holds checked in memory beyond it.
		have   int
		memory []int
		// inbound is a piece arriving from a peer, all its bytes in,
		// checked a moment after the asker's request (0: none).
		inbound int
		ask     int // the piece asked for
	}{
		{name: "a blob held whole", have: len(blob), ask: 1},
		{name: "a blob still arriving", have: 2 * PieceSize, ask: 1},
		{name: "a piece held in memory", have: PieceSize, memory: []int{2}, ask: 2},
		{name: "a piece still arriving from a peer", have: PieceSize, ask: 2, inbound: 2},
	}
	for _, fault := range []string{"SHOAL_FAULT_CORRUPT_PEER_BYTES", "SHOAL_FAULT_CORRUPT_PEER_PIECES", ""} {
		corrupt := fault != ""
		for _, tt := range tests {
			name := tt.name + ", " + fault
			if !corrupt {
				name = tt.name + ", no fault"
			}
			t.Run(name, func(t *testing.T) {
				t.Setenv("SHOAL_FAULT_CORRUPT_PEER_BYTES", "")
				t.Setenv("SHOAL_FAULT_CORRUPT_PEER_PIECES", "")
				if corrupt {
					t.Setenv(fault, "1")
				}
				server, asker := newLoneHost(t), newLoneHost(t)
				a := newArriving(int64(len(blob)))
				_, _ = a.Write(blob[:tt.have])
				server.ServeContent(arrivingContent{d: d, a: a}, nil)
				if len(tt.memory) > 0 || tt.inbound > 0 {
					sf := &swarmFetch{dl: &Download{h: server}, mem: map[int][]byte{}, inbound: map[int]*inbound{}}
					for _, i := range tt.memory {
						sf.mem[i] = piece(i)
					}
					if tt.inbound > 0 {
						g := newInbound(bytes.Clone(piece(tt.inbound)), func([]byte) {})
						g.arrived(len(piece(tt.inbound)))
						sf.inbound[tt.inbound] = g
						time.AfterFunc(100*time.Millisecond, func() { g.settle(true) })
					}
					server.activeMu.Lock()
					server.active[d] = sf
					server.activeMu.Unlock()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if err := asker.Connect(ctx, server.AddrInfo()); err != nil {
					t.Fatal(err)
				}
				want := piece(tt.ask)
				s, err := asker.Open(ctx, server.ID(), Request{Digest: d, Repo: "app", Offset: int64(tt.ask) * PieceSize, Length: int64(len(want)), Swarm: true})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				got, err := io.ReadAll(s)
				if err != nil {
					t.Fatalf("reading piece %d: %v", tt.ask, err)
				}
				if len(got) != len(want) {
					t.Fatalf("got %d bytes of piece %d, want %d", len(got), tt.ask, len(want))
				}
				if intact := bytes.Equal(got, want); intact == corrupt {
					t.Errorf("piece %d arrived intact: %v, want %v (SHOAL_FAULT_CORRUPT_PEER_BYTES=%q)", tt.ask, intact, !corrupt, map[bool]string{true: "1"}[corrupt])
				}
			})
		}
	}
}

// SHOAL_FAULT_CORRUPT_PEER_PIECES leaves a blob of one piece intact, even
// asked for as a swarm piece (a config, asked through the swarm path):
// the docker test of a lying relayer once lost its liar to a penalty for
// a config before the layer's swarm began. SHOAL_FAULT_CORRUPT_PEER_BYTES
// still corrupts it.
func TestFaultPiecesSparesSmallBlobs(t *testing.T) {
	blob := randomBytes(t, PieceSize/2)
	d := digest.FromBytes(blob)
	for _, tt := range []struct {
		fault   string
		corrupt bool
	}{
		{"SHOAL_FAULT_CORRUPT_PEER_PIECES", false},
		{"SHOAL_FAULT_CORRUPT_PEER_BYTES", true},
	} {
		t.Run(tt.fault, func(t *testing.T) {
			t.Setenv("SHOAL_FAULT_CORRUPT_PEER_BYTES", "")
			t.Setenv("SHOAL_FAULT_CORRUPT_PEER_PIECES", "")
			t.Setenv(tt.fault, "1")
			server, asker := newLoneHost(t), newLoneHost(t)
			a := newArriving(int64(len(blob)))
			_, _ = a.Write(blob)
			server.ServeContent(arrivingContent{d: d, a: a}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := asker.Connect(ctx, server.AddrInfo()); err != nil {
				t.Fatal(err)
			}
			s, err := asker.Open(ctx, server.ID(), Request{Digest: d, Repo: "app", Length: int64(len(blob)), Swarm: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := io.ReadAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if intact := bytes.Equal(got, blob); intact == tt.corrupt {
				t.Errorf("the one-piece blob arrived intact: %v, want %v", intact, !tt.corrupt)
			}
		})
	}
}
