// Package swarm decides how a blob moves through the fleet piece by
// piece: which peer to ask for which piece (Planner), and how many peers
// a node serves at once (Slots). It knows nothing of libp2p or of the
// store, and takes the time as an argument, so that the same code runs
// in the node and in a simulated fleet (bench/cmd/swarmsim).
package swarm

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Outcome is how a request for a piece ended.
type Outcome int

const (
	// OK: the piece arrived and matched its digest.
	OK Outcome = iota
	// Busy: the peer had no upload slot free; ask it again later.
	Busy
	// Failed: the peer did not have the piece or the transfer broke.
	Failed
	// Lied: the piece did not match its digest. The peer is not asked
	// again.
	Lied
	// Cancelled: the asker called the request off (another peer's copy
	// of the piece came first). It says nothing of the peer.
	Cancelled
)

// Tuning of the planner.
const (
	// MaxPerPeer bounds the pieces in flight from one peer, so that a
	// fast asker does not take all of a holder's upload slots.
	MaxPerPeer = 2
	// HedgeMin and HedgeFactor set when a piece request is Late.
	HedgeMin    = time.Second
	HedgeFactor = 3
	// BusyBackoff is how long a peer that answered busy is left alone.
	BusyBackoff = 150 * time.Millisecond
	// ProbeRate is how many busy answers a fetch takes a second, in
	// bursts of as many. A busy answer sent the asker straight on to the
	// next holder it knew until all had said busy, so the requests a
	// node sent grew with the fleet: 1,971 a node at N = 50 and 7,216 at
	// N = 200 in the simulation, 99% of them busy answers. With the
	// budget, 2,720 at N = 200 and the rollout within 1%; at 8 a second
	// it took 5% longer (bench/RESULTS.md).
	ProbeRate = 16
	// Starving is how long a fetch may go without a piece before it asks
	// busy holders again every BusyBackoff, whatever they answered
	// before.
	Starving = 2 * time.Second
	// maxFailures is how many failed requests in a row drop a peer from
	// a fetch; each one before that doubles its backoff, up to
	// maxBackoff. The origin is never dropped for failing: it may be the
	// only peer that holds the rest.
	maxFailures = 6
	maxBackoff  = 5 * time.Second

	// Window is how many pieces a fetch has in flight or waiting for its
	// reader: its memory, in pieces.
	Window = 8
	// StatusInterval is how often a fetch asks the blob's origin for
	// news: its progress, its piece digests and the other members.
	StatusInterval = 250 * time.Millisecond
	// ReaderWait is how long a fetch's reader may wait for its next
	// piece before that piece is asked for ahead of rarer ones (Urgent).
	// In the simulation 10 s cost 8% at 50 nodes (rarest first gave way
	// too often); 20 s cost nothing and kept the longest wait under 83 s,
	// against the node's 2-minute idle timeout.
	ReaderWait = 20 * time.Second
	// ReaderStarve is how long a fetch's reader may wait for its next
	// piece before the fetch gives the swarm up, as after Stall, and the
	// node resumes from upstream where it stopped: the node's store
	// fails a fetch that has had no byte for two minutes (cache's
	// fetchIdleTimeout), and a failed pull costs more than the rest of a
	// blob from upstream. On 1 Mbit/s links readers waited 124-132 s
	// while the swarm around them still grew (bench/cmd/swarmsim, 10
	// nodes, 64 MiB in 4 layers: 2 to 4 such fetches a run); at 4 Mbit/s
	// the longest wait is about 40 s. 90 s sent fetches upstream that
	// would have got their piece in time (0.66 copies more at 50 nodes on
	// 2 Mbit/s); 105 s leaves the fall-back 15 s to store a byte.
	ReaderStarve = 105 * time.Second
	// MaxStatusInterval is the longest a fetch waits between questions
	// for news, however many members its origin answers (StatusAfter).
	MaxStatusInterval = 5 * time.Second
	// PieceTimeout bounds a piece request's silence: the wait for its
	// answer, and then between reads of the piece. It bounded the
	// whole request once; but a node fetching eight layers at once on a
	// 4 Mbit/s link receives a piece in 17 s, and every such request
	// failed until the fetches went upstream (p2p's quiet.go).
	PieceTimeout = 10 * time.Second
	// PieceLimit bounds a whole piece request, however it moves: a
	// peer that sends a byte now and then must not hold one for ever.
	// At the limit a 1 MiB piece moves at 17 KiB/s.
	PieceLimit = time.Minute
	// Stall is how long a fetch waits without a piece before it gives up
	// (and the node goes upstream with a Range request).
	Stall = 30 * time.Second
)

