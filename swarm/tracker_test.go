package swarm

import (
	"fmt"
	"slices"
	"strconv"
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
	got := members(tr, "c", t0)
	if len(got) != 2 || got[0].Peer != "b" || got[0].Have != 30 || len(got[0].Pieces) != 1 || got[1].Peer != "a" || got[1].Have != 10 {
		t.Fatalf("members = %+v, want b (30, piece 5) then a (10), without c", got)
	}
	if got := members(tr, "", t0.Add(MemberTTL+time.Second)); len(got) != 0 {
		t.Fatalf("members after their TTL = %+v, want none", got)
	}
}

func TestTrackerBounds(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	for i := range maxMembers + 10 {
		tr.Note(fmt.Sprint("p", i), int64(i), make([]int, 2*maxExtra), t0.Add(time.Duration(i)*time.Millisecond))
	}
	got := members(tr, "", t0.Add(time.Second))
	if len(got) != MembersPerAnswer || got[0].Have != maxMembers+9 || len(got[0].Pieces) != maxExtra {
		t.Fatalf("%d members, first %+v: want %d, the one holding most first, pieces cut to %d", len(got), got[0].Have, MembersPerAnswer, maxExtra)
	}
	if len(tr.members) != maxMembers || tr.members["p0"] != nil {
		t.Fatalf("table holds %d members (p0 kept: %v), want %d without the oldest", len(tr.members), tr.members["p0"] != nil, maxMembers)
	}
	// A member's word is cut to maxExtra pieces, and what is kept must
	// not hold on to the rest: a request's list of a million pieces
	// kept 8 MB per member, per blob, for MemberTTL.
	tr.Note("big", 0, make([]int, 1<<20), t0.Add(time.Second))
	if m := tr.members["big"]; len(m.extra) != maxExtra || cap(m.extra) > 2*maxExtra {
		t.Fatalf("kept %d pieces in an array of %d, want %d in one of at most %d", len(m.extra), cap(m.extra), maxExtra, 2*maxExtra)
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

// A piece sent whole makes its asker a holder of it for GivenFor (Gave):
// the next asker is sent away, not given a second copy, before the first
// says so itself; answers do not name it for the piece until it does.
// One that never says so is no holder after GivenFor.
func TestTrackerGave(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, gave := range []bool{false, true} {
		tr := NewTracker(1)
		tr.Note("first", 0, nil, t0)
		tr.Note("second", 0, nil, t0)
		if !tr.MayServe("first", 0, 100, t0, nil) {
			t.Fatal("no one holds piece 0: serve it")
		}
		done := t0.Add(4 * time.Second)
		tr.Sent(0, true, done)
		if gave {
			tr.Gave("first", 0, 100, done)
		}
		if got := tr.MayServe("second", 0, 100, done, nil); got == gave {
			t.Fatalf("gave %v: MayServe to the second asker = %v", gave, got)
		}
		if !gave {
			continue
		}
		ms, _ := tr.Members("second", 0, nil, done)
		for _, m := range ms {
			if m.Peer == "first" && (m.Have >= 100 || slices.Contains(m.Pieces, 0)) {
				t.Fatalf("answers name the first asker holding piece 0 before it says so: %+v", m)
			}
		}
		// A request it sent before the piece reached it says it lacks
		// the piece: the presumption stands.
		tr.Note("first", 0, nil, done.Add(GivenFor/2))
		if tr.MayServe("second", 0, 100, done.Add(GivenFor/2), nil) {
			t.Fatal("the piece went to the first asker just now: send the second away")
		}
		if !tr.MayServe("second", 0, 100, done.Add(GivenFor), nil) {
			t.Fatalf("the first asker has not said it holds piece 0 %v on: serve the piece", GivenFor)
		}
	}
}

// Taken tells a declined asker to ask at once for another piece only
// while the node holds one that no copy of has begun, and only in a
// swarm small enough that every asker hears of every member.
func TestTrackerTaken(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	tr.Note("a", 0, nil, t0)
	tr.Note("b", 0, nil, t0)
	if tr.Taken(0) {
		t.Fatal("the node holds no piece: nothing else to ask for")
	}
	tr.Holds(2)
	if !tr.MayServe("a", 0, 100, t0, nil) {
		t.Fatal("no one holds piece 0: serve it")
	}
	if tr.MayServe("b", 0, 100, t0, nil) {
		t.Fatal("piece 0's first copy is on its way: decline the second asker")
	}
	if !tr.Taken(0) {
		t.Fatal("piece 1 has no copy out: the asker should ask for it at once")
	}
	if !tr.MayServe("b", 1, 200, t0, nil) {
		t.Fatal("no one holds piece 1: serve it")
	}
	if tr.Taken(0) || tr.Taken(1) {
		t.Fatal("every piece held has a copy out: the asker should wait")
	}
	tr.Sent(1, false, t0) // broken off: piece 1 has no copy out again
	if !tr.Taken(0) {
		t.Fatal("piece 1's copy was given back: the asker should ask for it")
	}
	for i := range 2 * viewSize {
		tr.Note(fmt.Sprint("m", i), 0, nil, t0)
	}
	if tr.Taken(0) {
		t.Fatalf("a swarm of %d members: no taken answers", 2*viewSize+2)
	}
}

func TestTrackerSameSeedSameAnswer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	answer := func() []Member {
		tr := NewTracker(7)
		for i := range 200 {
			tr.Note(fmt.Sprint("p", i), 0, nil, t0)
		}
		return members(tr, "", t0)
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
	members(tr, "", t0)
	tr.Note("a", 50, []int{9}, t0.Add(time.Millisecond))
	tr.Note("b", 20, nil, t0.Add(time.Millisecond))
	got := members(tr, "", t0.Add(rankEvery-time.Millisecond))
	if len(got) != 1 || got[0].Have != 50 || len(got[0].Pieces) != 1 {
		t.Fatalf("within rankEvery: %+v, want a alone, with its news", got)
	}
	got = members(tr, "", t0.Add(rankEvery))
	if len(got) != 2 || got[0].Peer != "a" || got[1].Peer != "b" {
		t.Fatalf("after rankEvery: %+v, want a then b", got)
	}
	if got := members(tr, "a", t0.Add(rankEvery)); len(got) != 1 || got[0].Peer != "b" {
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

// members is every member an asker with no earlier answer is told of.
func members(tr *Tracker, except string, now time.Time) []Member {
	ms, _ := tr.Members(except, 0, nil, now)
	return ms
}

// An asker that passes the version of its last answer hears only of the
// members whose entries changed since: what they hold, the pieces they
// hold beyond it, or their entering the ranked few.
func TestTrackerMembersSince(t *testing.T) {
	t0 := time.Unix(1000, 0)
	names := func(ms []Member) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Peer)
		}
		return out
	}
	tests := []struct {
		name  string
		after func(tr *Tracker, now time.Time)
		want  []string
	}{
		{"nothing changed", func(tr *Tracker, now time.Time) {}, nil},
		{"the same figures again", func(tr *Tracker, now time.Time) {
			tr.Note("a", 10, nil, now)
			tr.Note("b", 30, []int{5}, now)
		}, nil},
		{"an older figure", func(tr *Tracker, now time.Time) { tr.Note("b", 20, []int{5}, now) }, nil},
		{"more held", func(tr *Tracker, now time.Time) { tr.Note("a", 11, nil, now) }, []string{"a"}},
		{"other pieces beyond", func(tr *Tracker, now time.Time) { tr.Note("b", 30, []int{6}, now) }, []string{"b"}},
		{"a new member", func(tr *Tracker, now time.Time) { tr.Note("c", 0, nil, now) }, []string{"c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(1)
			tr.Note("a", 10, nil, t0)
			tr.Note("b", 30, []int{5}, t0)
			first, v := tr.Members("x", 0, nil, t0)
			if len(first) != 2 || v == 0 {
				t.Fatalf("first answer %v at version %d, want a and b", names(first), v)
			}
			now := t0.Add(rankEvery)
			tc.after(tr, now)
			got, v2 := tr.Members("x", v, nil, now)
			if !slices.Equal(names(got), tc.want) {
				t.Fatalf("since %d: %v, want %v", v, names(got), tc.want)
			}
			if v2 < v {
				t.Fatalf("version went back from %d to %d", v, v2)
			}
			want := len(first)
			if slices.Contains(tc.want, "c") {
				want++
			}
			if all, _ := tr.Members("x", 0, nil, now); len(all) != want {
				t.Fatalf("since 0: %v, want every member", names(all))
			}
		})
	}
}

// A table made again (the node forgot the blob) starts above every
// version the old one gave out, and a version from elsewhere (above the
// table's own) gets every member: neither may leave an asker without
// members it was never told of.
func TestTrackerMembersSinceAnotherTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	old := NewTracker(1)
	for i := range 100 {
		old.Note(fmt.Sprint("p", i), int64(i), nil, t0)
	}
	_, v := old.Members("", 0, nil, t0)
	fresh := NewTracker(2)
	fresh.Note("a", 1, nil, t0.Add(time.Second))
	if got, _ := fresh.Members("", v, nil, t0.Add(time.Second)); len(got) != 1 {
		t.Fatalf("a new table since the old one's version %d: %d members, want a", v, len(got))
	}
	if got, _ := fresh.Members("", ^uint64(0), nil, t0.Add(time.Second)); len(got) != 1 {
		t.Fatalf("since a version above the table's: %d members, want a", len(got))
	}
}

