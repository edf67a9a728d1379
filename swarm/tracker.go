package swarm

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"
)

// A node remembers, per blob, the peers that asked it for pieces of that
// blob recently and how much of it each said it holds. The designated
// fetcher of a blob is asked by every node that fetches it, so it is the
// blob's tracker without anyone running one: each answer carries the
// swarm it knows, and askers then fetch from each other. Other nodes
// answer with the members they have heard from too.
const (
	// MemberTTL is how long a member that has not been heard from is
	// passed on.
	MemberTTL = time.Minute
	// maxMembers bounds the members kept per blob, so a busy node's
	// table stays small.
	maxMembers = 512
	// MembersPerAnswer bounds the members a first answer carries.
	MembersPerAnswer = 64
	// viewSize is about how many members one asker hears the changes
	// of (inView).
	viewSize = 64
	// changedPerAnswer bounds the members whose entries changed that
	// a later answer carries (Members).
	changedPerAnswer = 16
	// rankEvery is how often the members are ranked for answers.
	rankEvery = 100 * time.Millisecond
	// maxExtra bounds the out-of-order pieces kept per member: a fetch
	// holds a window of Window pieces.
	maxExtra = 64
	// holderFresh is how recently a member must have been heard from
	// for this node to send askers of a piece to it instead of serving
	// the piece itself: a member that left stops being heard from.
	holderFresh = 10 * time.Second
	// statusRate is how many status questions a second a blob's
	// members ask this node in all (StatusEvery), at least.
	statusRate = 64
	// statusShare is the share of the node's measured upload that its
	// status answers may take, each about statusAnswerBytes, when that
	// is more than statusRate a second (StatusEvery).
	statusShare       = 0.1
	statusAnswerBytes = 1024
	// trustMembers is how long after a piece is first asked for the
	// origin sends its askers to the members that say they hold it
	// (MayServe).
	trustMembers = 10 * time.Second
	// GivenFor is how long a piece sent whole to a member counts as
	// held by it (Gave) while its own word does not say so yet. In the
	// simulation (one layer at 4 Mbit/s) 1 s did better than 500 ms
	// and as well as 2 s.
	GivenFor = time.Second
)

// Member is a peer fetching or holding a blob, as a tracker last heard.
type Member struct {
	Peer string
	Have int64
	// Pieces are whole pieces it holds beyond Have.
	Pieces []int
	// Ref is the number this table gave the member, for answers that
	// name a member by it instead of by its peer ID (Refs); Named says
	// the asker may not know the member by Ref yet, so the answer must
	// carry Peer too.
	Ref   int
	Named bool
}

// Tracker is one blob's member table on one node: who asked for it, how
// much each holds, and how many copies of each piece this node has sent.
// It is not safe for concurrent use.
type Tracker struct {
	touched time.Time
	members map[string]*heard
	// order is the members in the order first heard, for stable
	// answers; it holds their entries, so that a scan over it need not
	// look each one up by name.
	order []*heard
	sent  Spread
	rng   *rand.Rand
	// changes logs each change of a member's entry, by version: a
	// later answer (Members) finds the first change after its asker's
	// version by bisection and reads on from there, instead of
	// scanning every member. A member's older changes, and those of
	// members gone, stay until the log is compacted.
	changes []change
	// ranked are the members holding most as of rankedAt (Members).
	ranked   []string
	rankedAt time.Time
	// version counts the changes to what answers say (Members): it
	// starts at the first Note's time in nanoseconds, so a table made
	// again for the blob (the old one forgotten) counts on from above
	// any version the old one gave out.
	version uint64
	// lastRef is the Ref given to the member added last. A table never
	// gives a Ref twice, and a table made again for the blob counts its
	// versions on from above the old one's, so it names every member to
	// an asker of the old one: an asker's book (Refs) is never wrong,
	// only short.
	lastRef int
	// uplink is the node's measured upload rate (SetUplink).
	uplink float64
	// holds is how many whole pieces this node holds (Holds).
	holds int
	// pieces is how many pieces the blob has; 0 while this node does not
	// know its size (SetPieces).
	pieces int
}

type heard struct {
	id    string
	have  int64
	extra []int
	// given are pieces sent to it whole lately (Gave).
	given []givenPiece
	seen  time.Time
	// told is when an answer to this member last named members
	// (Members).
	told time.Time
	// changed is the table's version when what answers say of this
	// member last changed.
	changed uint64
	// gone says it has left the table (its changes are void).
	gone bool
	// ref is its Member.Ref; added is the table's version when it was
	// added (Members names it by ref alone to askers past that version).
	ref   int
	added uint64
}