// Planner chooses, for one blob, which peer to ask for each piece. What
// a peer holds of a blob is a prefix of it (a node's store fills in
// order), learnt from the peer's own answers and from the blob's tracker.
//
// The rule spreads load: a piece goes to the least-busy peer that
// already holds it, the origin (the node fetching the blob from upstream,
// which streams a piece while it arrives) last, so that each byte leaves
// the origin about once and the rest of the fleet passes it on. Other
// peers are asked only for pieces they hold whole: two nodes each
// receiving a piece could otherwise wait on each other for it.
type Planner struct {
	size, pieceSize int64
	origin          string
	peers           map[string]*peerState
	order           []*peerState // peers in the order first learnt
	rng             *rand.Rand
	lastOK          time.Time // the last piece from any peer, or the first pick
	live            int       // peers not dropped

	// The holders of each piece, kept as peers are learnt and dropped,
	// so that ordering a window costs the window, not a pass over every
	// peer for each piece (in a fleet of thousands that pass was most of
	// an asker's work), and a pick walks only the piece's holders. Only
	// live peers other than the origin are counted.
	holders holders
	held    int // pieces held, summed over the counted peers
	// waiting is the peers left alone after a busy or failed answer.
	waiting waiting

	// taken is, per piece, until when the origin is not asked for it
	// (Taken).
	taken map[int]time.Time

	// probes is what is left of the busy answers' budget (ProbeRate)
	// as of probesAt.
	probes   float64
	probesAt time.Time
}

type peerState struct {
	id        string
	have      int64 // bytes it can serve now, as last heard
	covered   int   // whole pieces in the first have bytes
	counted   bool  // in the holder counts
	at        int   // its place in its holders bucket, when counted
	extra     []int // whole pieces it holds beyond have, each once
	extraAt   []int // extra[j]'s place in its holders list, when counted
	inflight  int
	busyUntil time.Time
	busy      int // busy answers in a row
	failures  int
	dropped   bool
}

