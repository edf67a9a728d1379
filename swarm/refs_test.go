package swarm

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestRefsTake(t *testing.T) {
	tests := []struct {
		name     string
		before   []Member // taken first
		take     Member
		wantPeer string
		wantOK   bool
		wantNeed []int
	}{
		{name: "named", take: Member{Ref: 3, Peer: "a", Named: true}, wantPeer: "a", wantOK: true},
		{name: "known by ref", before: []Member{{Ref: 3, Peer: "a", Named: true}}, take: Member{Ref: 3}, wantPeer: "a", wantOK: true},
		{name: "unknown ref is needed", take: Member{Ref: 7}, wantNeed: []int{7}},
		{name: "needed once", before: []Member{{Ref: 7}}, take: Member{Ref: 7}, wantNeed: []int{7}},
		{name: "named later is no longer needed", before: []Member{{Ref: 7}, {Ref: 8}}, take: Member{Ref: 7, Peer: "b", Named: true}, wantPeer: "b", wantOK: true, wantNeed: []int{8}},
		{name: "renamed", before: []Member{{Ref: 3, Peer: "a", Named: true}}, take: Member{Ref: 3, Peer: "b", Named: true}, wantPeer: "b", wantOK: true},
		{name: "named without a peer", take: Member{Ref: 3, Named: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Refs
			for _, m := range tt.before {
				r.Take(m)
			}
			p, ok := r.Take(tt.take)
			if p != tt.wantPeer || ok != tt.wantOK {
				t.Errorf("Take = %q, %v; want %q, %v", p, ok, tt.wantPeer, tt.wantOK)
			}
			if got := r.Need(); !slices.Equal(got, tt.wantNeed) {
				t.Errorf("Need = %v, want %v", got, tt.wantNeed)
			}
			if got := r.Need(); got != nil {
				t.Errorf("Need again = %v, want none", got)
			}
		})
	}
}

func TestRefsNeedIsBounded(t *testing.T) {
	var r Refs
	for i := range 3 * MaxNeed {
		r.Take(Member{Ref: i})
	}
	if n := len(r.Need()); n != MaxNeed {
		t.Fatalf("%d refs needed, want %d", n, MaxNeed)
	}
}

// An asker that follows one table with its cursor and a Refs book, as
// p2p's swarm fetch does (entries by ref alone carry no peer on the
// wire), resolves every entry to the peer it stands for, never to
// another, through members added, changed, forgotten to make room and
// expired; those it cannot resolve at once (members a first answer left
// out) it resolves in its next answer by asking for them.
func TestRefsFollowATable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tr := NewTracker(1)
	now := time.Unix(1_800_000_000, 0)
	const askers = 4
	var (
		books [askers]Refs
		since [askers]uint64
		asked [askers][]int // refs asked for in the last request
	)
	resolved, unresolved, byRef := 0, 0, 0
	for step := range 30000 {
		now = now.Add(time.Duration(rng.IntN(40)) * time.Millisecond)
		if step%7000 == 6999 {
			now = now.Add(MemberTTL / 2)
		}
		if rng.IntN(3) != 0 {
			peer := "p" + strconv.Itoa(rng.IntN(maxMembers+200))
			tr.Note(peer, int64(rng.IntN(1000)), nil, now)
			continue
		}
		a := rng.IntN(askers)
		me := "asker" + strconv.Itoa(a)
		tr.Note(me, 0, nil, now)
		ms, v := tr.Members(me, since[a], asked[a], now)
		for _, r := range asked[a] {
			i := slices.IndexFunc(tr.order, func(m *heard) bool { return m.ref == r })
			if i < 0 || tr.order[i].id == me || now.Sub(tr.order[i].seen) > MemberTTL {
				continue // gone: nothing to name
			}
			if !slices.ContainsFunc(ms, func(m Member) bool { return m.Ref == r && m.Named }) {
				t.Fatalf("step %d: asker %d asked for ref %d, still in the table, and was not told its name", step, a, r)
			}
		}
		since[a] = v
		for _, m := range ms {
			onWire := m
			if !m.Named {
				onWire.Peer = ""
				byRef++
			}
			p, ok := books[a].Take(onWire)
			switch {
			case ok && p != m.Peer:
				t.Fatalf("step %d: asker %d resolved ref %d to %s, want %s", step, a, m.Ref, p, m.Peer)
			case ok:
				resolved++
			default:
				unresolved++
			}
		}
		asked[a] = books[a].Need()
	}
	if byRef == 0 || unresolved == 0 {
		t.Fatalf("%d entries by ref, %d unresolved at first: the test did not reach the cases it is for", byRef, unresolved)
	}
	t.Logf("%d entries resolved, %d by ref alone, %d asked for", resolved, byRef, unresolved)
}
