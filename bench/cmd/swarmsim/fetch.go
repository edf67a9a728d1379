package main

import (
	"fmt"

	"slices"
	"time"

	"github.com/shoal-dev/shoal/bench/internal/simnet"
	"github.com/shoal-dev/shoal/swarm"
)

// The relay of a piece that is still arriving (request, cut-through).
const (
	// relaySegment is the least a relay sends at a time before it holds
	// the piece checked.
	relaySegment = 64 << 10
	// relayPoll is how often a relay waiting for more of its piece
	// looks again.
	relayPoll = 20 * time.Millisecond
)

// fetch is p2p/swarmfetch.go's run loop for one node and one blob, with
// the same planner, the same window, status questions to the origin
// every swarm.StatusInterval, piece requests bounded by
// swarm.PieceTimeout and the fall back to upstream after swarm.Stall.
// Unless cfg.noCutThrough, the pieces it is receiving are served on by
// its node as they arrive (inbound, request) and named with the pieces
// it holds (extras). It asks for each piece of one peer at a time: the
// node's second copy of a late piece (swarm.Late) is not modelled.
type fetch struct {
	f        *fleet
	n        *node
	b        *blob
	h        *holding
	plan     *swarm.Planner
	todo     []int
	inflight int
	known    int         // pieces whose digests the origin has sent
	held     map[int]int // pieces that arrived before their digest, and from whom
	next     int         // the piece the reader waits for
	asking   bool
	lastGood time.Duration
	// swarmHeld is the most pieces the planner has known the swarm to
	// hold, and lastGrowth when that grew: as swarmFetch.run.
	swarmHeld  int
	lastGrowth time.Duration
	over       bool
	tick       *simnet.Event
	// retry is the loop's turn when a peer that said busy may be asked
	// again, as swarmFetch.run's retry timer.
	retry *simnet.Event
	// readerAt is the piece the reader waited on when last looked at,
	// and readerSince since when (swarm.Urgent).
	readerAt    int
	readerSince time.Duration
	starved     bool
	// since is, per peer, the members version of its last answer.
	since map[int]uint64
	// refs is, per peer, the book of the member refs it answered with.
	refs map[int]*swarm.Refs
	// every is how often the origin asks to be asked for news.
	every time.Duration
	// inbound is, per piece, its copy on its way in from a peer since
	// its first bytes flowed, until it is checked or breaks; one that
	// came before its digest stays, whole, until the digest comes and
	// it is checked (held), as in the node (p2p's swarmFetch.receive,
	// checkHeld). Empty with cfg.noCutThrough.
	inbound map[int]*inbound
}

// inbound is a piece on its way into the node from a peer (p2p's
// inbound.go): a relay serving it on while it arrives reads here how
// much of it has.
type inbound struct {
	header int64         // the answer's header, which leads the piece on its stream
	moved  float64       // the bytes of the stream's flows that have ended
	flow   *simnet.Flow  // the stream's flow moving now, if any
	ended  time.Duration // when the last of the stream's flows ended
	// broken: the request failed or was called off, or the fetch was;
	// the piece will not be checked from this copy.
	broken bool
	// relays break off the streams of those serving it on (breakOff).
	relays []func()
}

// breakOff breaks the piece: its relays break their streams off at
// once, as p2p's relayReader returns errInboundBroken, rather than send
// on the rest of a segment.
func (g *inbound) breakOff() {
	if g.broken {
		return
	}
	g.broken = true
	for _, r := range g.relays {
		r()
	}
	g.relays = nil
}

// pieceBytes is how many bytes of the piece have arrived: exact at any
// time, where a flow's progress is told only when its rate changes.
func (g *inbound) pieceBytes() int64 {
	m := g.moved
	if g.flow != nil && !g.flow.Finished() {
		m += g.flow.Moved()
	}
	return max(0, int64(m)-g.header)
}

// lastByte is when the piece's latest byte arrived: now while its bytes
// move, -1 if none has.
func (g *inbound) lastByte(now time.Duration) time.Duration {
	if g.flow != nil && !g.flow.Finished() && g.flow.Rate() > 0 {
		return now
	}
	if g.moved == 0 {
		return -1
	}
	return g.ended
}