// NewPlanner plans a blob of size bytes cut into pieceSize pieces.
// origin names the peer that brings the blob into the fleet ("" when
// every holder has it whole); seed makes ties break the same way each
// run.
func NewPlanner(size, pieceSize int64, origin string, seed uint64) *Planner {
	p := &Planner{size: size, pieceSize: pieceSize, origin: origin, peers: map[string]*peerState{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.holders = newHolders(p.Pieces())
	return p
}

// probe brings the budget for busy answers up to now and says whether
// another request may be sent.
func (p *Planner) probe(now time.Time) bool {
	if p.probesAt.IsZero() {
		p.probes = ProbeRate
	} else if now.After(p.probesAt) {
		p.probes = min(ProbeRate, p.probes+now.Sub(p.probesAt).Seconds()*ProbeRate)
	}
	p.probesAt = now
	return p.probes >= 1
}

// spend takes a busy answer from the budget. Answers to requests sent
// before it ran out may take it below zero: they were already asked.
func (p *Planner) spend(now time.Time) {
	p.probe(now)
	p.probes--
}

// Pieces is how many pieces the blob has.
func (p *Planner) Pieces() int { return int((p.size + p.pieceSize - 1) / p.pieceSize) }

// Learn records that peer holds at least the first have bytes. What a
// peer holds only grows, so an older, smaller figure is ignored.
func (p *Planner) Learn(peer string, have int64) {
	s := p.peers[peer]
	if s == nil {
		s = &peerState{id: peer, have: -1}
		p.peers[peer] = s
		p.order = append(p.order, s)
		p.live++
		if peer != p.origin {
			s.counted = true
			p.holders.add(s)
		}
	}
	if have > s.have {
		s.have = min(have, p.size)
		p.cover(s, p.coveredBy(s.have))
	}
}

// coveredBy is how many whole pieces the first have bytes are.
func (p *Planner) coveredBy(have int64) int {
	switch {
	case have >= p.size:
		return p.Pieces()
	case have <= 0:
		return 0
	}
	return int(have / p.pieceSize)
}

// cover moves s's prefix to k pieces in the holder counts; the pieces
// it held beyond its prefix and now holds within it leave its extras.
func (p *Planner) cover(s *peerState, k int) {
	if k == s.covered {
		return
	}
	if s.counted {
		p.holders.remove(s)
		p.held += k - s.covered
	}
	kept := s.extra[:0]
	for _, i := range s.extra {
		if i >= k {
			kept = append(kept, i)
		} else if s.counted {
			p.held--
		}
	}
	s.extra = kept
	s.covered = k
	if s.counted {
		p.holders.add(s)
	}
}

// uncount takes a dropped peer out of the holder counts.
func (p *Planner) uncount(s *peerState) {
	if !s.counted {
		return
	}
	s.counted = false
	p.holders.remove(s)
	p.held -= s.covered + len(s.extra)
}

// LearnPieces records the whole pieces peer holds beyond its prefix
// (checked and waiting to be stored in order), as it last said: unlike
// the prefix, these can leave once stored, so the list replaces the old.
func (p *Planner) LearnPieces(peer string, pieces []int) {
	s := p.peers[peer]
	if s == nil {
		p.Learn(peer, 0)
		s = p.peers[peer]
	}
	if s.counted {
		p.holders.remove(s)
		p.held -= len(s.extra)
	}
	// At most maxExtra are kept, as in a tracker's table: an honest
	// peer holds a window of pieces beyond its prefix, and a list of
	// any length from a peer costs this loop its length, not its square.
	s.extra = s.extra[:0]
	for _, i := range pieces {
		if len(s.extra) == maxExtra {
			break
		}
		if i >= s.covered && i < p.Pieces() && !slices.Contains(s.extra, i) {
			s.extra = append(s.extra, i)
		}
	}
	if s.counted {
		p.holders.add(s)
		p.held += len(s.extra)
	}
}

// holds says whether the peer holds piece i whole.
func (p *Planner) holds(s *peerState, i int) bool {
	return i < s.covered || slices.Contains(s.extra, i)
}

// Holders counts the live peers, other than the origin, that hold piece
// i: those whose prefix covers more than i pieces, and those holding it
// beyond their prefix.
func (p *Planner) Holders(i int) int {
	return p.holders.count(i)
}

// Held is how many pieces the live peers other than the origin hold,
// summed over them: while it grows the swarm is moving, even for a fetch
// that has been waiting its turn (Stalled).
func (p *Planner) Held() int { return p.held }

// Progress is Held plus the whole pieces the origin has brought in, if
// it is still a candidate: the swarm's progress as this fetch sees it.
// An origin still reading the blob from upstream is the swarm moving,
// not stalled. In a 50-node docker fleet at 4 Mbit/s each origin was
// still bringing its layer in, 11 of 16 MiB after 30 s, while no other
// node held a piece yet, and its askers, counting only the others'
// pieces, gave up on the swarm (that fleet went upstream for other
// reasons too: bench/RESULTS.md).
func (p *Planner) Progress() int {
	if s := p.peers[p.origin]; s != nil && p.origin != "" && !s.dropped {
		return p.held + s.covered
	}
	return p.held
}

// Order sorts pieces rarest first (fewest holders besides the origin),
// then lowest first: a piece few peers hold is fetched while they still
// have a slot for it, and once fetched this node is one more holder, so
// the swarm's pieces stay spread over it rather than all in the same few
// hands. first, if among them, goes before all (Urgent): the piece the
// fetch's reader has waited on too long.
func (p *Planner) Order(pieces []int, first int) {
	count := make(map[int]int, len(pieces))
	for _, i := range pieces {
		count[i] = p.Holders(i)
	}
	count[first] = -1
	slices.SortStableFunc(pieces, func(a, b int) int {
		if c := cmp.Compare(count[a], count[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
}

// Urgent is the piece Order should put first: the reader's next piece
// once the reader has waited for it ReaderWait or longer, else
// none (-1).
//
// Rarest first alone starved the reader: the piece it waits on is the
// one every member holds, so it always came last, and a fetch allowed
// one request at a time (a 4 Mbit/s link shared by four fetches) took
// the seven rarer pieces of its window first, at eight seconds each.
// Its store then had no byte for two minutes and gave the fetch up
// (cache's idle timeout): 12 of 50 nodes' pulls failed in docker.
func Urgent(next int, waited time.Duration) int {
	if waited >= ReaderWait {
		return next
	}
	return -1
}

// Known says whether peer is one of the fetch's candidates.
func (p *Planner) Known(peer string) bool { return p.peers[peer] != nil }

// Have is what the planner believes peer holds (-1 if nothing is known).
func (p *Planner) Have(peer string) int64 {
	if s := p.peers[peer]; s != nil {
		return s.have
	}
	return -1
}

// Live is how many peers are still candidates.
func (p *Planner) Live() int { return p.live }

// Pick chooses the peer to ask for piece i at time now and counts the
// request as in flight; ok is false when no peer can be asked now (all
// busy or at their limit, or none ahead), and the caller should wait
// for an answer or news of the swarm before asking again. A fetch that
// has had ProbeRate busy answers in the last second asks no one.
func (p *Planner) Pick(i int, now time.Time) (peer string, ok bool) {
	return p.pick(i, now, "")
}

// Retry is when the first peer now left alone after a busy or failed
// answer may be asked again; ok is false when none is waiting. A fetch
// whose Pick found no one asks again then: waiting for the next answer
// or status instead kept a fetch whose only holder had said busy idle
// for up to a StatusInterval, not BusyBackoff. A fetch out of its budget
// for busy answers (ProbeRate) asks again when it has one.
func (p *Planner) Retry(now time.Time) (at time.Time, ok bool) {
	if !p.probe(now) {
		// When the budget has one request again; at least a
		// millisecond on, so that rounding cannot bring the caller
		// back at the same instant.
		wait := time.Duration((1 - p.probes) / ProbeRate * float64(time.Second))
		return now.Add(max(time.Millisecond, wait)), true
	}
	s, at, ok := p.waiting.first(now)
	if !ok || s.inflight < MaxPerPeer {
		return at, ok
	}
	// The first to wait has its requests in flight: rare (a peer is
	// picked only when not waiting), so the answer comes from every peer.
	return p.firstWaiting(now)
}

// firstWaiting is Retry's answer from a pass over every peer: when the
// first peer left alone, with room for a request, may be asked again.
func (p *Planner) firstWaiting(now time.Time) (at time.Time, ok bool) {
	for _, s := range p.order {
		if s.dropped || !now.Before(s.busyUntil) || s.inflight >= MaxPerPeer {
			continue
		}
		if !ok || s.busyUntil.Before(at) {
			at, ok = s.busyUntil, true
		}
	}
	return at, ok
}

// PickOther is Pick for a second request for piece i, to a peer other
// than not (the one asked first).
func (p *Planner) PickOther(i int, now time.Time, not string) (peer string, ok bool) {
	return p.pick(i, now, not)
}

func (p *Planner) pick(i int, now time.Time, not string) (peer string, ok bool) {
	if !p.probe(now) {
		return "", false
	}
	if p.lastOK.IsZero() {
		p.lastOK = now
	}
	free := func(s *peerState) bool {
		return !s.dropped && !now.Before(s.busyUntil) && s.inflight < MaxPerPeer && s.id != not
	}
	// The least loaded free holder of the piece. The walk starts at a
	// random holder and stops at the first with nothing in flight from
	// this fetch, which no other can beat: in a large swarm that is a
	// few holders in, and the random start spreads askers with the same
	// view over them.
	var best *peerState
	ties := 0
	if n := p.holders.count(i); n > 0 {
		p.holders.walk(i, p.rng.IntN(n), func(s *peerState) bool {
			switch {
			case !free(s):
				return false
			case best == nil || s.inflight < best.inflight:
				best, ties = s, 0
			case s.inflight == best.inflight:
				// Reservoir sampling over equal choices: askers
				// that see the same swarm still spread over it.
				ties++
				if p.rng.IntN(ties+1) == 0 {
					best = s
				}
			}
			return best.inflight == 0
		})
	}
	// The origin holds the piece or will: it is fetching the blob from
	// upstream. It is asked only when no other peer can be.
	if best == nil && p.origin != "" && !now.Before(p.taken[i]) {
		if s := p.peers[p.origin]; s != nil && free(s) {
			best = s
		}
	}
	if best == nil {
		return "", false
	}
	best.inflight++
	return best.id, true
}

// Taken records the origin's answer that piece i is on its way to
// another member (it sends each piece to one asker first, Spread): the
// origin is not asked for that piece for after (the answer's retry_ms,
// about a piece's time at the origin's upload rate; at most
// MaxRetryAfter), by when the member that has it has said so and
// answers name it, and the fetch asks at once for another piece. The
// origin's slot was free, so unlike a busy answer it leaves the origin to
// be asked. From any other peer it is a busy answer (BusyFor): only the
// origin declines pieces it holds, and a peer's word must not keep the
// fetch from asking the origin.
//
// A busy answer in its place left the origin alone for a piece's time.
// Every asker asks for the same piece (the rarest, lowest first), so all
// but one were turned away from the origin, which then sent one first
// copy at a time while its other slot carried repeats: in the
// simulation (20 nodes, 4 Mbit/s, 64 MiB in one layer) it sent a piece's
// first copy every 4.6 s where its uplink takes 2.1 s, and the last node
// finished at 2.3x the no-sharing time (bench/RESULTS.md).
func (p *Planner) Taken(peer string, i int, after time.Duration, now time.Time) {
	if peer != p.origin || p.origin == "" {
		p.BusyFor(peer, after, now)
		return
	}
	if s := p.peers[peer]; s != nil && s.inflight > 0 {
		s.inflight--
	}
	if p.taken == nil {
		p.taken = map[int]time.Time{}
	}
	p.taken[i] = now.Add(min(MaxRetryAfter, max(0, after)))
	p.spend(now)
}

// BusyFor records a busy answer from peer that said to ask again after
// a while (RetryAfter): the peer is left alone that long, at most
// MaxRetryAfter, instead of the asker's own backoff.
func (p *Planner) BusyFor(peer string, after time.Duration, now time.Time) {
	s := p.peers[peer]
	if s == nil {
		return
	}
	if s.inflight > 0 {
		s.inflight--
	}
	s.busyUntil = now.Add(min(MaxRetryAfter, max(0, after)))
	p.waiting.wait(s)
	s.busy++
	p.spend(now)
}

// Done records how a request to peer picked earlier ended.
func (p *Planner) Done(peer string, o Outcome, now time.Time) {
	s := p.peers[peer]
	if s == nil {
		return
	}
	if s.inflight > 0 {
		s.inflight--
	}
	switch o {
	case OK:
		s.failures, s.busy = 0, 0
		p.lastOK = now
	case Busy:
		p.spend(now)
		// Each busy answer in a row doubles the wait, up to a second: a
		// holder whose slots are taken stays so for about a piece's
		// time, and asking it every BusyBackoff meanwhile only costs
		// both sides CPU.
		wait := min(time.Second, BusyBackoff<<min(s.busy, 3))
		if now.Sub(p.lastOK) > Starving {
			wait = BusyBackoff
		}
		s.busyUntil = now.Add(wait)
		p.waiting.wait(s)
		s.busy++
	case Failed:
		s.failures++
		s.busyUntil = now.Add(min(maxBackoff, BusyBackoff<<s.failures))
		p.waiting.wait(s)
		if s.failures >= maxFailures && peer != p.origin {
			p.drop(s)
		}
	case Lied:
		p.drop(s)
	}
}

func (p *Planner) drop(s *peerState) {
	if s.dropped {
		return
	}
	s.dropped = true
	p.live--
	p.uncount(s)
}

// Late says whether a piece request that has run for elapsed should be
// doubled with a request to another peer, given typical, how long this
// fetch's pieces have been taking (0 before the first). A peer cut off
// without a word (a partition, a host gone) neither answers nor fails
// until PieceTimeout; and at the end of a blob the last pieces come from
// whoever was asked, however slow. Asking a second peer when a piece
// runs well past the usual bounds both, at the cost of a duplicate
// piece now and then.
func Late(elapsed, typical time.Duration) bool {
	return elapsed > max(HedgeMin, HedgeFactor*typical)
}

// Drop stops asking peer.
func (p *Planner) Drop(peer string) {
	if s := p.peers[peer]; s != nil {
		p.drop(s)
	}
}

// State describes every candidate at time now, for a log line when a
// fetch is stuck.
func (p *Planner) State(now time.Time) string {
	var b strings.Builder
	for _, s := range p.order {
		id := s.id
		short := id
		if len(short) > 8 {
			short = short[len(short)-8:]
		}
		fmt.Fprintf(&b, "%s(have=%d inflight=%d wait=%v failures=%d dropped=%v origin=%v) ", short, s.have, s.inflight, max(0, s.busyUntil.Sub(now)).Round(time.Millisecond), s.failures, s.dropped, id == p.origin)
	}
	return b.String()
}