// More changes than an answer carries come in the answers that follow,
// those made first first: none is lost, however many there are.
func TestTrackerMembersSinceCarriesOn(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	tr.Note("a", 0, nil, t0)
	_, v := tr.Members("", 0, nil, t0)
	const n = 3*changedPerAnswer + 5
	for i := range n {
		tr.Note(fmt.Sprint("p", i), int64(i), nil, t0)
	}
	tr.Note("a", 1, nil, t0) // changed last
	var got []string
	for range 10 {
		ms, next := tr.Members("", v, nil, t0)
		if len(ms) > changedPerAnswer {
			t.Fatalf("%d members in one answer, want at most %d", len(ms), changedPerAnswer)
		}
		for _, m := range ms {
			got = append(got, m.Peer)
		}
		if next == v {
			break
		}
		v = next
	}
	if len(got) != n+1 || got[0] != "p0" || got[n] != "a" {
		t.Fatalf("changes heard: %d (first %v, last %v), want %d, p0 first and a last", len(got), got[:1], got[len(got)-1:], n+1)
	}
}

// A node answers news questions at most statusRate times a second in
// all, or as many as a share of its measured upload carries when that is
// more, however many members ask, within the bounds every asker keeps
// to.
func TestTrackerStatusEvery(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const (
		mbit = 1e6 / 8 // bytes a second
		// at100 is the questions a second statusShare of 100 Mbit/s
		// carries: 1,220.7.
		at100 = 100 * mbit * statusShare / statusAnswerBytes
	)
	tests := []struct {
		members int
		uplink  float64 // bytes a second
		want    time.Duration
	}{
		{0, 0, StatusInterval},
		{10, 0, StatusInterval},
		{statusRate / 4, 0, StatusInterval},
		{49, 0, 49 * time.Second / statusRate},
		{200, 0, 200 * time.Second / statusRate},
		{maxMembers, 0, MaxStatusInterval},
		// 4 Mbit/s carries fewer than statusRate: the fixed rate.
		{200, 4 * mbit, 200 * time.Second / statusRate},
		{maxMembers, 4 * mbit, MaxStatusInterval},
		// 100 Mbit/s: 1,220 a second.
		{200, 100 * mbit, StatusInterval},
		{maxMembers, 100 * mbit, time.Duration(maxMembers / at100 * float64(time.Second))},
		{maxMembers, 40 * mbit, time.Duration(maxMembers / (at100 * 0.4) * float64(time.Second))},
	}
	for _, tc := range tests {
		tr := NewTracker(1)
		for i := range tc.members {
			tr.Note(fmt.Sprint("p", i), 0, nil, t0)
		}
		tr.SetUplink(tc.uplink)
		if got := tr.StatusEvery(); got != tc.want {
			t.Errorf("%d members, uplink %.0f B/s: every %v, want %v", tc.members, tc.uplink, got, tc.want)
		}
	}
	for _, d := range []time.Duration{0, time.Millisecond, time.Hour} {
		if got := StatusAfter(d); got < StatusInterval || got > MaxStatusInterval {
			t.Errorf("StatusAfter(%v) = %v, want within [%v, %v]", d, got, StatusInterval, MaxStatusInterval)
		}
	}
}