type givenPiece struct {
	i  int
	at time.Time
}

// change is an entry of Tracker.changes: m changed at version at; it
// stands if that is still m's last change and m is in the table.
type change struct {
	at uint64
	m  *heard
}

func (c change) stands() bool { return !c.m.gone && c.m.changed == c.at }

// NewTracker makes an empty table; seed breaks ties between members
// that hold as much, so that answers spread askers over them.
func NewTracker(seed uint64) *Tracker {
	return &Tracker{members: map[string]*heard{}, rng: rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc908))}
}

// Touched is when a member was last noted.
func (t *Tracker) Touched() time.Time { return t.touched }

// Note records that peer holds have bytes of the blob and the whole
// pieces extra beyond them, as it says. A full table forgets the member
// heard from least recently.
func (t *Tracker) Note(peer string, have int64, extra []int, now time.Time) {
	t.touched = now
	m := t.members[peer]
	if m == nil {
		if len(t.members) >= maxMembers {
			var oldest *heard
			for _, m := range t.order {
				if oldest == nil || oldest.id == "" || m.seen.Before(oldest.seen) {
					oldest = m
				}
			}
			t.forget(oldest.id)
		}
		t.lastRef++
		m = &heard{id: peer, have: -1, ref: t.lastRef}
		t.members[peer] = m
		t.order = append(t.order, m)
	}
	// A copy, not a slice of the caller's: that can be a request's
	// list of any length, and the table keeps this for MemberTTL.
	extra = slices.Clone(extra[:min(len(extra), maxExtra)])
	if have > m.have || !slices.Equal(extra, m.extra) {
		m.changed = t.bump(now)
		t.logChange(m)
		if m.added == 0 {
			m.added = m.changed
		}
	}
	m.have = max(m.have, have)
	m.extra = extra
	m.seen = now
}

// Gave records that piece i (ending at byte end) went whole to peer, a
// member: for GivenFor MayServe counts it a holder of the piece, and
// sends other askers away (to the holders answers name) rather than
// send a second copy. Its own word that it holds the piece comes with
// its next request, up to a status interval later, and only once the
// piece's last bytes, still below the write when it returned, reach it.
// In between the origin took every asker of a piece it had just sent for
// one more copy to make: in the simulation (20 nodes, 4 Mbit/s, 64 MiB
// in one layer) it sent most pieces twice, and its uplink, which carries
// the first copy of every piece, spent half its time on second copies.
//
// Answers do not name it for the piece until it says so: an asker sent
// to it before the piece is there waits on a piece its store follows in
// order (transfer.go), and in the simulation naming it took 2 Mbit/s
// rollouts from one upstream copy to 1.15-1.31. After GivenFor, or if
// it never says so, the piece goes to askers as before Gave.
func (t *Tracker) Gave(peer string, i int, end int64, now time.Time) {
	m := t.members[peer]
	if m == nil || m.have >= end {
		return
	}
	m.given = append(slices.DeleteFunc(m.given, func(g givenPiece) bool { return g.i == i || now.Sub(g.at) >= GivenFor }), givenPiece{i, now})
}

// gave says whether piece i went whole to m within GivenFor (Gave).
func (m *heard) gave(i int, now time.Time) bool {
	return slices.ContainsFunc(m.given, func(g givenPiece) bool { return g.i == i && now.Sub(g.at) < GivenFor })
}

// bump moves the version on and returns it.
func (t *Tracker) bump(now time.Time) uint64 {
	if t.version == 0 {
		t.version = uint64(max(1, now.UnixNano()))
	}
	t.version++
	return t.version
}

// logChange appends m's change, just made, to the log; a log more than
// twice the members (and a little) drops its void entries first, so it
// stays within a few times the table.
func (t *Tracker) logChange(m *heard) {
	if len(t.changes) >= 2*len(t.members)+32 {
		kept := t.changes[:0]
		for _, c := range t.changes {
			if c.stands() {
				kept = append(kept, c)
			}
		}
		clear(t.changes[len(kept):])
		t.changes = kept
	}
	t.changes = append(t.changes, change{m.changed, m})
}

