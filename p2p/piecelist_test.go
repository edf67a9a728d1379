package p2p

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// A holder's piece list that no other holder confirmed is only its word:
// a member that answered first with a short, false list had each honest
// peer that then sent a right piece penalised (its connections closed,
// kept out of fetches and designations for half an hour), found in
// review. Against such a list a piece that does not match blames no
// one; a second one gives the swarm up, and the caller goes elsewhere.
func TestUnconfirmedPieceListBlamesNoOne(t *testing.T) {
	fleet := newFleet(t, 3)
	asker, liar, honest := fleet[0], fleet[1], fleet[2]
	const size = 4 * PieceSize
	d := honest.content.put(randomBytes(t, size))
	bogus := digest.FromString("not piece 0")
	answerAs(liar, func(s network.Stream, req Request) {
		if req.Status {
			_ = writeHeader(s, Response{Size: size, PieceSize: PieceSize, Pieces: []digest.Digest{bogus}})
			return
		}
		_ = writeHeader(s, Response{Error: errBusy, RetryMS: 1000})
	})
	if err := fetchAll(t, asker, d, liar, honest); err == nil {
		t.Fatal("the download read to its end against a false piece list")
	}
	if asker.h.penalised(honest.h.ID()) {
		t.Fatal("the honest holder was penalised for a piece that matched only the liar's list")
	}
}

// A holder whose piece does not match its own digest contradicts itself:
// it is penalised whether or not another holder confirmed its list.
func TestSelfContradictingHolderIsPenalised(t *testing.T) {
	fleet := newFleet(t, 2)
	asker, liar := fleet[0], fleet[1]
	const size = 4 * PieceSize
	blob := randomBytes(t, size)
	d := digest.FromBytes(blob)
	first := digest.FromBytes(blob[:PieceSize])
	answerAs(liar, func(s network.Stream, req Request) {
		resp := Response{Size: size, PieceSize: PieceSize, Have: size}
		if req.Status {
			resp.Pieces = []digest.Digest{first}
			_ = writeHeader(s, resp)
			return
		}
		if writeHeader(s, resp) == nil {
			_, _ = s.Write(make([]byte, min(req.Length, size-req.Offset)))
		}
	})
	if err := fetchAll(t, asker, d, liar); err == nil {
		t.Fatal("the download read to its end from a holder sending zeros")
	}
	if !asker.h.penalised(liar.h.ID()) {
		t.Fatal("a holder whose piece 0 contradicted its own digest was not penalised")
	}
}

// With one holder to ask, its list is held to and its pieces are passed
// on from memory as any swarm's: no other holder's list could differ.
// With two, a list is held to once they agree.
func TestPieceListHeldToWithOneHolderOrTwoThatAgree(t *testing.T) {
	fleet := newFleet(t, 3)
	asker, a, b := fleet[0], fleet[1], fleet[2]
	const size = 4 * PieceSize
	blob := randomBytes(t, size)
	d := a.content.put(blob)
	sure := func(holders ...*testPeer) int {
		dl := fetchFrom(t, asker, d, holders...)
		defer dl.Close()
		if dl.sw == nil {
			t.Fatal("not a swarm fetch")
		}
		return dl.sw.sure
	}
	if got := sure(a); got != pieceCount(size) {
		t.Errorf("one holder: %d pieces held to, want %d", got, pieceCount(size))
	}
	b.content.put(blob)
	if got := sure(a, b); got != pieceCount(size) {
		t.Errorf("two holders that agree: %d pieces held to, want %d", got, pieceCount(size))
	}
}

// answerAs makes p answer every content request with answer, which
// writes the header (and any bytes) itself.
func answerAs(p *testPeer, answer func(s network.Stream, req Request)) {
	p.h.host.SetStreamHandler(ContentProtocol, func(s network.Stream) {
		defer s.Close()
		var req Request
		if err := readLine(bufio.NewReader(s), &req); err != nil {
			_ = s.Reset()
			return
		}
		answer(s, req)
	})
}

// fetchFrom starts a fetch of d from holders, asked in that order; its
// lookups are bounded at a minute.
func fetchFrom(t *testing.T, asker *testPeer, d digest.Digest, holders ...*testPeer) *Download {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var known []peer.ID
	for _, h := range holders {
		known = append(known, h.h.ID())
	}
	dl, err := asker.h.Fetch(ctx, d, repository.Name{}, time.Second, known)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	return dl
}

// fetchAll fetches d from holders (fetchFrom) and reads it to its end;
// it says how the read ended.
func fetchAll(t *testing.T, asker *testPeer, d digest.Digest, holders ...*testPeer) error {
	t.Helper()
	dl := fetchFrom(t, asker, d, holders...)
	defer dl.Close()
	_, err := io.Copy(io.Discard, dl)
	return err
}
