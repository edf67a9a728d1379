package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/swarm"
)

// A holder with no upload slot free turns a swarm asker away with when
// to come back (swarm.RetryAfter), and the asker reads it; an asker
// outside the swarm protocol is told nothing new.
func TestBusyAnswerSaysWhenToComeBack(t *testing.T) {
	fleet := newFleet(t, 2)
	a, b := fleet[0], fleet[1]
	d := a.content.put(randomBytes(t, 3*PieceSize))
	// Every slot taken: Min 0, Max 0.
	a.h.slots = sharedSlots{slots: &swarm.Slots{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.h.Connect(ctx, a.h.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	repo := repository.Local("team/app")
	_, err := b.h.Open(ctx, a.h.ID(), Request{Digest: d, Repo: repo.Key(), Length: PieceSize, Swarm: true})
	var busy *busyError
	if !errors.As(err, &busy) {
		t.Fatalf("Open = %v, want a busy answer", err)
	}
	// No upload measured yet: about swarm's base wait, spread.
	if busy.retry < swarm.BusyBackoff || busy.retry > swarm.MaxRetryAfter {
		t.Fatalf("told to come back in %v, want within [%v, %v]", busy.retry, swarm.BusyBackoff, swarm.MaxRetryAfter)
	}
}

// An upstream body counts in the node's intake until it ends, once
// however often end is called, and its bytes count in the intake's rate.
func TestUpstreamStreamHoldsIntakeRoom(t *testing.T) {
	fleet := newFleet(t, 1)
	h := fleet[0].h
	sent, end := h.UpstreamStream()
	if n := h.intake.active(); n != 1 {
		t.Fatalf("%d streams in the intake, want 1", n)
	}
	sent(PieceSize)
	time.Sleep(20 * time.Millisecond)
	sent(PieceSize)
	if h.intake.rate() <= 0 {
		t.Fatal("the upstream body's bytes did not count in the intake's rate")
	}
	end()
	end()
	if n := h.intake.active(); n != 0 {
		t.Fatalf("%d streams in the intake after end, want 0", n)
	}
}