// An asker told of members less than tellEvery ago is told of none, and
// keeps its version, so that the changes come in its next answer after
// that; a first answer, and other askers, are not held back.
func TestTrackerMembersToldLately(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name  string
		asker string
		since func(v uint64) uint64
		after time.Duration
		want  int
	}{
		{"asked again at once", "x", func(v uint64) uint64 { return v }, 0, 0},
		{"asked again just before tellEvery", "x", func(v uint64) uint64 { return v }, StatusInterval/4 - time.Millisecond, 0},
		{"asked again at tellEvery", "x", func(v uint64) uint64 { return v }, StatusInterval / 4, 1},
		{"a first answer again", "x", func(uint64) uint64 { return 0 }, 0, 2}, // a and y: the ranking is rankEvery old
		{"another asker", "y", func(v uint64) uint64 { return v }, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(1)
			tr.Note("a", 10, nil, t0)
			tr.Note("x", 0, nil, t0)
			tr.Note("y", 0, nil, t0)
			_, v := tr.Members("x", 0, nil, t0)
			if tc.asker == "y" {
				tr.Members("y", 0, nil, t0.Add(-time.Hour)) // told long ago
			}
			tr.Note("b", 5, nil, t0)
			now := t0.Add(tc.after)
			got, v2 := tr.Members(tc.asker, tc.since(v), nil, now)
			if len(got) != tc.want {
				t.Fatalf("%d members %+v, want %d", len(got), got, tc.want)
			}
			if tc.want == 0 && v2 != v {
				t.Fatalf("version %d after an answer that named none, want %d kept", v2, v)
			}
			if tc.want == 0 {
				if got, _ := tr.Members(tc.asker, v2, nil, now.Add(tr.tellEvery())); len(got) != 1 || got[0].Peer != "b" {
					t.Fatalf("next answer after tellEvery: %+v, want b", got)
				}
			}
		})
	}
}

