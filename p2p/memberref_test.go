package p2p

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/swarm"
)

func TestMemberRefJSON(t *testing.T) {
	tests := []struct {
		name string
		ref  MemberRef
		wire string
	}{
		{"by ref", MemberRef{Ref: 3, Have: 1048576}, `[3,1048576]`},
		{"named", MemberRef{Ref: 3, Have: 0, Peer: "12D3KooWabc"}, `[3,0,"12D3KooWabc"]`},
		{"pieces", MemberRef{Ref: 3, Have: 5, Pieces: []int{7, 9}}, `[3,5,"",[7,9]]`},
		{"named with pieces", MemberRef{Ref: 12, Have: 5, Peer: "p", Pieces: []int{7}}, `[12,5,"p",[7]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.ref)
			if err != nil || string(b) != tt.wire {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tt.wire)
			}
			var back MemberRef
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tt.ref) {
				t.Fatalf("Unmarshal(%s) = %+v, %v; want %+v", b, back, err, tt.ref)
			}
		})
	}
}

func TestMemberRefJSONRefusesOtherShapes(t *testing.T) {
	for _, wire := range []string{
		`{}`, `[]`, `[3]`, `[3,1,"p",[1],5]`, `["3",1]`, `[3,"1"]`, `[0,1]`, `[-2,1]`,
		`[null,1]`, `[3,null]`, `[3,1,null]`, `[3,1,5]`, `[3,1,"p",null]`, `[3,1,"p",["x"]]`,
		`[3.5,1]`, `[3,1e3]`, `[99999999999999999999,1]`, `null`, `"x"`,
	} {
		var m MemberRef
		if err := json.Unmarshal([]byte(wire), &m); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", wire, m)
		}
	}
	// A whole answer with a bad entry is refused, not half taken.
	var r Response
	if err := json.Unmarshal([]byte(`{"size":1,"member_refs":[[1,2],[3]]}`), &r); err == nil {
		t.Errorf("an answer with a bad member ref was taken: %+v", r)
	}
}

// FuzzMemberRef: whatever a peer sends, reading it neither panics nor
// takes a shape other than the array's; what is taken is written back
// as it reads again.
func FuzzMemberRef(f *testing.F) {
	for _, s := range []string{`[3,1048576]`, `[3,0,"12D3KooWabc"]`, `[3,5,"",[7,9]]`, `[1,2,"\u00e9",[]]`, `[3,1,null]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, wire string) {
		var m MemberRef
		if err := json.Unmarshal([]byte(wire), &m); err != nil {
			return
		}
		if m.Ref <= 0 {
			t.Fatalf("took ref %d from %s", m.Ref, wire)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back MemberRef
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s, written back as %s, does not read: %v", wire, b, err)
		}
		if len(back.Pieces) == 0 && len(m.Pieces) == 0 {
			back.Pieces, m.Pieces = nil, nil
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("%s read as %+v, written as %s, read back as %+v", wire, m, b, back)
		}
	})
}

// An asker that asks for refs hears of each member by its peer ID once
// and by ref after that, the answer carries no members by name, and the
// refs it asks for are named; an asker that does not ask (a node of an
// earlier release) hears of every member by name as before.
func TestSwarmAnswersNameMembersByRef(t *testing.T) {
	a, b, d, ctx, ms := holderWithMembers(t, PieceSize, 0)
	m1, m2, m3 := ms[0], ms[1], testpeer.ID(t)
	repo := repository.Local("team/app")
	status := func(req Request) *Response {
		t.Helper()
		req.Digest, req.Repo, req.Status, req.Swarm = d, repo.Key(), true, true
		s, err := b.h.Open(ctx, a.h.ID(), req)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		return &s.Response
	}
	named := func(rs []MemberRef) map[string]int {
		out := map[string]int{}
		for _, r := range rs {
			if r.Peer != "" {
				out[r.Peer] = r.Ref
			}
		}
		return out
	}

	first := status(Request{MemberRefs: true})
	refs := named(first.MemberRefs)
	if len(first.Members) != 0 || len(first.MemberRefs) != 2 || refs[m1.String()] == 0 || refs[m2.String()] == 0 {
		t.Fatalf("first answer: members %v, refs %+v; want m1 and m2 by ref and name", first.Members, first.MemberRefs)
	}

	// m2 moves on and m3 arrives: m2 comes by ref alone, m3 named.
	a.h.tracker.note(d, m2, 2*PieceSize, nil, time.Now())
	a.h.tracker.note(d, m3, PieceSize, nil, time.Now())
	time.Sleep(tellEvery)
	next := status(Request{MemberRefs: true, MembersSince: first.MembersVersion})
	byRef := slices.IndexFunc(next.MemberRefs, func(r MemberRef) bool { return r.Ref == refs[m2.String()] })
	if len(next.MemberRefs) != 2 || byRef < 0 || next.MemberRefs[byRef].Peer != "" || next.MemberRefs[byRef].Have != 2*PieceSize || named(next.MemberRefs)[m3.String()] == 0 {
		t.Fatalf("after m2 moved and m3 came: %+v; want m2 by ref alone at %d and m3 named", next.MemberRefs, 2*PieceSize)
	}

	// Asked to name m1, it does, though m1 has not changed.
	time.Sleep(tellEvery)
	asked := status(Request{MemberRefs: true, MembersSince: next.MembersVersion, NeedRefs: []int{refs[m1.String()], 999}})
	if got := named(asked.MemberRefs); len(asked.MemberRefs) != 1 || got[m1.String()] != refs[m1.String()] {
		t.Fatalf("asked to name m1 (and a ref it never gave): %+v; want m1 alone", asked.MemberRefs)
	}

	// A node of an earlier release hears of every member by name.
	old := status(Request{})
	if len(old.MemberRefs) != 0 || len(old.Members) != 3 {
		t.Fatalf("an asker of an earlier release got members %v, refs %+v; want the three by name", old.Members, old.MemberRefs)
	}
}

// A busy answer carries members by ref too, to an asker that asks so.
func TestBusyAnswersNameMembersByRef(t *testing.T) {
	a, b, d, ctx := holderAndAsker(t, 3*PieceSize)
	a.h.slots = sharedSlots{slots: &swarm.Slots{}}
	m1 := testpeer.ID(t)
	a.h.tracker.note(d, m1, PieceSize, nil, time.Now())
	_, err := b.h.Open(ctx, a.h.ID(), Request{Digest: d, Repo: repository.Local("team/app").Key(), Length: PieceSize, Swarm: true, MemberRefs: true})
	var busy *busyError
	if !errors.As(err, &busy) {
		t.Fatalf("Open = %v, want a busy answer", err)
	}
	if len(busy.members) != 0 || len(busy.refs) != 1 || busy.refs[0].Peer != m1.String() || busy.refs[0].Ref <= 0 {
		t.Fatalf("busy answer: members %v, refs %+v; want m1 by ref and name", busy.members, busy.refs)
	}
}

// The wire form is what swarmsim costs it at (bench/cmd/swarmsim/wire.go):
// an entry by ref alone is a few bytes, not a peer ID's 52.
func TestMemberRefIsSmall(t *testing.T) {
	b, _ := json.Marshal([]MemberRef{{Ref: 17, Have: 67108864}})
	if len(b) > 16 || strings.Contains(string(b), "peer") {
		t.Fatalf("an entry by ref is %d bytes (%s), want at most 16", len(b), b)
	}
}
