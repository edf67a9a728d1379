package swarm

import (
	"fmt"
	"testing"
	"time"
)

func TestTrackerMembers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	tr.Note("a", 10, nil, t0)
	tr.Note("b", 30, []int{5}, t0)
	tr.Note("c", 20, nil, t0)
	tr.Note("a", 5, nil, t0) // an older figure does not lower what a holds
	got := tr.Members("c", t0)
	if len(got) != 2 || got[0].Peer != "b" || got[0].Have != 30 || len(got[0].Pieces) != 1 || got[1].Peer != "a" || got[1].Have != 10 {
		t.Fatalf("members = %+v, want b (30, piece 5) then a (10), without c", got)
	}
	if got := tr.Members("", t0.Add(MemberTTL+time.Second)); len(got) != 0 {
		t.Fatalf("members after their TTL = %+v, want none", got)
	}
}

func TestTrackerBounds(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	for i := range maxMembers + 10 {
		tr.Note(fmt.Sprint("p", i), int64(i), make([]int, 2*maxExtra), t0.Add(time.Duration(i)*time.Millisecond))
	}
	got := tr.Members("", t0.Add(time.Second))
	if len(got) != membersPerAnswer || got[0].Have != maxMembers+9 || len(got[0].Pieces) != maxExtra {
		t.Fatalf("%d members, first %+v: want %d, the one holding most first, pieces cut to %d", len(got), got[0].Have, membersPerAnswer, maxExtra)
	}
	if len(tr.members) != maxMembers || tr.members["p0"] != nil {
		t.Fatalf("table holds %d members (p0 kept: %v), want %d without the oldest", len(tr.members), tr.members["p0"] != nil, maxMembers)
	}
}

// A member the asker avoids (it sent the asker wrong pieces) holds a
// piece for others, not for that asker.
func TestTrackerMayServeAroundAvoidedMembers(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		avoid []string
		want  bool
	}{
		{"avoids no one: sent to the holder", nil, false},
		{"avoids another peer: sent to the holder", []string{"other"}, false},
		{"avoids the only holder: served", []string{"holder"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(1)
			tr.Note("holder", 200, nil, t0)
			tr.Note("asker", 0, nil, t0)
			if got := tr.MayServe("asker", 0, 100, t0, tt.avoid); got != tt.want {
				t.Fatalf("MayServe = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerMayServe(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	tr.Note("asker", 0, nil, t0)
	if !tr.MayServe("asker", 0, 100, t0, nil) {
		t.Fatal("no one else holds piece 0: the tracker should serve it")
	}
	tr.Note("holder", 100, nil, t0)
	if tr.MayServe("asker", 0, 100, t0, nil) {
		t.Fatal("a fresh member holds piece 0: the asker should be sent to it")
	}
	if !tr.MayServe("holder", 1, 200, t0, nil) {
		t.Fatal("piece 1 is held by no one: serve it")
	}
	tr.Sent(0, true, t0)
	if !tr.MayServe("asker", 0, 100, t0.Add(holderFresh), nil) {
		t.Fatal("the holder has not been heard from lately: serve the piece")
	}
	// A member that holds a piece beyond its prefix (it arrived out of
	// order) is a holder of it too.
	tr.Note("ahead", 0, []int{5}, t0.Add(holderFresh))
	if tr.MayServe("asker", 5, 600, t0.Add(holderFresh), nil) {
		t.Fatal("a fresh member holds piece 5 out of order: the asker should be sent to it")
	}
	for range 10 {
		tr.MayServe("x", 7, 800, t0, nil)
	}
	if tr.MayServe("y", 7, 800, t0, nil) {
		t.Fatalf("piece 7 was sent %d times already: Spread should hold it back", FirstCopies)
	}
}

func TestTrackerSameSeedSameAnswer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	answer := func() []Member {
		tr := NewTracker(7)
		for i := range 200 {
			tr.Note(fmt.Sprint("p", i), 0, nil, t0)
		}
		return tr.Members("", t0)
	}
	a, b := answer(), answer()
	for i := range a {
		if a[i].Peer != b[i].Peer {
			t.Fatalf("answer %d: %s then %s: one seed should give one order", i, a[i].Peer, b[i].Peer)
		}
	}
}

// Answers within rankEvery share one ranking but carry what each member
// holds now; a member first heard since is passed on at the next
// ranking.
func TestTrackerRanksEvery(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	tr.Note("a", 10, nil, t0)
	tr.Members("", t0)
	tr.Note("a", 50, []int{9}, t0.Add(time.Millisecond))
	tr.Note("b", 20, nil, t0.Add(time.Millisecond))
	got := tr.Members("", t0.Add(rankEvery-time.Millisecond))
	if len(got) != 1 || got[0].Have != 50 || len(got[0].Pieces) != 1 {
		t.Fatalf("within rankEvery: %+v, want a alone, with its news", got)
	}
	got = tr.Members("", t0.Add(rankEvery))
	if len(got) != 2 || got[0].Peer != "a" || got[1].Peer != "b" {
		t.Fatalf("after rankEvery: %+v, want a then b", got)
	}
	if got := tr.Members("a", t0.Add(rankEvery)); len(got) != 1 || got[0].Peer != "b" {
		t.Fatalf("without a: %+v, want b", got)
	}
}

// A member that says it holds a piece but never passes it on (it keeps
// asking, so it stays fresh) keeps askers from the origin only for
// trustMembers after the piece was first asked for; then the origin
// serves it itself.
func TestTrackerTrustsMembersForAWhile(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	for at := time.Duration(0); at < trustMembers; at += time.Second {
		tr.Note("claims", 100, nil, t0.Add(at))
		if tr.MayServe("asker", 0, 100, t0.Add(at), nil) {
			t.Fatalf("served piece 0 %v after it was first asked for, while a fresh member holds it", at)
		}
	}
	tr.Note("claims", 100, nil, t0.Add(trustMembers))
	if !tr.MayServe("asker", 0, 100, t0.Add(trustMembers), nil) {
		t.Fatal("the member that holds piece 0 has not passed it on: the origin should serve it now")
	}
}
