package p2p

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/swarm"
)

// A holder with no upload slot free turns a swarm asker away with when
// to come back (swarm.RetryAfter), and the asker reads it; an asker
// outside the swarm protocol is told nothing new.
func TestBusyAnswerSaysWhenToComeBack(t *testing.T) {
	a, b, d, ctx := holderAndAsker(t, 3*PieceSize)
	// Every slot taken: Min 0, Max 0.
	a.h.slots = sharedSlots{slots: &swarm.Slots{}}
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
// One read for the fleet (bringsIn) counts as the intake's minimum and,
// while it runs, a fetch's first piece request waits for the intake to
// admit it, as every other does, unless its reader has waited
// swarm.ReaderWait (starving); one read for the node alone does not.
func TestUpstreamStreamHoldsIntakeRoom(t *testing.T) {
	tests := []struct {
		name       string
		bringsIn   bool
		wantActive int
		firstAsks  bool // a fetch's first request goes out beside it
	}{
		{"for the node alone", false, 1, true},
		{"for the fleet", true, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet := newFleet(t, 1)
			h := fleet[0].h
			sent, end := h.UpstreamStream(digest.Digest("sha256:"+strings.Repeat("a", 64)), tt.bringsIn)
			if n := h.intake.active(); n != tt.wantActive {
				t.Fatalf("%d streams in the intake, want %d", n, tt.wantActive)
			}
			// The intake has measured nothing yet: it admits only its
			// minimum, which the stream may already fill.
			if got := h.admitIntake(time.Now(), true, false); got != tt.firstAsks {
				t.Fatalf("a fetch's first request admitted: %v, want %v", got, tt.firstAsks)
			}
			if tt.firstAsks {
				h.unadmitIntake()
			}
			if !h.admitIntake(time.Now(), true, true) {
				t.Fatal("the first request of a fetch whose reader starves was not admitted")
			}
			h.unadmitIntake()
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
			if h.bringingIn() {
				t.Fatal("still bringing a blob in after end")
			}
			if !h.admitIntake(time.Now(), true, false) {
				t.Fatal("a fetch's first request not admitted after the stream ended")
			}
		})
	}
}
