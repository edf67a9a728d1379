package p2p

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
)

// A member is learnt under its canonical text form, however the answer
// spelt it, and a member that names no peer is skipped.
func TestSwarmNewsLearnsMembersByCanonicalID(t *testing.T) {
	fleet := newFleet(t, 1)
	h := fleet[0].h
	const size = 4 * PieceSize
	origin, a, b := testpeer.ID(t), testpeer.ID(t), testpeer.ID(t)
	tests := []struct {
		name string
		text string
		id   peer.ID
		want bool
	}{
		{"base58", a.String(), a, true},
		{"CID form", peer.ToCid(b).String(), b, true},
		{"not a peer", "not-a-peer", "", false},
		{"self", h.ID().String(), h.ID(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := &Download{Size: size, h: h, d: digest.FromString(tt.name), ctx: context.Background()}
			dl.startSwarm(&Response{Size: size, PieceSize: PieceSize, Have: size, PiecesFrom: -1}, origin, origin, Request{}, nil, pieceCount(size))
			sf := dl.sw
			// Twice: the second answer finds the member already known.
			for range 2 {
				sf.news(&Response{Size: size, PieceSize: PieceSize, Have: size, PiecesFrom: -1, Members: []Member{{Peer: tt.text, Have: 2 * PieceSize, Pieces: []int{3}}}}, origin)
			}
			if !tt.want {
				if sf.plan.Live() != 1 {
					t.Fatalf("%d candidates, want only the origin", sf.plan.Live())
				}
				return
			}
			key := tt.id.String()
			if got := sf.plan.Have(key); got != 2*PieceSize {
				t.Fatalf("planner holds %d bytes for %s, want %d", got, key, 2*PieceSize)
			}
			if sf.ids[key] != tt.id {
				t.Fatalf("ids[%s] = %s, want %s", key, sf.ids[key], tt.id)
			}
			if sf.plan.Holders(3) != 1 {
				t.Fatalf("piece 3 has %d holders, want 1 (the member's piece beyond its prefix)", sf.plan.Holders(3))
			}
			if sf.plan.Live() != 2 {
				t.Fatalf("%d candidates, want the origin and the member", sf.plan.Live())
			}
		})
	}
}

// BenchmarkSwarmNews takes in one answer from a blob's origin in a
// 50-node swarm: 49 members, some holding pieces beyond their prefix.
// Every fetch of a rollout does this every swarm.StatusInterval, and for
// each piece answer and busy answer besides; at 50 nodes on 2 cores it
// was a visible share of the nodes' CPU (perf, bench/RESULTS.md).
func BenchmarkSwarmNews(b *testing.B) {
	fleet := newFleet(b, 1)
	h := fleet[0].h
	const size = 16 << 20
	origin := testpeer.ID(b)
	resp := &Response{Size: size, PieceSize: PieceSize, Have: 8 << 20, PiecesFrom: -1}
	for i := range 49 {
		m := Member{Peer: testpeer.ID(b).String(), Have: int64(i%16) * PieceSize}
		if i%3 == 0 {
			m.Pieces = []int{i%16 + 2, i%16 + 4}
		}
		resp.Members = append(resp.Members, m)
	}
	dl := &Download{Size: size, h: h, d: digest.FromString("blob"), ctx: context.Background()}
	dl.startSwarm(resp, origin, origin, Request{}, nil, pieceCount(size))
	sf := dl.sw
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		sf.news(resp, origin)
	}
}