func (t *Tracker) forget(peer string) {
	if m := t.members[peer]; m != nil {
		m.gone = true
	}
	delete(t.members, peer)
	if i := slices.IndexFunc(t.order, func(m *heard) bool { return m.id == peer }); i >= 0 {
		t.order = slices.Delete(t.order, i, i+1)
	}
}

// Members lists the members, other than except, heard from within
// MemberTTL, with what each holds now, and the version the asker passes
// as since next time.
//
// An asker with no earlier answer from this table (since 0, or a since
// above the table's version: it came from a table forgotten since, or
// from another node) gets up to MembersPerAnswer, those holding most
// first (ties in a random order). The ranking is redone at most every
// rankEvery: a designated fetcher answers every request of its swarm,
// most of them busy, and ranking up to maxMembers members for each was
// most of its work; a member first heard since waits that long to be
// passed on.
//
// Otherwise it gets the members whose entries changed after since, at
// most changedPerAnswer of them, those that changed first; version then
// says how far the answer got, so a change left out is in the next one
// (a cursor, as a changes feed). An answer that named every member was
// 5 KiB at 64 members, every asker of a blob asks its origin for news
// several times a second, and at 50 nodes those answers took more than a
// 4 Mbit/s uplink: every node fetched the blob from upstream
// (bench/RESULTS.md, "what answers cost").
//
// An asker (except) that an answer told of members less than a quarter
// of StatusEvery ago is told of none: its cursor stays where it was, so
// no change is lost, and the next answer after that carries them. An
// asker's busy answers came up to ProbeRate a second, and each named up
// to 16 members, about 1.3 KB of the holder's uplink against 300 bytes
// for the answer itself: at 200 nodes on 4 Mbit/s links they took the
// uplinks of the holders every asker tried first, and the simulated
// rollout took 3.2 times the no-sharing time; with the bound 2.4 times,
// and alike up to 100 nodes (bench/RESULTS.md, 2026-12-06 afternoon).
//
// Each member carries its Ref, and is Named (its peer ID to be sent)
// in a first answer and when it was added after since: an asker that
// follows the changes from since on was told of every member added
// before, by name, except those a first answer left out, which it asks
// for by Ref (need: every answer names those it asks for, whatever
// else it says). A member's entry by name was 75 bytes, 52 of
// them the peer ID; by Ref about 15.
//
// In a table of more than 2*viewSize members an asker hears only of
// the members in its view (inView), about viewSize of them: every asker
// learning every member's name and progress costs the origin's uplink
// in proportion to the square of the swarm, and at 200 nodes on 4
// Mbit/s links the simulated rollout took 2.0x the no-sharing time with
// every member named to every asker, 1.6x with views (bench/RESULTS.md,
// 2026-12-06 evening). A first answer still names those holding most.
func (t *Tracker) Members(except string, since uint64, need []int, now time.Time) (members []Member, version uint64) {
	asker := t.members[except]
	if since == 0 || since > t.version {
		if asker != nil {
			asker.told = now
		}
		return t.withNamed(t.holdingMost(except, now), need, except, now), t.version
	}
	if asker != nil && now.Sub(asker.told) < t.tellEvery() {
		return t.named(need, except, now), since
	}
	// The members changed after since are the standing entries of the
	// log after it; of them, the first changedPerAnswer that pass, and
	// one more to tell whether the answer names them all. Every version
	// is given to one change, so their order by changed is a total one.
	var changed [changedPerAnswer + 1]*heard
	k := 0
	from, _ := slices.BinarySearchFunc(t.changes, since+1, func(c change, v uint64) int { return cmp.Compare(c.at, v) })
	for _, c := range t.changes[from:] {
		if m := c.m; c.stands() && m.id != except && now.Sub(m.seen) <= MemberTTL && t.inView(asker, m) {
			changed[k] = m
			if k++; k == len(changed) {
				break
			}
		}
	}
	version = t.version
	if k > changedPerAnswer {
		k = changedPerAnswer
		version = changed[k-1].changed
	}
	if asker != nil && k > 0 {
		asker.told = now
	}
	res := make([]Member, 0, k)
	for _, m := range changed[:k] {
		res = append(res, m.member(m.added > since))
	}
	return t.withNamed(res, need, except, now), version
}