// breakInbound breaks every piece the fetch is receiving: its relays
// break their streams off.
func (sf *fetch) breakInbound() {
	// In order: breaking off cancels flows, so runs repeat.
	for _, i := range sortedInts(sf.inbound) {
		g := sf.inbound[i]
		delete(sf.inbound, i)
		g.breakOff()
	}
}

// arriving is piece i of b on its way into n, which n serves on while
// it arrives (cut-through), or nil: when n holds the piece whole, is
// the blob's origin (which streams from upstream instead, whenHeld), or
// has had none of its bytes yet.
func (f *fleet) arriving(n *node, b *blob, i int) *inbound {
	if f.cfg.noCutThrough || b.origin == n.id || f.holdsPiece(n, b, i) || !swarm.CutThrough(n.intake.Rate(), pieceSize) {
		return nil
	}
	if h := n.holds[b.idx]; h != nil && h.fetch != nil {
		return h.fetch.inbound[i]
	}
	return nil
}

func (f *fleet) startFetch(n *node, b *blob, originHave int64, originMem []int, members []swarm.Member, version uint64, every time.Duration) {
	h := f.holding(n, b)
	sf := &fetch{f: f, n: n, b: b, h: h, plan: swarm.NewPlanner(b.size, pieceSize, f.names[b.origin], f.cfg.seed^uint64(n.id)<<16^uint64(b.idx)), held: map[int]int{}, lastGood: f.clk.Now(), since: map[int]uint64{b.origin: version}, refs: map[int]*swarm.Refs{}, every: swarm.StatusAfter(every), readerSince: f.clk.Now()}
	h.fetch = sf
	h.mem = make([]bool, b.pieces())
	for i := range b.pieces() {
		sf.todo = append(sf.todo, i)
	}
	sf.news(b.origin, originHave, originMem, members)
	sf.known = int(originHave / pieceSize)
	if originHave == b.size {
		sf.known = b.pieces()
	}
	sf.schedTick()
	sf.loop()
}

func (sf *fetch) schedTick() {
	sf.tick = sf.f.clk.After(sf.every, func() {
		if sf.over || sf.n.dead {
			return
		}
		sf.askStatus()
		sf.loop()
		sf.schedTick()
	})
}

func (sf *fetch) learn(p int, have int64) {
	if p == sf.n.id {
		return
	}
	sf.plan.Learn(sf.f.names[p], have)
}

// news takes in a peer's answer, as swarmFetch.news does: members by
// ref alone, as they come on the wire, are resolved through the book of
// the peer's refs (swarm.Refs), or asked for in the next request.
func (sf *fetch) news(from int, have int64, pieces []int, members []swarm.Member) {
	sf.learn(from, have)
	if from != sf.n.id && have >= 0 {
		sf.plan.LearnPieces(sf.f.names[from], pieces)
	}
	book := sf.book(from)
	for _, m := range members {
		peer := m.Peer
		if !sf.f.cfg.membersByName {
			onWire := m
			if !m.Named {
				onWire.Peer = ""
			}
			var ok bool
			if peer, ok = book.Take(onWire); !ok {
				continue
			}
		}
		id := sf.f.idOf(peer)
		sf.learn(id, m.Have)
		if id != sf.n.id {
			sf.plan.LearnPieces(peer, m.Pieces)
		}
	}
}

// book is p's refs book.
func (sf *fetch) book(p int) *swarm.Refs {
	r := sf.refs[p]
	if r == nil {
		r = &swarm.Refs{}
		sf.refs[p] = r
	}
	return r
}

// need is what the next request to p asks it to name (swarm.Refs.Need).
func (sf *fetch) need(p int) []int {
	if r := sf.refs[p]; r != nil {
		return r.Need()
	}
	return nil
}

// delivered is what the node's store holds: the pieces its reader took.
func (sf *fetch) delivered() int64 { return min(sf.b.size, int64(sf.next)*pieceSize) }

