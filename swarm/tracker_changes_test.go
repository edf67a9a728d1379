package swarm

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// membersSinceByScan is Members for an asker with a since, computed
// from the whole table: every member changed after since, other than
// except, heard from within MemberTTL and in except's view (inView,
// TestTrackerViews), by change, at most changedPerAnswer, and how far
// the answer got.
func membersSinceByScan(t *Tracker, except string, since uint64, now time.Time) ([]Member, uint64) {
	var changed []*heard
	for id, m := range t.members {
		if m.changed > since && id != except && now.Sub(m.seen) <= MemberTTL && t.inView(t.members[except], m) {
			changed = append(changed, m)
		}
	}
	slices.SortFunc(changed, func(a, b *heard) int { return int(a.changed) - int(b.changed) })
	version := t.version
	if len(changed) > changedPerAnswer {
		changed = changed[:changedPerAnswer]
		version = changed[len(changed)-1].changed
	}
	res := []Member{}
	for _, m := range changed {
		res = append(res, Member{Peer: m.id, Have: m.have, Pieces: m.extra, Ref: m.ref, Named: m.added > since})
	}
	return res, version
}

// Later answers, which walk the members changed since the asker's
// version, name what a scan of the whole table would, through members
// noted, changed, forgotten to make room and expired; an asker told of
// members lately is told of none.
func TestTrackerMembersSinceMatchesAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tr := NewTracker(1)
	now := time.Unix(1_800_000_000, 0)
	var versions []uint64
	lately, told := 0, 0 // answers that named none for that, and that named some
	// The model of refs and names: a member gets the next ref when it
	// is added (again), and is named to askers whose since is below the
	// version of its first change.
	refs, added := map[string]int{}, map[string]uint64{}
	nextRef := 0
	byRef, byName := 0, 0
	for step := range 20000 {
		now = now.Add(time.Duration(rng.IntN(50)) * time.Millisecond)
		if step%5000 == 4999 {
			now = now.Add(MemberTTL / 2) // some members expire
		}
		peer := "p" + strconv.Itoa(rng.IntN(maxMembers+100))
		switch rng.IntN(3) {
		case 0, 1:
			var extra []int
			for range rng.IntN(3) {
				extra = append(extra, rng.IntN(8))
			}
			if tr.members[peer] == nil {
				nextRef++
				refs[peer] = nextRef
				delete(added, peer)
			}
			tr.Note(peer, int64(rng.IntN(1000)), extra, now)
			if _, ok := added[peer]; !ok && tr.members[peer].changed != 0 {
				added[peer] = tr.members[peer].changed
			}
		case 2:
			var since uint64
			if len(versions) > 0 && rng.IntN(8) != 0 {
				since = versions[rng.IntN(len(versions))]
			}
			// An asker told of members lately is told of none, and
			// keeps its version (Members).
			asker := tr.members[peer]
			toldLately := asker != nil && now.Sub(asker.told) < tr.tellEvery()
			want, wv := membersSinceByScan(tr, peer, since, now)
			if toldLately {
				want, wv = nil, since
				lately++
			} else if len(want) > 0 {
				told++
			}
			got, v := tr.Members(peer, since, nil, now)
			if since == 0 || since > tr.version {
				versions = append(versions, v)
				continue
			}
			if v != wv || len(got) != len(want) {
				t.Fatalf("step %d: since %d: %d members to version %d, want %d to %d", step, since, len(got), v, len(want), wv)
			}
			for i := range got {
				if got[i].Peer != want[i].Peer || got[i].Have != want[i].Have || !slices.Equal(got[i].Pieces, want[i].Pieces) {
					t.Fatalf("step %d: since %d: member %d is %+v, want %+v", step, since, i, got[i], want[i])
				}
				p := got[i].Peer
				if got[i].Ref != refs[p] || got[i].Named != (added[p] > since) {
					t.Fatalf("step %d: since %d: member %s has ref %d, named %v; want ref %d, named %v", step, since, p, got[i].Ref, got[i].Named, refs[p], added[p] > since)
				}
				if got[i].Named {
					byName++
				} else {
					byRef++
				}
			}
			versions = append(versions, v)
		}
	}
	if byRef == 0 || byName == 0 {
		t.Fatalf("%d members named by ref alone, %d by name: want both", byRef, byName)
	}
	if lately == 0 || told == 0 {
		t.Fatalf("%d answers held back for an asker told lately, %d named members: want both", lately, told)
	}
}