// inView says whether asker hears of m's changes. In a table of up to
// 2*viewSize members every asker hears of every member; beyond that, of
// about viewSize of them, a pseudo-random subset that is symmetric (a
// hears of b when b hears of a) and needs no state per asker.
func (t *Tracker) inView(asker, m *heard) bool {
	buckets := uint64(len(t.members) / viewSize)
	if asker == nil || buckets <= 1 {
		return true
	}
	a, b := uint64(asker.ref), uint64(m.ref)
	if a > b {
		a, b = b, a
	}
	x := a<<32 | b
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x%buckets == 0
}

func (m *heard) member(named bool) Member {
	return Member{Peer: m.id, Have: m.have, Pieces: m.extra, Ref: m.ref, Named: named}
}

// named lists, by name, the members among refs still in the table and
// heard from within MemberTTL, other than except: those an asker was
// told of by Ref alone and does not know (Refs.Need). At most MaxNeed
// refs are read.
func (t *Tracker) named(refs []int, except string, now time.Time) []Member {
	refs = refs[:min(len(refs), MaxNeed)]
	var res []Member
	for _, m := range t.order {
		if slices.Contains(refs, m.ref) && m.id != except && now.Sub(m.seen) <= MemberTTL {
			res = append(res, m.member(true))
		}
	}
	return res
}

// withNamed adds to res the members named (need), each once: one res
// lists already is marked Named there. A member both holding most and
// asked for was listed twice (found by p2p's FuzzServeRequest).
func (t *Tracker) withNamed(res []Member, refs []int, except string, now time.Time) []Member {
	for _, m := range t.named(refs, except, now) {
		if k := slices.IndexFunc(res, func(r Member) bool { return r.Peer == m.Peer }); k >= 0 {
			res[k].Named = true
			continue
		}
		res = append(res, m)
	}
	return res
}

// holdingMost is a first answer: the members holding most.
func (t *Tracker) holdingMost(except string, now time.Time) []Member {
	if t.ranked == nil || now.Sub(t.rankedAt) >= rankEvery || now.Before(t.rankedAt) {
		t.rank(now)
	}
	res := make([]Member, 0, min(len(t.ranked), MembersPerAnswer))
	for _, id := range t.ranked {
		m := t.members[id]
		if id == except || m == nil || now.Sub(m.seen) > MemberTTL {
			continue
		}
		res = append(res, m.member(true))
		if len(res) == MembersPerAnswer {
			break
		}
	}
	return res
}

