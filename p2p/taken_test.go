package p2p

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/swarm"
)

// A blob's origin that has just sent a piece whole to one asker does not
// send it to the next (swarm.Tracker.Gave), and says the piece is taken,
// so that the asker asks it for another piece at once instead of leaving
// it alone for a piece's time (swarm.Planner.Taken). Before, the second
// asker got a second copy: the first asker was no holder until its own
// next request said so.
func TestOriginHoldsBackAPieceItJustGave(t *testing.T) {
	fleet := newFleet(t, 3)
	origin, first, second := fleet[0], fleet[1], fleet[2]
	d := origin.content.put(randomBytes(t, 3*PieceSize))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range fleet[1:] {
		if err := p.h.Connect(ctx, origin.h.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	// Asked as a blob's origin is: with the rule it brings it in from.
	ask := func(p *testPeer, i int) (*Stream, error) {
		return p.h.Open(ctx, origin.h.ID(), Request{Digest: d, Rule: "registry.example", Repo: "team/app", Offset: int64(i) * PieceSize, Length: PieceSize, Swarm: true})
	}
	s, err := ask(first, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, s); err != nil || n != PieceSize {
		t.Fatalf("first copy of piece 0: %d bytes, %v", n, err)
	}
	s.Close()
	// The origin records the copy before it gives its slot back.
	for i := 0; origin.h.slots.active() > 0; i++ {
		if i == 500 {
			t.Fatal("the origin's slot is still taken")
		}
		time.Sleep(10 * time.Millisecond)
	}
	sent := time.Now()

	_, err = ask(second, 0)
	var busy *busyError
	if err == nil && time.Since(sent) > swarm.GivenFor/2 {
		t.Skipf("%v between the copy's end and the next ask: too long to test a presumption that lasts %v", time.Since(sent), swarm.GivenFor)
	}
	if !errors.As(err, &busy) {
		t.Fatalf("second asker of piece 0: %v, want a busy answer (a second copy went out)", err)
	}
	if !busy.taken || busy.retry <= 0 {
		t.Errorf("busy answer: taken %v, retry %v; want taken, and a retry for a node of an earlier release", busy.taken, busy.retry)
	}
	// Another piece it serves at once.
	s, err = ask(second, 1)
	if err != nil {
		t.Fatalf("second asker of piece 1: %v", err)
	}
	s.Close()
}