// extras are the pieces the node names as held beyond its store: those
// checked, and with cut-through those arriving, which it serves on at
// once, so the origin's tracker and other askers learn of them as their
// first bytes come rather than a piece's time later.
func (sf *fetch) extras() []int {
	var out []int
	for i := sf.next; i < len(sf.h.mem); i++ {
		if sf.h.mem[i] || (sf.inbound[i] != nil && swarm.CutThrough(sf.n.intake.Rate(), pieceSize)) {
			out = append(out, i)
		}
	}
	return out
}

// loop is one turn of swarmFetch.run: ask for what the window allows,
// then see whether the fetch is done or stalled.
func (sf *fetch) loop() {
	if sf.over || sf.n.dead {
		return
	}
	f := sf.f
	now := f.now()
	var window []int
	for _, i := range sf.todo {
		if i >= sf.next+swarm.Window {
			break
		}
		window = append(window, i)
	}
	if sf.next != sf.readerAt {
		sf.readerAt, sf.readerSince = sf.next, f.clk.Now()
	}
	urgent := swarm.Urgent(sf.next, f.clk.Now()-sf.readerSince)
	sf.plan.Order(window, urgent)
	unasked, heldBack := false, false
	for _, i := range window {
		// As p2p's admitIntake: every request waits for the node's
		// intake, but for the first of a fetch whose reader has waited
		// ReaderWait.
		if sf.inflight == 0 && urgent >= 0 {
			sf.n.intake.Take()
		} else if !sf.n.intake.Admit(now) {
			heldBack = sf.inflight == 0
			break
		}
		p, ok := sf.plan.Pick(i, now)
		if !ok {
			sf.n.intake.Release()
			unasked = true
			continue
		}
		sf.todo = slices.DeleteFunc(sf.todo, func(j int) bool { return j == i })
		sf.inflight++
		sf.request(i, f.idOf(p))
	}
	if at, ok := sf.plan.Retry(now); ok && unasked && sf.inflight == 0 {
		if sf.retry != nil {
			sf.retry.Cancel()
		}
		sf.retry = f.clk.After(at.Sub(now), func() {
			sf.retry = nil
			sf.loop()
		})
	}
	if len(sf.todo) == 0 && sf.inflight == 0 && len(sf.held) == 0 {
		sf.finish()
		return
	}
	if h := sf.plan.Progress(); h > sf.swarmHeld || sf.n.bringing > 0 || heldBack {
		sf.swarmHeld, sf.lastGrowth = max(h, sf.swarmHeld), f.clk.Now()
	}
	// A reader that has waited swarm.ReaderStarve is stalled whatever
	// the swarm does (p2p's swarmFetch.run).
	if (sf.plan.Live() == 0 && sf.inflight == 0) || f.clk.Now()-max(sf.lastGood, sf.lastGrowth) > swarm.Stall || f.clk.Now()-sf.readerSince > swarm.ReaderStarve {
		sf.over = true
		sf.tick.Cancel()
		if f.cfg.verbose != nil {
			fmt.Fprintf(f.cfg.verbose, "%.1fs node %d blob %d stalls: next %d todo %v inflight %d held %v known %d lastGood %.1fs: %s\n", f.clk.Now().Seconds(), sf.n.id, sf.b.idx, sf.next, sf.todo, sf.inflight, sf.held, sf.known, sf.lastGood.Seconds(), sf.plan.State(now))
		}
		f.fallback(sf.n, sf.b, sf.h)
	}
}