// Up to 2*viewSize members every asker hears of every other; beyond,
// each hears of about viewSize, a member hears of an asker when the
// asker hears of it, and the views differ, so that askers spread over
// the table instead of all asking the same few.
func TestTrackerViews(t *testing.T) {
	for _, n := range []int{2, viewSize, 2*viewSize - 1, 2 * viewSize, 3 * viewSize, maxMembers} {
		tr := NewTracker(1)
		now := time.Unix(1_800_000_000, 0)
		var ms []*heard
		for i := range n {
			id := "p" + strconv.Itoa(i)
			tr.Note(id, 1, nil, now)
			ms = append(ms, tr.members[id])
		}
		seen := map[*heard]bool{}
		smallest, largest := n, 0
		for _, a := range ms {
			k := 0
			for _, b := range ms {
				if a == b {
					continue
				}
				in := tr.inView(a, b)
				if in != tr.inView(b, a) {
					t.Fatalf("n=%d: %s hears of %s: %v, and the other way: %v", n, a.id, b.id, in, !in)
				}
				if in {
					k++
					seen[b] = true
				}
			}
			smallest, largest = min(smallest, k), max(largest, k)
		}
		switch {
		case n < 2*viewSize && smallest != n-1:
			t.Fatalf("n=%d: an asker hears of %d members, want all %d others", n, smallest, n-1)
		case n >= 2*viewSize && (smallest < viewSize/2 || largest > 2*viewSize):
			t.Fatalf("n=%d: askers hear of %d to %d members, want about %d", n, smallest, largest, viewSize)
		case len(seen) != n:
			t.Fatalf("n=%d: %d members are in some asker's view, want all", n, len(seen))
		}
		t.Logf("n=%d: askers hear of %d to %d members", n, smallest, largest)
	}
	if (&Tracker{}).inView(nil, &heard{}) != true {
		t.Fatal("an asker not in the table (no ref) hears of every member")
	}
}

