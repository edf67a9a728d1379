package p2p

import (
	"context"
	"errors"
	"io"
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
	// Beside it, fetches with nothing in flight are owed no request: on
	// a link measured this slow the minimum admits one more, not two.
	now := time.Now()
	if !h.admitIntake(now, true) || h.admitIntake(now, true) {
		t.Fatal("beside an upstream body, want one owed request admitted (Min), not two")
	}
	h.unadmitIntake()
	end()
	end()
	if n := h.intake.active(); n != 0 {
		t.Fatalf("%d streams in the intake after end, want 0", n)
	}
	if !h.admitIntake(now, true) || !h.admitIntake(now, true) || !h.admitIntake(now, true) {
		t.Fatal("with no upstream body, a fetch with nothing in flight is always owed a request")
	}
}

// While the fleet waits on this node's uplink, as a blob's origin, for a
// piece only it holds, a relay of another blob leaves a slot free for
// it: with one of the minimum two slots taken, a holder's request is
// turned away and the origin's request is served; once the wait is over,
// the holder's request is served again.
func TestOriginKeepsASlotForFirstCopies(t *testing.T) {
	fleet := newFleet(t, 2)
	a, b := fleet[0], fleet[1]
	relayed := a.content.put(randomBytes(t, 2*PieceSize))
	injected := a.content.put(randomBytes(t, 2*PieceSize))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.h.Connect(ctx, a.h.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	// One slot runs a transfer already; nothing measured: Min 2.
	a.h.slots = sharedSlots{slots: swarm.NewSlots(maxUploads)}
	a.h.slots.take()
	repo := repository.Local("team/app")
	asHolder := Request{Digest: relayed, Repo: repo.Key(), Length: PieceSize, Swarm: true}
	asOrigin := Request{Digest: injected, Rule: "upstream.test", Repo: repo.Path, Length: PieceSize, Swarm: true}

	open := func(req Request) error {
		s, err := b.h.Open(ctx, a.h.ID(), req)
		if err == nil {
			_, err = io.Copy(io.Discard, s)
			_ = s.Close()
		}
		// The holder's slot frees when its write returns.
		waitFor(t, "a's transfer to end", func() bool { return a.h.slots.active() == 1 })
		return err
	}
	if err := open(asHolder); err != nil {
		t.Fatalf("a relay with a slot free and no origin waited on: %v", err)
	}
	// Piece 1 of injected: no member holds it, a has not sent it.
	a.h.tracker.note(injected, b.h.ID(), 0, nil, time.Now())
	a.h.tracker.mayServe(injected, b.h.ID(), 1, 2*PieceSize, time.Now())
	var busy *busyError
	if err := open(asHolder); !errors.As(err, &busy) {
		t.Fatalf("a relay while the fleet waits on a's first copies: %v, want busy", err)
	}
	if err := open(asOrigin); err != nil {
		t.Fatalf("the origin's own piece with a slot kept for it: %v", err)
	}
	a.h.tracker.mu.Lock()
	for _, s := range a.h.tracker.origin {
		s.Sent(1, true, time.Now())
	}
	a.h.tracker.mu.Unlock()
	waitFor(t, "a to be no longer waited on", func() bool { return !a.h.tracker.injecting(time.Now()) })
	if err := open(asHolder); err != nil {
		t.Fatalf("a relay once the origin is no longer waited on: %v", err)
	}
}