// Members by ref are resolved through the book of the answerer that
// numbered them: named once, then known by ref alone; a ref it never
// named, or that another answerer named, is not taken for anyone and is
// asked for in the next request to it.
func TestSwarmNewsResolvesMemberRefs(t *testing.T) {
	fleet := newFleet(t, 1)
	h := fleet[0].h
	const size = 4 * PieceSize
	origin, other, a := testpeer.ID(t), testpeer.ID(t), testpeer.ID(t)
	dl := &Download{Size: size, h: h, d: digest.FromString("blob"), ctx: context.Background()}
	dl.startSwarm(&Response{Size: size, PieceSize: PieceSize, Have: size, PiecesFrom: -1, MemberRefs: []MemberRef{{Ref: 1, Peer: a.String(), Have: PieceSize}}}, origin, origin, Request{}, nil, pieceCount(size))
	sf := dl.sw
	steps := []struct {
		name     string
		from     peer.ID
		refs     []MemberRef
		wantHave int64 // what the planner holds for a after
		wantHeld int   // holders of piece 3, beyond a's prefix
		wantNeed map[peer.ID][]int
	}{
		{name: "by ref alone", from: origin, refs: []MemberRef{{Ref: 1, Have: 2 * PieceSize}}, wantHave: 2 * PieceSize},
		{name: "with pieces", from: origin, refs: []MemberRef{{Ref: 1, Have: 2 * PieceSize, Pieces: []int{3}}}, wantHave: 2 * PieceSize, wantHeld: 1},
		{name: "a ref never named", from: origin, refs: []MemberRef{{Ref: 2, Have: 3 * PieceSize}}, wantHave: 2 * PieceSize, wantHeld: 1, wantNeed: map[peer.ID][]int{origin: {2}}},
		{name: "another answerer's ref", from: other, refs: []MemberRef{{Ref: 1, Have: 3 * PieceSize}}, wantHave: 2 * PieceSize, wantHeld: 1, wantNeed: map[peer.ID][]int{other: {1}}},
		{name: "named by the other", from: other, refs: []MemberRef{{Ref: 1, Peer: a.String(), Have: 3 * PieceSize}}, wantHave: 3 * PieceSize},
	}
	for _, st := range steps {
		sf.news(&Response{Have: -1, PiecesFrom: -1, MemberRefs: st.refs}, st.from)
		if got := sf.plan.Have(a.String()); got != st.wantHave {
			t.Fatalf("%s: planner holds %d bytes for a, want %d", st.name, got, st.wantHave)
		}
		if got := sf.plan.Holders(3); got != st.wantHeld {
			t.Fatalf("%s: piece 3 has %d holders, want %d", st.name, got, st.wantHeld)
		}
		for _, p := range []peer.ID{origin, other} {
			if got := sf.need(p); !slices.Equal(got, st.wantNeed[p]) {
				t.Fatalf("%s: need of %s = %v, want %v", st.name, p, got, st.wantNeed[p])
			}
		}
	}
}

// What answers name is bounded, in each answer and in all: a member
// naming thousands of made-up peers in each busy answer grew the fetch's
// tables by megabytes an answer, sent its requests to peers that do not
// exist, and, each fake counting as progress, kept the fetch from seeing
// that it had stalled (found in review).
func TestSwarmNewsBoundsMembersLearnt(t *testing.T) {
	const size = 4 * PieceSize
	sf, origin := originSwarm(t, size)
	for range 8 {
		r := &Response{Size: size, PieceSize: PieceSize, Have: -1, PiecesFrom: -1}
		for range 1000 {
			r.Members = append(r.Members, Member{Peer: testpeer.ID(t).String(), Have: size})
		}
		sf.news(r, origin)
	}
	if n := len(sf.ids); n > maxFetchPeers || sf.plan.Live() > maxFetchPeers+1 {
		t.Fatalf("the fetch knows %d peers (%d candidates), want at most %d", n, sf.plan.Live(), maxFetchPeers)
	}
	if got := len(sf.ids); got < maxAnswerMembers {
		t.Fatalf("the fetch learnt %d peers from eight answers, want at least one answer's %d", got, maxAnswerMembers)
	}
}

// An answer that comes after the fetch's loop has returned is dropped,
// not left blocking its request's goroutine (and the intake room it
// holds) for ever.
func TestSwarmAnswerAfterTheLoopEnded(t *testing.T) {
	sf, origin := originSwarm(t, 4*PieceSize)
	h := sf.dl.h
	close(sf.done)              // as run does when it returns
	full := make(chan *arrival) // no one reads it
	delivered := make(chan struct{})
	go func() {
		sf.deliver(full, &arrival{i: 1, p: origin, data: h.pieceBuf()})
		close(delivered)
	}()
	select {
	case <-delivered:
	case <-time.After(5 * time.Second):
		t.Fatal("an answer after the loop ended blocked its goroutine")
	}
}

// originSwarm is a swarm fetch of a blob of size bytes whose origin, a
// made-up peer, holds it whole, on a host of its own; its loop is not
// started.
func originSwarm(t *testing.T, size int64) (*swarmFetch, peer.ID) {
	t.Helper()
	h := newFleet(t, 1)[0].h
	origin := testpeer.ID(t)
	dl := &Download{Size: size, h: h, d: digest.FromString(t.Name()), ctx: context.Background()}
	dl.startSwarm(&Response{Size: size, PieceSize: PieceSize, Have: size, PiecesFrom: -1}, origin, origin, Request{}, nil, pieceCount(size))
	return dl.sw, origin
}