// rank forgets the members not heard from within MemberTTL and keeps
// the MembersPerAnswer+1 holding most (one more, for the asker left
// out of its own answer).
func (t *Tracker) rank(now time.Time) {
	type ranked struct {
		id   string
		have int64
		key  uint64
	}
	out := make([]ranked, 0, len(t.order))
	kept := t.order[:0]
	for _, m := range t.order {
		if now.Sub(m.seen) > MemberTTL {
			m.gone = true
			delete(t.members, m.id)
			continue
		}
		kept = append(kept, m)
		out = append(out, ranked{m.id, m.have, t.rng.Uint64()})
	}
	clear(t.order[len(kept):])
	t.order = kept
	top(out, MembersPerAnswer+1, func(a, b ranked) int {
		if c := cmp.Compare(b.have, a.have); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	t.ranked = t.ranked[:0]
	for _, r := range out[:min(len(out), MembersPerAnswer+1)] {
		t.ranked = append(t.ranked, r.id)
	}
	t.rankedAt = now
}

// SetUplink tells the table the node's measured upload rate, in bytes a
// second, which bounds how often its members ask for news (StatusEvery).
func (t *Tracker) SetUplink(bytesPerSecond float64) { t.uplink = bytesPerSecond }

// StatusEvery is how often each member should ask this node for news
// of the blob: StatusInterval, or less often when that would be more
// questions a second in all than the node's uplink allows. Each answer
// costs the node's uplink, the one the swarm waits on when this node is
// the blob's origin; a rate per member would make its cost grow with
// the fleet.
//
// The bound is statusRate a second, or statusShare of the measured
// upload (SetUplink) in answers of statusAnswerBytes when that is more:
// the two meet at about 5 Mbit/s, so a slower link keeps the fixed rate,
// and a faster one, where stale news costs more pieces' time, is asked
// more often. A fixed 64 a second made members of a 200-node swarm on
// 100 Mbit/s links ask every 3 s, and the simulated rollout took 3.06x
// the no-sharing time; with the share 2.04x, and 1,000 nodes 8.4x to
// 6.5x; nothing changed at 4 Mbit/s (bench/RESULTS.md, 2026-12-06,
// "status by uplink").
func (t *Tracker) StatusEvery() time.Duration {
	rate := max(statusRate, t.uplink*statusShare/statusAnswerBytes)
	return StatusAfter(time.Duration(float64(len(t.members)) / rate * float64(time.Second)))
}

// tellEvery is how often an answer to one asker names members: a
// quarter of StatusEvery, so that the answers to its status questions,
// which come that often, still carry the changes.
func (t *Tracker) tellEvery() time.Duration { return t.StatusEvery() / 4 }

// StatusAfter is how long a fetch told to wait d before it asks for news
// again waits: at least StatusInterval and at most MaxStatusInterval, so
// that a peer cannot keep a fetch from asking for longer than a fraction
// of Stall, whatever it says.
func StatusAfter(d time.Duration) time.Duration {
	return min(max(d, StatusInterval), MaxStatusInterval)
}

// MayServe says whether this node should send piece i (ending at byte
// end) to asker now, and counts it if so. For trustMembers after the
// piece is first asked for it declines while another member heard from
// lately holds the piece (the asker is told of it); throughout, it sends
// each piece to few askers (Spread).
//
// Members' holdings are their own claims, heard in their requests: a
// member that holds pieces but cannot serve them (its store failing, or
// a node that fetches without serving) would otherwise keep every other
// asker from the origin for as long as it keeps asking, and a swarm of
// two such members each holding what the other lacked stalled (seen in
// p2p's tests). After trustMembers the origin serves the piece itself,
// at Spread's pace.
//
// Only holders in the asker's view count (inView): the asker is not
// told of the others.
//
// avoid are the members the asker will not fetch from (it caught them
// sending wrong pieces): they hold the piece for others, not for it. A
// member that corrupted what it passed on had taken the first copies of
// many pieces, and every asker that penalised it was sent back to it for
// trustMembers, then served by the origin at Spread's pace: the origin
// sent four copies of the blob in a fleet of six (p2p's swarm test).
func (t *Tracker) MayServe(asker string, i int, end int64, now time.Time, avoid []string) bool {
	if !t.HasPiece(i) {
		return false
	}
	if t.sent.AskedFor(i, now) < trustMembers {
		a := t.members[asker]
		for _, m := range t.order {
			id := m.id
			if id != asker && t.inView(a, m) && (m.have >= end || slices.Contains(m.extra, i) || m.gave(i, now)) && now.Sub(m.seen) < holderFresh && !slices.Contains(avoid, id) {
				return false
			}
		}
	}
	return t.sent.MayServe(i, now)
}

// SetPieces records how many pieces the blob has, once this node knows
// its size.
func (t *Tracker) SetPieces(n int) { t.pieces = n }

// HasPiece says whether piece i can be one of the blob's: any i from 0
// while the blob's size is unknown here (SetPieces). A piece past the
// blob is not counted (MayServe): each number asked for kept an entry
// for as long as the table, and a member asking for a million of them
// held about 100 MB of one blob's table (found in review).
func (t *Tracker) HasPiece(i int) bool { return i >= 0 && (t.pieces == 0 || i < t.pieces) }

// Holds records how many of the blob's pieces this node (its origin)
// holds whole, for Taken.
func (t *Tracker) Holds(pieces int) { t.holds = pieces }

// Taken says, of piece i that MayServe declined, whether its asker
// should be told to ask at once for another piece: this node holds one
// that no copy of has begun yet (Holds). It then sends first copies of
// several pieces at once, one to each asker, instead of the same piece
// to one while the others wait a piece's time (swarm.Planner.Taken).
//
// When every piece it holds has a copy out, the asker is better left
// alone for that while, as after a busy answer; and in a swarm of more
// than 2*viewSize members (where each asker hears of only some) never:
// in the simulation at 1,000 nodes (100 Mbit/s, one layer of 16 MiB)
// askers told of a taken piece came back at once with the next, and the
// last node took 6.9x one pull where it took 6.55x (the mean of five
// seeds); at 200 nodes on 4 Mbit/s it did better with them, 1.49x
// against 1.56x without (bench/RESULTS.md).
func (t *Tracker) Taken(i int) bool {
	if len(t.members) > 2*viewSize {
		return false
	}
	return t.sent.unbegun(t.holds, i)
}

// Sent records how a copy of piece i that MayServe allowed ended (see
// Spread.Sent).
func (t *Tracker) Sent(i int, ok bool, now time.Time) { t.sent.Sent(i, ok, now) }