// In a large table the origin sends an asker away only to holders the
// asker hears of: one it is not told of would leave it asking the origin
// until trustMembers.
func TestTrackerMayServeCountsHoldersInView(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tr := NewTracker(1)
	for i := range 3 * viewSize {
		tr.Note("p"+strconv.Itoa(i), 0, nil, now)
	}
	asker := tr.members["p0"]
	var in, out string
	for _, m := range tr.order[1:] {
		if tr.inView(asker, m) && in == "" {
			in = m.id
		}
		if !tr.inView(asker, m) && out == "" {
			out = m.id
		}
	}
	if in == "" || out == "" {
		t.Fatal("no member in and out of p0's view")
	}
	tests := []struct {
		name   string
		holder string
		want   bool
	}{
		{"a holder out of view", out, true},
		{"a holder in view", in, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr.Note(tt.holder, int64(i+1)<<20, nil, now)
			if got := tr.MayServe("p0", i, int64(i+1)<<20, now, nil); got != tt.want {
				t.Fatalf("MayServe = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTrackerCountsOnlyTheBlobsPieces(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	tr.Note("a", 0, nil, t0)
	// Before the size is known any piece may be asked for.
	if !tr.MayServe("a", 7, 8<<20, t0, nil) {
		t.Fatal("piece 7 of a blob of unknown size declined")
	}
	tr.SetPieces(4)
	for i := 4; i < 10_000; i++ {
		if tr.MayServe("a", i, int64(i+1)<<20, t0, nil) {
			t.Fatalf("piece %d of a blob of 4 served", i)
		}
	}
	if tr.MayServe("a", -1, 0, t0, nil) {
		t.Fatal("piece -1 served")
	}
	if n := len(tr.sent.sent); n != 1 {
		t.Fatalf("the table counts copies of %d pieces, want the one asked for before the size was known", n)
	}
	if !tr.MayServe("a", 3, 4<<20, t0, nil) {
		t.Fatal("the blob's last piece declined")
	}
}

// A member an answer lists anyway and the asker asks for by ref is
// listed once, by name.
func TestTrackerNamesAMemberOnce(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewTracker(1)
	tr.Note("a", 30, nil, t0)
	tr.Note("b", 20, nil, t0)
	tr.Note("x", 0, nil, t0)
	refA := tr.members["a"].ref
	first, version := tr.Members("x", 0, []int{refA}, t0)
	tr.Note("a", 40, nil, t0.Add(time.Second))
	later, _ := tr.Members("x", version, []int{refA}, t0.Add(2*time.Second))
	for _, ms := range [][]Member{first, later} {
		n := 0
		for _, m := range ms {
			if m.Peer == "a" {
				n++
				if !m.Named {
					t.Errorf("a listed but not named: %+v", ms)
				}
			}
		}
		if n != 1 {
			t.Errorf("a listed %d times: %+v", n, ms)
		}
	}
}