// request asks peer p for piece i: the question, the holder's decision
// (the origin's tracker, then its upload slots), the answer, the bytes.
// A holder that holds the piece whole sends it at once; the origin
// streams it while it comes from upstream (whenHeld); with cut-through,
// any other holder still receiving it from a peer serves it on as it
// arrives (relay), its last bytes only once it holds it checked.
func (sf *fetch) request(i, p int) {
	f := sf.f
	f.stats.requests++
	lat := f.cfg.latency
	askerHave, askerExtra := sf.delivered(), sf.extras()
	since, need := sf.since[p], sf.need(p)
	me := f.names[sf.n.id]
	r := &pieceRequest{}
	var retry time.Duration // a busy answer's wait, as p2p's retry_ms
	taken := false          // a busy answer's taken, as p2p's
	end := func(o swarm.Outcome, have int64, pieces []int, members []swarm.Member) {
		if r.ended {
			return
		}
		r.ended = true
		if !r.askedAhead {
			sf.n.intake.Release()
		}
		sf.arrived(i, p, o, have, pieces, members, retry, taken)
	}
	// relayed is the piece on its way into the holder, if the holder
	// serves it on while it arrives; lastByte is when the last segment
	// of it reached the asker (-1: none yet).
	var relayed *inbound
	lastByte := time.Duration(-1)
	// PieceTimeout bounds a request's silence, PieceLimit its length
	// (p2p's swarmFetch.launch): while the piece's bytes move, it waits
	// again. A relayed piece moves in segments, as its relay receives
	// it: between two the asker has its silence counted from the later
	// of the last segment's end and the relay's last byte in, which the
	// node would have passed on at once (it holds back only the last
	// byte). The relay gives up as long after its own last byte too
	// (p2p's relayReader). A request to the origin is bounded in all by
	// swarm.OriginLimit.
	asked := f.clk.Now()
	var timeout *simnet.Event
	var fire func()
	fire = func() {
		now := f.clk.Now()
		if elapsed := now - asked; p != sf.b.origin && elapsed < swarm.PieceLimit {
			var wait time.Duration
			switch {
			case r.flow != nil && !r.flow.Finished() && r.flow.Rate() > 0:
				wait = swarm.PieceTimeout
			case relayed != nil:
				if last := max(lastByte, relayed.lastByte(now)); last >= 0 {
					wait = swarm.PieceTimeout - (now - last)
				}
			}
			if wait > 0 {
				timeout = f.clk.After(min(wait, swarm.PieceLimit-elapsed), fire)
				return
			}
		}
		f.stats.timeouts++
		if r.flow != nil {
			r.flow.Cancel()
		}
		end(swarm.Failed, -1, nil, nil)
	}
	first := swarm.PieceTimeout
	if p == sf.b.origin {
		first = swarm.OriginLimit(pieceSize, sf.n.intake.Rate())
	}
	timeout = f.clk.After(first, fire)
	f.message(sf.n.id, p, requestBytes(askerHave, askerExtra, need), func(ok bool) {
		q := f.nodes[p]
		if !ok || q.dead || r.ended {
			return // the asker's timeout ends it
		}
		now := f.now()
		t := f.tracker(q, sf.b)
		t.Note(me, askerHave, askerExtra, now)
		busy := func() {
			f.stats.busy++
			retry = swarm.RetryAfter(q.slots.Rate(), pieceSize, f.rng.Float64())
			members, version := t.Members(me, since, need, now)
			f.message(p, sf.n.id, answerBytes(-1, nil, members, 0, f.cfg.membersByName), func(ok bool) {
				if ok {
					sf.since[p] = max(sf.since[p], version)
					timeout.Cancel()
					end(swarm.Busy, -1, nil, members)
				}
			})
		}
		// As in p2p's transfer.go: a slot first, then the origin's
		// decision, which counts the copy.
		if !q.slots.Admit(now) {
			busy()
			return
		}
		counted := false
		if p == sf.b.origin {
			f.originOpens(q, sf.b)
			// As p2p's transfer.go, which tells the tracker what the
			// node holds as it answers.
			if have, _ := f.haveOf(q, sf.b); have == sf.b.size {
				t.Holds(sf.b.pieces())
			} else {
				t.Holds(int(have / pieceSize))
			}
			if !t.MayServe(me, i, int64(i)*pieceSize+sf.b.pieceLen(i), now, nil) {
				// The piece is on its way to another member: the
				// asker is told so, and asks for another if the
				// origin holds one no copy of has begun (p2p's
				// transfer.go, "taken").
				q.slots.Release()
				taken = t.Taken(i)
				busy()
				return
			}
			counted = true
		}
		have, pieces := f.haveOf(q, sf.b)
		members, version := t.Members(me, since, need, now)
		released := false
		// release ends the holder's write: whole (its last bytes are in
		// the buffers below it) or broken off; the origin's tracker is
		// told, as p2p's transfer.go tells it.
		release := func(whole bool) {
			if !released {
				released = true
				q.slots.Release()
				if counted {
					t.Sent(i, whole, f.now())
					if whole {
						t.Gave(me, i, int64(i)*pieceSize+sf.b.pieceLen(i), f.now())
					}
				}
			}
		}
		// The header goes first; the bytes follow it on the same stream.
		progress := func(x float64) {
			sf.n.intake.Sent(int64(x), f.now())
			f.countUpload(q, sf.n, x)
			q.slots.Sent(int64(x), f.now())
		}
		delivered := func() {
			if p == sf.b.origin && sf.b.injected[i] == 0 {
				sf.b.injected[i] = f.clk.Now()
			}
			f.clk.After(lat, func() {
				if r.ended {
					return
				}
				sf.since[p] = max(sf.since[p], version)
				timeout.Cancel()
				end(swarm.OK, have, pieces, members)
			})
		}
		var header int64
		if !f.cfg.freeHeaders {
			header = answerBytes(have, pieces, members, 0, f.cfg.membersByName)
		}
		total := header + sf.b.pieceLen(i)
		// in is the piece on its way into the asker, which the asker
		// serves on while it arrives and names as held from its first
		// byte (cut-through).
		var in *inbound
		if !f.cfg.noCutThrough {
			in = &inbound{header: header}
		}
		// start moves n bytes of the stream from the holder to the
		// asker.
		start := func(n int64, progress func(float64), done func(ok bool)) {
			var fl *simnet.Flow
			fl = f.net.Start(p, sf.n.id, n, progress, func(ok bool) {
				r.doneBytes += fl.Moved()
				if in != nil {
					in.moved += fl.Moved()
					in.flow, in.ended = nil, f.clk.Now()
				}
				done(ok)
			})
			if r.flow == nil {
				sf.askAhead(asked, total, r)
			}
			r.flow = fl
			if in != nil && !in.broken && !sf.over {
				in.flow = fl
				if sf.inbound == nil {
					sf.inbound = map[int]*inbound{}
				}
				sf.inbound[i] = in
			}
		}
		// send sends the stream from byte sent on. The holder's write
		// returns, and its slot frees, once the last bytes are in the
		// buffers below it (the stream's window, the socket's, the
		// link's queue): sendBuffer bytes before the asker has them. The
		// origin's last bytes wait for upstream.
		send := func(sent int64) {
			head := max(sent, total-f.cfg.sendBuffer)
			tail := func() {
				release(true)
				if r.ended || q.dead {
					return
				}
				start(total-head, func(x float64) { sf.n.intake.Sent(int64(x), f.now()); f.countUpload(q, sf.n, x) }, func(ok bool) {
					if ok {
						delivered()
					}
				})
			}
			held := func() { f.whenHeld(q, sf.b, i, tail) }
			if head == sent {
				held()
				return
			}
			start(head-sent, progress, func(ok bool) {
				if !ok {
					release(false)
					return
				}
				held()
			})
		}
		g := f.arriving(q, sf.b, i)
		if g == nil && p != sf.b.origin && !f.holdsPiece(q, sf.b, i) {
			// q named the piece, but its copy has since broken, or its
			// fetch fell back and dropped it: as the node's store
			// reader, it sends nothing until it holds the piece, and
			// the asker's request may run out meanwhile. (Sent at once,
			// as the simulation did, bytes q did not have went on to
			// the askers its asker served them to.)
			var wait func()
			wait = func() {
				switch {
				case r.ended || q.dead || sf.n.dead:
					release(false)
				case f.holdsPiece(q, sf.b, i):
					send(0)
				default:
					f.clk.After(relayPoll, wait)
				}
			}
			wait()
			return
		}
		if g == nil {
			send(0)
			return
		}

		// Cut-through: q is still receiving the piece, and sends on what
		// it has of it in segments. A segment goes once relaySegment
		// bytes are there to send, and the piece's last byte only once q
		// holds the piece checked: what waits for q's check is the last
		// byte and up to relaySegment more (the node holds back the last
		// byte alone; smaller segments would cost the simulation more
		// events for little). q's bytes count as they move; whether q
		// holds the piece is looked at every relayPoll. The bytes a
		// relay has received it is taken to have at once: a latency
		// early for all but the last segment, which waits for q's check
		// and so for the latency of q's own answer.
		f.stats.relays++
		relayed = g
		var sent int64
		var seg *simnet.Flow // the segment on its way, if any
		g.relays = append(g.relays, func() {
			if seg != nil {
				seg.Cancel()
			}
		})
		// breakOff ends the stream short: q's own copy failed or was
		// called off. The asker sees it a latency later (a failure,
		// not a lie) and asks another peer.
		breakOff := func() {
			f.stats.relaysBroken++
			release(false)
			f.clk.After(lat, func() {
				if !r.ended {
					timeout.Cancel()
					end(swarm.Failed, -1, nil, nil)
				}
			})
		}
		var step func()
		step = func() {
			switch {
			case r.ended || q.dead || sf.n.dead:
				release(false)
			case f.holdsPiece(q, sf.b, i):
				// Checked, or come from upstream after q's fall-back:
				// the rest goes as from any holder of the piece.
				send(sent)
			case g.broken:
				breakOff()
			default:
				can := min(total-1, header+g.pieceBytes())
				if can-sent < relaySegment {
					f.clk.After(relayPoll, step)
					return
				}
				n := can - sent
				start(n, progress, func(ok bool) {
					seg = nil
					switch {
					case ok:
						sent += n
						lastByte = f.clk.Now()
						step()
					case g.broken && !r.ended && !q.dead && !sf.n.dead:
						breakOff()
					default:
						release(false)
					}
				})
				seg = r.flow
			}
		}
		step()
	})
}

