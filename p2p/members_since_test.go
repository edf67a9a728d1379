package p2p

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/swarm"
)

// A swarm answer names only the members whose entries changed since the
// version the asker sends (members_since), and says the version to send
// next; an asker that sends none (a node of an earlier release) hears of
// every member. A status answer says how often to ask again. Status and
// piece answers both carry it (busy answers: the test below).
func TestSwarmAnswersNameTheMembersThatChanged(t *testing.T) {
	a, b, d, ctx, ms := holderWithMembers(t, PieceSize, 0, 2*PieceSize)
	m1, m2, m3 := ms[0], ms[1], ms[2]
	repo := repository.Local("team/app")
	names := func(ms []Member) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Peer)
		}
		slices.Sort(out)
		return out
	}
	status := func(since uint64) (*Response, error) {
		s, err := b.h.Open(ctx, a.h.ID(), Request{Digest: d, Repo: repo.Key(), Status: true, Swarm: true, MembersSince: since})
		if err != nil {
			return nil, err
		}
		s.Close()
		return &s.Response, nil
	}
	first, err := status(0)
	if err != nil {
		t.Fatal(err)
	}
	// b itself was noted by its own question, and is left out of its answer.
	if got, want := names(first.Members), names([]Member{{Peer: m1.String()}, {Peer: m2.String()}, {Peer: m3.String()}}); !slices.Equal(got, want) {
		t.Fatalf("first answer names %v, want %v", got, want)
	}
	if first.MembersVersion == 0 {
		t.Fatal("first answer has no members_version")
	}
	if d := time.Duration(first.StatusMS) * time.Millisecond; d < swarm.StatusInterval || d > swarm.MaxStatusInterval {
		t.Fatalf("status_ms %d, want within [%v, %v]", first.StatusMS, swarm.StatusInterval, swarm.MaxStatusInterval)
	}

	again, err := status(first.MembersVersion)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Members) != 0 || again.MembersVersion < first.MembersVersion {
		t.Fatalf("nothing changed: answer names %v at version %d (after %d), want none", names(again.Members), again.MembersVersion, first.MembersVersion)
	}

	a.h.tracker.note(d, m2, 2*PieceSize, nil, time.Now())
	time.Sleep(tellEvery) // the first answer told b of members
	changed, err := status(again.MembersVersion)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(changed.Members); !slices.Equal(got, []string{m2.String()}) || changed.Members[0].Have != 2*PieceSize {
		t.Fatalf("after m2 moved on: %v, want m2 alone at %d", changed.Members, 2*PieceSize)
	}

	// A piece answer carries the changes too.
	a.h.tracker.note(d, m1, 3*PieceSize, nil, time.Now())
	time.Sleep(tellEvery)
	s, err := b.h.Open(ctx, a.h.ID(), Request{Digest: d, Repo: repo.Key(), Length: PieceSize, Swarm: true, MembersSince: changed.MembersVersion})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := names(s.Members); !slices.Equal(got, []string{m1.String()}) || s.MembersVersion <= changed.MembersVersion {
		t.Fatalf("piece answer names %v at version %d, want m1 after %d", got, s.MembersVersion, changed.MembersVersion)
	}
}

// A busy answer names the members that changed since the asker's
// version too: it is most of what a large swarm's askers hear.
func TestBusyAnswersNameTheMembersThatChanged(t *testing.T) {
	a, b, d, ctx := holderAndAsker(t, 3*PieceSize)
	// Every slot taken (Min 0, Max 0), before any stream is served.
	a.h.slots = sharedSlots{slots: &swarm.Slots{}}
	repo := repository.Local("team/app")
	m1, m2 := testpeer.ID(t), testpeer.ID(t)
	a.h.tracker.note(d, m1, PieceSize, nil, time.Now())
	a.h.tracker.note(d, m2, PieceSize, nil, time.Now())
	busy := func(since uint64) *busyError {
		t.Helper()
		_, err := b.h.Open(ctx, a.h.ID(), Request{Digest: d, Repo: repo.Key(), Length: PieceSize, Swarm: true, MembersSince: since})
		var busy *busyError
		if !errors.As(err, &busy) {
			t.Fatalf("Open = %v, want a busy answer", err)
		}
		return busy
	}
	first := busy(0)
	if len(first.members) != 2 || first.version == 0 {
		t.Fatalf("first busy answer names %d members at version %d, want m1 and m2", len(first.members), first.version)
	}
	a.h.tracker.note(d, m2, 3*PieceSize, nil, time.Now())
	time.Sleep(tellEvery)
	next := busy(first.version)
	if len(next.members) != 1 || next.members[0].Peer != m2.String() || next.version <= first.version {
		t.Fatalf("busy answer after m2 moved on names %v at version %d, want m2 after %d", next.members, next.version, first.version)
	}
	// Asked again at once, a holder names no members: b was just told,
	// and a busy answer a member asks for many times a second would
	// otherwise carry them each time. The version stays, so the change
	// comes in the next answer after tellEvery.
	a.h.tracker.note(d, m1, 3*PieceSize, nil, time.Now())
	soon := busy(next.version)
	if len(soon.members) != 0 || soon.version != next.version {
		t.Fatalf("busy answer at once names %v at version %d, want none at %d", soon.members, soon.version, next.version)
	}
	time.Sleep(tellEvery)
	if later := busy(soon.version); len(later.members) != 1 || later.members[0].Peer != m1.String() {
		t.Fatalf("busy answer after tellEvery names %v, want m1", later.members)
	}
}

// holderWithMembers is holderAndAsker with a 3-piece blob and, in the
// holder's tracker of it, a member noted for each of haves, holding as
// much.
func holderWithMembers(t *testing.T, haves ...int64) (holder, asker *testPeer, d digest.Digest, ctx context.Context, members []peer.ID) {
	t.Helper()
	holder, asker, d, ctx = holderAndAsker(t, 3*PieceSize)
	now := time.Now()
	for _, have := range haves {
		m := testpeer.ID(t)
		holder.h.tracker.note(d, m, have, nil, now)
		members = append(members, m)
	}
	return holder, asker, d, ctx, members
}

// tellEvery is how long a tracker of a few members waits before its
// answers to one asker name members again (swarm.Tracker.Members: a
// quarter of the status interval).
const tellEvery = swarm.StatusInterval / 4
