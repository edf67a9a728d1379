package p2p

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// A member that asks for more than a piece and stops reading must not
// hold an upload slot for ever: only single pieces were bounded by their
// silence, and two such askers left a node serving no one (every swarm
// request was answered busy), found in review. Each request here takes
// a slot and stalls once the stream's window and the sockets are full.
func TestStalledAskerGivesItsSlotBack(t *testing.T) {
	fleet := newFleet(t, 2)
	asker, holder := fleet[0], fleet[1]
	holder.h.transferSilence = 500 * time.Millisecond
	d := holder.content.put(randomBytes(t, 32<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, req := range []Request{{Digest: d}, {Digest: d, Swarm: true}} {
		s, err := asker.h.host.NewStream(ctx, holder.h.ID(), ContentProtocol)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		line, _ := json.Marshal(req)
		if _, err := s.Write(append(line, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	waitSlots := func(want int, within time.Duration) bool {
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if holder.h.slots.active() == want {
				return true
			}
		}
		return false
	}
	if !waitSlots(2, 5*time.Second) {
		t.Fatalf("the holder runs %d uploads, want the 2 requests", holder.h.slots.active())
	}
	if !waitSlots(0, 10*time.Second) {
		t.Fatalf("%d uploads still hold their slots 10 s after their askers stopped reading", holder.h.slots.active())
	}
}

// A piece request must lie within the blob: one past its end, or one
// whose end overflows, is a bad request, and the origin does not count a
// copy of it (each number asked for kept an entry in its table for the
// blob, found in review; the overflowing one was answered busy).
func TestServeRefusesPiecesPastTheBlob(t *testing.T) {
	fleet := newFleet(t, 2)
	asker, holder := fleet[0], fleet[1]
	d := holder.content.put(randomBytes(t, 4*PieceSize))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	piece := func(offset int64) error {
		s, err := asker.h.Open(ctx, holder.h.ID(), Request{Digest: d, Rule: "up", Repo: "lib/x", Swarm: true, Offset: offset, Length: PieceSize})
		if err == nil {
			s.Close()
		}
		return err
	}
	if err := piece(0); err != nil {
		t.Fatalf("piece 0: %v", err)
	}
	for _, offset := range []int64{4 * PieceSize, 5000 * PieceSize, math.MaxInt64 / PieceSize * PieceSize} {
		if err := piece(offset); err == nil || !strings.Contains(err.Error(), errBadRequest) {
			t.Errorf("piece at %d of a blob of 4: %v, want %s", offset, err, errBadRequest)
		}
	}
	if err := piece(3 * PieceSize); err != nil {
		t.Fatalf("the last piece: %v", err)
	}
}

// A request that takes a blob (the asker's last candidate for it) which
// this node then cannot open does not leave the node bringing it in:
// before, it counted as arriving for ten seconds, and every other blob
// the fleet asked it for meanwhile was handed on (found in review).
func TestTakeOfABlobNotOpenedLeavesNoBringIn(t *testing.T) {
	fleet := newFleet(t, 2)
	asker, holder := fleet[0], fleet[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	missing := digest.FromString("upstream has no such blob")
	_, err := asker.h.Open(ctx, holder.h.ID(), Request{Digest: missing, Rule: "up", Repo: "lib/x", Take: true})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("take of a missing blob: %v, want not found", err)
	}
	if !holder.h.BringIn(digest.FromString("another layer")) {
		t.Fatal("the node hands another blob on, as if it were bringing in one it could not open")
	}
}