// pieceRequest is what a piece request's callbacks share.
type pieceRequest struct {
	flow  *simnet.Flow // the flow moving the piece now, if any
	ended bool         // the asker has its answer
	// askedAhead: the request gave its intake room back before its end
	// (swarm.AskAhead), when doneBytes (its flows ended) and the running
	// flow's bytes left little of the piece to come.
	askedAhead bool
	doneBytes  float64
}

// askAheadPoll is how often a request in the simulation looks whether
// it may ask ahead; the node looks at every read.
const askAheadPoll = 50 * time.Millisecond

// askAhead watches a request whose first bytes are moving now, and gives
// its intake room back once swarm.AskAhead says so (p2p's
// swarmFetch.receive). The asker sees what it is given a latency after
// the holder sends it: its header arrives a latency from now, which ends
// its answer's wait from asked; at any time after, it holds what its
// flows had moved a latency before (taken as what they have moved less
// the running flow's rate for a latency).
func (sf *fetch) askAhead(asked time.Duration, total int64, r *pieceRequest) {
	f := sf.f
	lat := f.cfg.latency
	header := f.clk.Now() + lat
	answer := header - asked
	var poll func()
	poll = func() {
		if r.ended || r.askedAhead || sf.over || sf.n.dead {
			return
		}
		got := r.doneBytes
		if fl := r.flow; fl != nil && !fl.Finished() {
			got += fl.Moved() - fl.Rate()*lat.Seconds()
		}
		if since := f.clk.Now() - header; since > 0 && swarm.AskAhead(answer, since, int64(got), total-int64(got), sf.n.intake.Rate(), pieceSize) {
			r.askedAhead = true
			sf.n.intake.Release()
			sf.loop()
			return
		}
		f.clk.After(askAheadPoll, poll)
	}
	f.clk.After(askAheadPoll, poll)
}

