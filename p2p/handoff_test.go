package p2p

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// A blob's closest node, bringing in another blob for the fleet, hands it
// on: it neither fetches it upstream for itself nor for its peers, the
// next node in the blob's order brings it in once, and every node,
// the first one too, gets it from there. Without a blob in flight the
// closest node brings it in itself, as before.
func TestFetchHandsOnWhileBringingIn(t *testing.T) {
	for _, tc := range []struct {
		name          string
		busy, allBusy bool
	}{{"idle", false, false}, {"bringing in another", true, false}, {"every node bringing in another", true, true}} {
		busy := tc.busy
		t.Run(tc.name, func(t *testing.T) {
			fleet := newFleet(t, 4)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			blob := randomBytes(t, 2*PieceSize+5)
			d := digest.FromBytes(blob)
			for _, p := range fleet {
				p.content.upstream = map[digest.Digest][]byte{d: blob}
				p.content.bringIn = p.h
			}
			c, err := CID(d)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[peer.ID]*testPeer{}
			var ids []peer.ID
			for _, p := range fleet {
				byID[p.h.ID()] = p
				ids = append(ids, p.h.ID())
			}
			order := sortClosest(ids, string(c.Hash()))
			first, second := byID[order[0]], byID[order[1]]
			if tc.allBusy {
				// Every node in the order declines but the last, whom
				// every asker asks last, with Take.
				for i, p := range fleet {
					p.h.bringIns.started(digest.Digest("sha256:" + strings.Repeat(string(rune('c'+i)), 64)))
				}
			}
			if busy {
				other := digest.Digest("sha256:" + strings.Repeat("b", 64))
				// As UpstreamStream records it, without the room it
				// takes in the node's intake (its body here would
				// send nothing, and the node's own fetch would wait
				// for room until its reader starved).
				first.h.bringIns.started(other)
			}
			self := fetchEach(t, ctx, fleet, d, repository.Mirror("up", "repo"), 2*time.Second, blob)
			selfFetched := map[*testPeer]bool{}
			for i, p := range fleet {
				if self[i] {
					selfFetched[p] = true
				}
			}
			want := first
			if busy {
				want = second
			}
			if tc.allBusy {
				want = byID[order[len(order)-1]]
			}
			if len(selfFetched) != 1 || !selfFetched[want] {
				t.Errorf("nodes that brought the blob in themselves: %d (the expected one: %v), want only one", len(selfFetched), selfFetched[want])
			}
			for _, p := range fleet {
				n := p.content.fetches.Load()
				switch {
				case p == want && n > 1:
					t.Errorf("the node that brought it in fetched it for its peers %d times, want 1", n)
				case p != want && n != 0:
					t.Errorf("a node that did not bring it in fetched it upstream for its peers %d times", n)
				}
			}
			first.h.bringIns.mu.Lock()
			handedOff := first.h.bringIns.b.HandedOff(string(d), time.Now())
			first.h.bringIns.mu.Unlock()
			if busy && !handedOff {
				t.Error("the closest node does not say it handed the blob on")
			}
		})
	}
}