// arrived is swarmFetch.arrived and check, for a piece whose content is
// right (the simulation has no liars).
func (sf *fetch) arrived(i, p int, o swarm.Outcome, have int64, pieces []int, members []swarm.Member, retry time.Duration, taken bool) {
	f := sf.f
	sf.inflight--
	if g := sf.inbound[i]; g != nil && (o != swarm.OK || sf.over || sf.n.dead) {
		// The piece will not be checked from this copy: its relays
		// break off. One that came whole is checked, now or once its
		// digest comes, and its relays then send the rest.
		delete(sf.inbound, i)
		g.breakOff()
	}
	if sf.over || sf.n.dead {
		return
	}
	now := f.now()
	sf.news(p, have, pieces, members)
	if o == swarm.Busy && taken {
		sf.plan.Taken(f.names[p], i, retry, now)
		sf.requeue(i)
		sf.loop()
		return
	}
	if o == swarm.Busy && retry > 0 {
		sf.plan.BusyFor(f.names[p], retry, now)
		sf.requeue(i)
		sf.loop()
		return
	}
	if o != swarm.OK {
		sf.plan.Done(f.names[p], o, now)
		sf.requeue(i)
		sf.loop()
		return
	}
	if i >= sf.known {
		// Kept, and counted in flight from p, until the origin sends
		// its digest (swarmFetch.arrived).
		sf.held[i] = p
		sf.askStatus()
		sf.loop()
		return
	}
	sf.plan.Done(f.names[p], swarm.OK, now)
	sf.checked(i)
	sf.loop()
}

func (sf *fetch) checked(i int) {
	f := sf.f
	sf.lastGood = f.clk.Now()
	sf.h.mem[i] = true
	delete(sf.inbound, i) // held whole now: its relays send the rest
	was := sf.next
	for sf.next < len(sf.h.mem) && sf.h.mem[sf.next] {
		sf.next++
	}
	if sf.next != was {
		// The store had no byte from this fetch since the reader last
		// moved: the node gives a fetch up after idleTimeout of that.
		waited := f.clk.Now() - sf.readerSince
		f.stats.readerWait = max(f.stats.readerWait, waited)
		if waited > idleTimeout && !sf.starved {
			sf.starved = true
			f.stats.starved++
		}
	}
	sf.h.stored = sf.delivered()
}

func (sf *fetch) requeue(i int) {
	at, _ := slices.BinarySearch(sf.todo, i)
	sf.todo = slices.Insert(sf.todo, at, i)
}

// askStatus asks the origin for news unless a question is out.
func (sf *fetch) askStatus() {
	f := sf.f
	if sf.asking {
		return
	}
	sf.asking = true
	f.stats.statuses++
	me := f.names[sf.n.id]
	have, extra := sf.delivered(), sf.extras()
	since, need := sf.since[sf.b.origin], sf.need(sf.b.origin)
	// A question that gets no answer waits out the status timeout.
	unanswered := func() {
		f.clk.After(statusTimeout-f.cfg.latency, func() { sf.asking = false })
	}
	f.message(sf.n.id, sf.b.origin, requestBytes(have, extra, need), func(ok bool) {
		o := f.nodes[sf.b.origin]
		if !ok || o.dead {
			unanswered()
			return
		}
		now := f.now()
		t := f.tracker(o, sf.b)
		t.Note(me, have, extra, now)
		oHave, oMem := f.haveOf(o, sf.b)
		members, version := t.Members(me, since, need, now)
		every := t.StatusEvery()
		k := int(oHave / pieceSize)
		if oHave == sf.b.size {
			k = sf.b.pieces()
		}
		f.message(o.id, sf.n.id, answerBytes(oHave, oMem, members, max(0, k-sf.known), f.cfg.membersByName), func(ok bool) {
			if !ok {
				unanswered()
				return
			}
			sf.asking = false
			if sf.over || sf.n.dead {
				return
			}
			sf.since[sf.b.origin] = max(sf.since[sf.b.origin], version)
			sf.every = swarm.StatusAfter(every)
			now := f.now()
			sf.news(sf.b.origin, oHave, oMem, members)
			sf.known = max(sf.known, k)
			for _, i := range sortedInts(sf.held) {
				if i < sf.known {
					sf.plan.Done(f.names[sf.held[i]], swarm.OK, now)
					delete(sf.held, i)
					sf.checked(i)
				}
			}
			sf.loop()
		})
	})
}

// finish is the fetch done: the node tells the origin it holds it all.
func (sf *fetch) finish() {
	f := sf.f
	sf.over = true
	sf.tick.Cancel()
	sf.h.stored, sf.h.complete = sf.b.size, true
	me := f.names[sf.n.id]
	f.message(sf.n.id, sf.b.origin, requestBytes(sf.b.size, nil, nil), func(ok bool) {
		if ok {
			f.tracker(f.nodes[sf.b.origin], sf.b).Note(me, sf.b.size, nil, f.now())
		}
	})
	f.blobDone(sf.n, sf.b)
}
