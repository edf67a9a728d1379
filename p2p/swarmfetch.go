package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/swarm"
)

// swarmFetch is the state of a Download in swarm mode. Only its run
// goroutine touches the planner, the piece list and the queue.
type swarmFetch struct {
	dl   *Download
	plan *swarm.Planner
	// origin is the peer bringing the blob into the fleet (its
	// designated fetcher), asked with originReq so that it serves what
	// it is fetching from upstream; "" when every holder has it whole.
	origin    peer.ID
	originReq Request
	// known are the piece digests learnt so far, from the origin (or
	// the holders' agreed list): every piece is checked against them.
	known []digest.Digest
	// sure is how many of the leading pieces have digests the fetch can
	// hold a sender to: the origin's, or a list two holders agreed on.
	// Past it a digest is one holder's word (a short first list, a later
	// page, a status answer): a piece that does not match it blames no
	// one, and a piece that does is not passed on to peers (check).
	sure int
	// vouched records, past sure, which peer gave each run of digests:
	// a run starts at piece from. A peer whose own piece does not match
	// its own digest contradicts itself, and is penalised whatever the
	// list's standing.
	vouched []vouch
	todo    []int            // pieces to fetch, ascending
	held    map[int]*arrival // pieces that arrived before their digest was known
	// blamed records, per piece, the first peer whose copy did not
	// match; a second peer failing the same piece means the list, not
	// the peers, is wrong.
	blamed map[int]peer.ID
	// pending are the pieces asked for and not yet checked, with the
	// requests out for each (a late one is asked of a second peer).
	pending map[int]*pieceAsk
	got     map[int]bool // pieces checked and handed to the reader
	// typical is how long a piece request has been taking, smoothed.
	typical time.Duration
	ids     map[string]peer.ID
	// since is, per peer, the MembersVersion of its last answer: the
	// next request to it asks only for the members that changed.
	since map[peer.ID]uint64
	// refs is, per peer, the book of the member refs it answered with
	// (swarm.Refs): it lives as long as since, so the two agree on what
	// this fetch was told.
	refs map[peer.ID]*swarm.Refs
	// statusEvery is how often the status peer asked to be asked for
	// news (Response.StatusMS, within swarm.StatusAfter's bounds).
	statusEvery time.Duration
	advance     chan struct{}
	// wake is poked when the node's intake has room again (intake.go).
	wake     chan struct{}
	statusCh chan statusAnswer
	asking   bool
	lastGood time.Time
	// swarmHeld is the most pieces the planner has known the swarm to
	// hold, and lastGrowth when that grew.
	swarmHeld  int
	lastGrowth time.Time
	// readerAt is the piece the reader waited on when last looked at,
	// and readerSince since when (swarm.Urgent).
	readerAt    int
	readerSince time.Time
	failed      bool
	start       sync.Once

	// mem holds the checked pieces the reader has not yet taken, which
	// this node serves to its peers before its store has them.
	memMu sync.Mutex
	mem   map[int][]byte
	// inbound holds the pieces on their way in that this node serves on
	// while they arrive (inbound.go): one request's per piece.
	inbound map[int]*inbound

	// done is closed when run returns: a request still out then has no
	// one to hand its answer to (deliver).
	done chan struct{}
}

// Bounds on what answers name. A tracker's answer names at most
// swarm.MembersPerAnswer members and swarm.MaxNeed asked for by number;
// an answer naming more is read that far. A fetch keeps at most
// maxFetchPeers peers: in a large swarm each member hears of about 64
// others (swarm.Tracker's views), and of those holding most. Each bound
// keeps a member's flood of made-up peers from growing the fetch's
// tables, and from counting as the swarm's progress
// (swarm.Planner.Progress).
const (
	maxAnswerMembers = swarm.MembersPerAnswer + swarm.MaxNeed
	maxFetchPeers    = 1024
)

// vouch is a run of piece digests from one peer, from piece from on.
type vouch struct {
	from int
	p    peer.ID
}

// pieceAsk is a piece's requests in flight.
type pieceAsk struct {
	since time.Time // the first request
	asks  map[peer.ID]context.CancelFunc
}

// statusAnswer is a status question's answer (nil: none) and whom it
// was asked of: with no origin, statusPeer may name another peer by the
// time it arrives.
type statusAnswer struct {
	r *Response
	p peer.ID
}

type arrival struct {
	i    int
	p    peer.ID
	took time.Duration
	data []byte
	// in is data's arrival as peers see it, if they are served it
	// while it arrives; settled before data is handed on or given back.
	in     *inbound
	have   int64
	pieces []int // the sender's pieces beyond have
	mem    []Member
	refs   []MemberRef
	// version is the answer's MembersVersion.
	version uint64
	err     error
	o       swarm.Outcome
	retry   time.Duration // a busy answer's wait, when it said
	taken   bool          // a busy answer's Taken
}

// startSwarm fetches the blob piece by piece from every peer that has
// pieces of it, learnt from first (a header-only answer, or a holder's)
// and kept fresh by asking the origin for news.
func (dl *Download) startSwarm(first *Response, from peer.ID, origin peer.ID, originReq Request, holders []peer.ID, sure int) {
	n := pieceCount(dl.Size)
	sf := &swarmFetch{
		dl:          dl,
		sure:        sure,
		plan:        swarm.NewPlanner(dl.Size, PieceSize, origin.String(), uint64(time.Now().UnixNano())),
		origin:      origin,
		originReq:   originReq,
		held:        map[int]*arrival{},
		blamed:      map[int]peer.ID{},
		pending:     map[int]*pieceAsk{},
		got:         map[int]bool{},
		ids:         map[string]peer.ID{},
		since:       map[peer.ID]uint64{},
		refs:        map[peer.ID]*swarm.Refs{},
		advance:     make(chan struct{}, 1),
		wake:        make(chan struct{}, 1),
		statusCh:    make(chan statusAnswer, 1),
		lastGood:    time.Now(),
		readerSince: time.Now(),
		statusEvery: swarm.StatusInterval,
		mem:         map[int][]byte{},
		inbound:     map[int]*inbound{},
		done:        make(chan struct{}),
	}
	if origin == "" {
		sf.plan = swarm.NewPlanner(dl.Size, PieceSize, "", uint64(time.Now().UnixNano()))
	}
	for i := range n {
		sf.todo = append(sf.todo, i)
	}
	for _, p := range holders {
		sf.learn(p, dl.Size)
	}
	sf.news(first, from)
	dl.sw = sf
	dl.h.activeMu.Lock()
	dl.h.active[dl.d] = sf
	dl.h.activeMu.Unlock()
	dl.pieces = make([]digest.Digest, n) // marks piece mode for Read
	dl.results = make([]chan pieceResult, n)
	for i := range dl.results {
		dl.results[i] = make(chan pieceResult, 1)
	}
	// The pieces are asked for once the blob is read: a caller that only
	// wanted its size (a HEAD) costs the swarm nothing more.
}

// begin starts fetching pieces, once.
func (sf *swarmFetch) begin() { sf.start.Do(func() { go sf.run() }) }

func (sf *swarmFetch) learn(p peer.ID, have int64) {
	sf.learnAs(p.String(), p, have)
}

// learnAs is learn for p, whose text form (the planner's key) is key.
func (sf *swarmFetch) learnAs(key string, p peer.ID, have int64) {
	if p == sf.dl.h.ID() || sf.dl.h.penalised(p) {
		return
	}
	if _, known := sf.ids[key]; !known && len(sf.ids) >= maxFetchPeers && p != sf.origin {
		return
	}
	sf.ids[key] = p
	sf.plan.Learn(key, have)
}

// idOf is the peer a member's text form names: a known one from ids,
// else decoded. The planner is keyed by the canonical text form, which a
// member's may not be (peer.Decode takes other encodings too); key is
// it. Every answer names up to 64 members, and decoding each one's ID
// from base58 and encoding it again was most of the CPU a 50-node
// rollout spent on news (BenchmarkSwarmNews: 380 µs an answer).
func (sf *swarmFetch) idOf(text string) (key string, id peer.ID, ok bool) {
	if id, ok := sf.ids[text]; ok {
		return text, id, true
	}
	id, err := peer.Decode(text)
	if err != nil {
		return "", "", false
	}
	return id.String(), id, true
}

// news takes in a peer's answer: its progress, the members it knows and
// piece digests.
func (sf *swarmFetch) news(r *Response, from peer.ID) {
	sf.since[from] = max(sf.since[from], r.MembersVersion)
	if r.StatusMS > 0 {
		sf.statusEvery = swarm.StatusAfter(time.Duration(r.StatusMS) * time.Millisecond)
	}
	fromKey := from.String()
	sf.learnAs(fromKey, from, r.Have)
	if r.PieceSize != 0 && sf.plan.Known(fromKey) {
		sf.plan.LearnPieces(fromKey, r.HavePieces)
	}
	for _, m := range r.Members[:min(len(r.Members), maxAnswerMembers)] {
		sf.member(m.Peer, m.Have, m.Pieces)
	}
	if len(r.MemberRefs) > 0 {
		book := sf.refs[from]
		if book == nil {
			book = &swarm.Refs{}
			sf.refs[from] = book
		}
		for _, m := range r.MemberRefs[:min(len(r.MemberRefs), maxAnswerMembers)] {
			if text, ok := book.Take(swarm.Member{Ref: m.Ref, Peer: m.Peer, Named: m.Peer != ""}); ok {
				sf.member(text, m.Have, m.Pieces)
			}
		}
	}
	if r.PiecesFrom == len(sf.known) && len(r.Pieces) > 0 {
		if len(sf.known) >= sf.sure {
			sf.vouched = append(sf.vouched, vouch{len(sf.known), from})
		}
		sf.known = append(sf.known, r.Pieces[:min(len(r.Pieces), pieceCount(sf.dl.Size)-len(sf.known))]...)
	}
}

// voucher is the peer whose word piece i's digest is, past sure.
func (sf *swarmFetch) voucher(i int) peer.ID {
	var p peer.ID
	for _, v := range sf.vouched {
		if v.from > i {
			break
		}
		p = v.p
	}
	return p
}

// member takes in what an answer says of one member.
func (sf *swarmFetch) member(text string, have int64, pieces []int) {
	key, id, ok := sf.idOf(text)
	if !ok {
		return
	}
	sf.learnAs(key, id, have)
	if sf.plan.Known(key) {
		sf.plan.LearnPieces(key, pieces)
	}
}

// need is what the next request to p asks it to name: refs of its
// answers this fetch does not know (swarm.Refs.Need).
func (sf *swarmFetch) need(p peer.ID) []int {
	if book := sf.refs[p]; book != nil {
		return book.Need()
	}
	return nil
}

func (sf *swarmFetch) run() {
	defer close(sf.done)
	dl := sf.dl
	// Room for every request in flight, a second one for each piece
	// included, so none blocks once run has returned.
	events := make(chan *arrival, 2*swarm.Window)
	// The origin says how often to ask it for news, less often the more
	// members it answers (swarm.Tracker.StatusEvery).
	every := sf.statusEvery
	tick := time.NewTicker(every)
	defer tick.Stop()
	// retry fires when a peer left alone after a busy answer may be
	// asked again, if the window had a piece no one could be asked for.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	inflight := 0
	for {
		now := time.Now()
		next := int(dl.readNext.Load())
		var window []int
		for _, i := range sf.todo {
			if i >= next+swarm.Window {
				break
			}
			window = append(window, i)
		}
		if next != sf.readerAt {
			sf.readerAt, sf.readerSince = next, now
		}
		urgent := swarm.Urgent(next, now.Sub(sf.readerSince))
		sf.plan.Order(window, urgent)
		unasked, heldBack := false, false
		for _, i := range window {
			// Every request waits for the node's intake, but for the
			// first of a fetch whose reader starves (admitIntake).
			if !dl.h.admitIntake(now, inflight == 0, urgent >= 0) {
				heldBack = inflight == 0
				break
			}
			id, ok := sf.plan.Pick(i, now)
			if !ok {
				dl.h.unadmitIntake()
				unasked = true
				continue
			}
			sf.todo = slices.DeleteFunc(sf.todo, func(j int) bool { return j == i })
			inflight++
			sf.launch(i, sf.ids[id], events)
		}
		for i, pa := range sf.pending {
			if len(pa.asks) != 1 || sf.held[i] != nil || !swarm.Late(now.Sub(pa.since), sf.typical) {
				continue
			}
			var asked peer.ID
			for p := range pa.asks {
				asked = p
			}
			if !dl.h.admitIntake(now, false, false) {
				break
			}
			if id, ok := sf.plan.PickOther(i, now, asked.String()); ok {
				inflight++
				sf.launch(i, sf.ids[id], events)
			} else {
				dl.h.unadmitIntake()
			}
		}
		if sf.failed {
			return
		}
		if at, ok := sf.plan.Retry(now); ok && unasked && inflight == 0 {
			retry.Reset(at.Sub(now))
		}
		if len(sf.todo) == 0 && inflight == 0 && len(sf.held) == 0 {
			sf.reportDone()
			return
		}
		// The swarm is stalled when this fetch has had no piece and
		// the swarm, the origin included, has grown by none for
		// swarm.Stall (Planner.Progress): in a large
		// fleet a fetch can wait its turn for longer while the pieces
		// spread, and going upstream then would cost a copy per node.
		// A fetch its node holds back, while it brings a blob in or
		// while its other fetches fill the intake (admitIntake), is
		// waiting its turn, not stalled: in a swarm of two it would
		// otherwise give up after swarm.Stall and fetch the blob from
		// upstream too (seen in the simulation). It waits at most
		// swarm.ReaderWait before its reader's piece goes out anyway.
		if h := sf.plan.Progress(); h > sf.swarmHeld || dl.h.bringingIn() || heldBack {
			sf.swarmHeld, sf.lastGrowth = max(h, sf.swarmHeld), now
		}
		// A reader that has waited swarm.ReaderStarve for its next piece
		// is stalled whatever the swarm does: the store would fail the
		// pull soon after.
		if (sf.plan.Live() == 0 && inflight == 0) || now.Sub(later(sf.lastGood, sf.lastGrowth)) > swarm.Stall || now.Sub(sf.readerSince) > swarm.ReaderStarve {
			sf.fail(fmt.Errorf("%w: swarm for %s stalled", ErrNoPeer, dl.d))
			return
		}
		select {
		case a := <-events:
			inflight--
			if sf.failed {
				sf.settle(a, false)
				sf.dl.h.putPieceBuf(a.data)
				continue
			}
			sf.arrived(a)
		case a := <-sf.statusCh:
			sf.asking = false
			if a.r != nil {
				sf.news(a.r, a.p)
				sf.checkHeld()
			}
			if sf.statusEvery != every {
				every = sf.statusEvery
				tick.Reset(every)
			}
		case <-sf.advance:
			sf.lastGood = time.Now() // a reader that moves on is progress too
		case <-sf.wake:
		case <-retry.C:
		case <-tick.C:
			sf.askStatus()
			// The planner's state is only described for a log that shows it.
			if idle := time.Since(sf.lastGood); idle > 5*time.Second && idle%(5*time.Second) < swarm.StatusInterval && dl.h.log.Enabled(dl.ctx, slog.LevelInfo) {
				dl.h.log.Info("swarm fetch waiting", "digest", dl.d, "idle", idle.Round(time.Second), "next", dl.readNext.Load(), "todo", len(sf.todo), "inflight", inflight, "held", len(sf.held), "known", len(sf.known), "peers", sf.plan.State(time.Now()))
			}
		case <-dl.ctx.Done():
			sf.dropHeld()
			return
		}
	}
}

// launch asks p for piece i, recording the request so that a copy that
// arrives first can call it off.
func (sf *swarmFetch) launch(i int, p peer.ID, out chan<- *arrival) {
	// A piece whose transfer goes quiet is asked of another peer: a
	// transfer can stall (a peer whose own fetch restarted, a connection
	// gone quiet), and one stalled request must not stall the blob. One
	// that is slow but moving goes on (quiet.go), except from the
	// origin: its uplink is what the whole swarm waits on, and a first
	// copy it spends on a slow asker is given back after PieceTimeout
	// and goes to another (in docker at 50 nodes an origin bringing in
	// two layers kept one copy going to one asker for over a minute).
	// On a link too slow for a piece to come in PieceTimeout at its fair
	// share, the bound grows with it (swarm.OriginLimit).
	limit := swarm.PieceLimit
	if p == sf.origin {
		limit = swarm.OriginLimit(PieceSize, sf.dl.h.intake.rate())
	}
	ctx, cancel := context.WithTimeout(sf.dl.ctx, limit)
	quiet := time.AfterFunc(swarm.PieceTimeout, cancel)
	pa := sf.pending[i]
	if pa == nil {
		pa = &pieceAsk{since: time.Now(), asks: map[peer.ID]context.CancelFunc{}}
		sf.pending[i] = pa
	}
	pa.asks[p] = cancel
	go sf.fetch(ctx, cancel, quiet, i, p, sf.since[p], sf.need(p), out)
}

// fetch asks p for piece i; since is the members version of p's last
// answer, need the refs to ask it to name.
func (sf *swarmFetch) fetch(ctx context.Context, cancel context.CancelFunc, quiet *time.Timer, i int, p peer.ID, since uint64, need []int, out chan<- *arrival) {
	defer cancel()
	defer quiet.Stop()
	// The room is given back here, not when run takes the answer: run
	// may have returned, and no one would. Or earlier, while the piece's
	// last bytes come in (askAhead).
	release := sync.OnceFunc(sf.dl.h.releaseIntake)
	defer release()
	dl := sf.dl
	start := time.Now()
	req := Request{Digest: dl.d, Repo: dl.holdersRepo, Offset: int64(i) * PieceSize, Length: dl.pieceLen(i), Swarm: true, Have: dl.delivered.Load(), HavePieces: sf.extras(), MembersSince: since, MemberRefs: true, NeedRefs: need}
	if p == sf.origin {
		req.Rule, req.Repo = sf.originReq.Rule, sf.originReq.Repo
		req.Avoid = dl.h.penalisedPeers(maxAvoid)
	}
	a := &arrival{i: i, p: p}
	s, err := dl.h.Open(ctx, p, req)
	header := time.Now()
	switch {
	case errors.Is(err, ErrBusy):
		a.o, a.err = swarm.Busy, err
		var b *busyError
		if errors.As(err, &b) {
			a.mem, a.refs, a.version, a.retry, a.taken = b.members, b.refs, b.version, b.retry, b.taken
		}
	case err != nil:
		a.o, a.err = swarm.Failed, err
	case s.Size != dl.Size:
		s.Close()
		dl.h.Penalise(p, "sent another size for "+dl.d.String())
		a.o, a.err = swarm.Lied, errors.New("wrong size")
	default:
		a.have, a.pieces, a.mem, a.refs, a.version = s.Have, s.HavePieces, s.Members, s.MemberRefs, s.MembersVersion
		quiet.Reset(swarm.PieceTimeout)
		ahead := &askAhead{intake: &dl.h.intake, answer: header.Sub(start), since: header, release: release}
		a.data, a.in, a.err = sf.receive(quietReader{s, quiet, swarm.PieceTimeout}, i, ahead)
		s.Close()
		if a.err != nil {
			a.o = swarm.Failed
		}
	}
	a.took = time.Since(start)
	if a.o != swarm.Busy {
		dl.h.log.Debug("piece request", "digest", dl.d, "piece", i, "peer", p, "outcome", a.o, "header", header.Sub(start).Round(time.Millisecond), "took", a.took.Round(time.Millisecond), "err", a.err)
	}
	sf.deliver(out, a)
}

// deliver hands a request's answer to run, or drops it if run has
// returned. run's channel has room for the requests it keeps in flight,
// but a second request for a piece whose first answer came meanwhile is
// no longer counted, and one more answer than the room blocked its
// goroutine for ever, holding its intake room and piece buffer (found in
// review).
func (sf *swarmFetch) deliver(out chan<- *arrival, a *arrival) {
	select {
	case out <- a:
	case <-sf.done:
		sf.settle(a, false)
		sf.dl.h.putPieceBuf(a.data)
	}
}

// receive reads piece i from r into a buffer from the pool. A piece this
// node would pass on from memory (isSure) is served on to peers while it
// arrives (inbound), unless another request for it already is. ahead,
// if not nil, is told of every read.
func (sf *swarmFetch) receive(r io.Reader, i int, ahead *askAhead) ([]byte, *inbound, error) {
	dl := sf.dl
	data := dl.h.pieceBuf()[:dl.pieceLen(i)]
	var g *inbound
	if sf.isSure(i) {
		g = newInbound(data, dl.h.putPieceBuf)
		sf.memMu.Lock()
		if sf.inbound[i] == nil {
			sf.inbound[i] = g
		} else {
			g = nil
		}
		sf.memMu.Unlock()
	}
	cr := countingReader{r, &dl.h.intake}
	got := 0
	for got < len(data) {
		k, err := cr.Read(data[got:])
		got += k
		if g != nil && k > 0 {
			g.arrived(got)
		}
		if ahead != nil && k > 0 {
			ahead.read(got, len(data))
		}
		if err != nil && got < len(data) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			sf.settleInbound(i, g, false)
			dl.h.putPieceBuf(data)
			return nil, nil, err
		}
	}
	return data, g, nil
}

// settle ends a's arrival as its peers see it (inbound.settle): ok once
// it is checked and kept in mem, not ok before its buffer is given back
// or dropped.
func (sf *swarmFetch) settle(a *arrival, ok bool) {
	sf.settleInbound(a.i, a.in, ok)
	a.in = nil
}

func (sf *swarmFetch) settleInbound(i int, g *inbound, ok bool) {
	if g == nil {
		return
	}
	g.settle(ok)
	sf.memMu.Lock()
	if sf.inbound[i] == g {
		delete(sf.inbound, i)
	}
	sf.memMu.Unlock()
}

// arrived handles a piece request's end.
func (sf *swarmFetch) arrived(a *arrival) {
	now := time.Now()
	pa := sf.pending[a.i]
	if pa == nil || pa.asks[a.p] == nil || sf.got[a.i] || sf.held[a.i] != nil {
		// A request called off, or a second copy of a piece already
		// here: its news still counts, its bytes do not.
		sf.settle(a, false)
		sf.dl.h.putPieceBuf(a.data)
		sf.plan.Done(a.p.String(), swarm.Cancelled, now)
		if pa != nil {
			delete(pa.asks, a.p)
		}
		return
	}
	delete(pa.asks, a.p)
	others := len(pa.asks) > 0
	if a.err != nil {
		sf.news(&Response{Have: -1, Members: a.mem, MemberRefs: a.refs, MembersVersion: a.version, PiecesFrom: -1}, a.p)
		if a.o != swarm.Busy {
			sf.dl.h.log.Debug("piece request failed", "digest", sf.dl.d, "piece", a.i, "peer", a.p, "err", a.err)
		}
		switch {
		case a.o == swarm.Busy && a.taken:
			sf.plan.Taken(a.p.String(), a.i, a.retry, now)
		case a.o == swarm.Busy && a.retry > 0:
			sf.plan.BusyFor(a.p.String(), a.retry, now)
		default:
			sf.plan.Done(a.p.String(), a.o, now)
		}
		if !others {
			delete(sf.pending, a.i)
			sf.requeue(a.i)
		}
		return
	}
	if sf.typical == 0 {
		sf.typical = a.took
	} else {
		sf.typical += (a.took - sf.typical) / 4
	}
	sf.news(&Response{Have: a.have, HavePieces: a.pieces, PieceSize: PieceSize, Members: a.mem, MemberRefs: a.refs, MembersVersion: a.version, PiecesFrom: -1}, a.p)
	if a.i >= len(sf.known) {
		// The origin has not told us this piece's digest yet (it hashes
		// pieces as they arrive from upstream): keep it until it does.
		sf.held[a.i] = a
		sf.askStatus()
		return
	}
	sf.check(a)
}

// check verifies a piece against its digest and hands it to the reader,
// or blames its sender and fetches it again.
func (sf *swarmFetch) check(a *arrival) {
	dl := sf.dl
	now := time.Now()
	if digest.SHA256.FromBytes(a.data) == sf.known[a.i] {
		sf.plan.Done(a.p.String(), swarm.OK, now)
		sf.lastGood = now
		sf.got[a.i] = true
		// Kept first: a request called off below may be serving its
		// copy on as it arrives (inbound.go), and those streams go on
		// from this one.
		if sf.isSure(a.i) {
			sf.memMu.Lock()
			sf.mem[a.i] = a.data
			sf.memMu.Unlock()
		}
		if pa := sf.pending[a.i]; pa != nil {
			for _, cancel := range pa.asks {
				cancel()
			}
			delete(sf.pending, a.i)
		}
		dl.mu.Lock()
		dl.sources[a.p] = true
		dl.mu.Unlock()
		// Before the buffer goes to the reader, which gives it back.
		sf.settle(a, sf.isSure(a.i))
		select {
		case dl.results[a.i] <- pieceResult{data: a.data, d: sf.known[a.i]}:
		default: // the fetch failed and the reader has its error
			sf.forget(a.i)
			dl.h.putPieceBuf(a.data)
		}
		return
	}
	sf.settle(a, false)
	dl.h.putPieceBuf(a.data)
	// A sender is held to the digest when the list is one the fetch can
	// hold it to (isSure), or when the sender gave that digest itself
	// and so contradicts itself. Otherwise only another holder's word
	// says the piece is wrong, and it may be the list that is: no one is
	// penalised, and a second copy that does not match, from anyone,
	// gives the swarm up.
	heldTo := sf.isSure(a.i) || sf.voucher(a.i) == a.p
	outcome := swarm.Failed
	if heldTo {
		outcome = swarm.Lied
	}
	sf.plan.Done(a.p.String(), outcome, now)
	if first, ok := sf.blamed[a.i]; ok && (first != a.p || !heldTo) {
		// Two copies of one piece disagree with the list: the list is
		// what is wrong. Give up on the swarm; the caller goes
		// upstream, and the store's digest check judges the rest.
		sf.fail(fmt.Errorf("%w: piece %d of %s matched no peer's copy", ErrNoPeer, a.i, dl.d))
		return
	}
	sf.blamed[a.i] = a.p
	if heldTo {
		dl.h.Penalise(a.p, fmt.Sprintf("piece %d of %s did not match", a.i, dl.d))
	}
	if pa := sf.pending[a.i]; pa != nil && len(pa.asks) > 0 {
		return // another peer's copy is on its way
	}
	delete(sf.pending, a.i)
	sf.requeue(a.i)
}

// isSure says whether piece i's digest is one a sender can be held to
// (sure).
func (sf *swarmFetch) isSure(i int) bool { return sf.origin != "" || i < sf.sure }

// checkHeld verifies the pieces that were waiting for their digests.
func (sf *swarmFetch) checkHeld() {
	for i, a := range sf.held {
		if i < len(sf.known) {
			delete(sf.held, i)
			sf.check(a)
		}
	}
}

func (sf *swarmFetch) dropHeld() {
	for i, a := range sf.held {
		sf.settle(a, false)
		sf.dl.h.putPieceBuf(a.data)
		delete(sf.held, i)
	}
}

func (sf *swarmFetch) requeue(i int) {
	at, _ := slices.BinarySearch(sf.todo, i)
	sf.todo = slices.Insert(sf.todo, at, i)
}

// fail ends the fetch: the reader gets err at the next piece it waits
// for.
func (sf *swarmFetch) fail(err error) {
	sf.failed = true
	sf.dropHeld()
	sf.breakInbound()
	for i := range sf.dl.results {
		select {
		case sf.dl.results[i] <- pieceResult{err: err}:
		default:
		}
	}
}

// statusPeer is whom a fetch asks for news: the origin, or any holder.
func (sf *swarmFetch) statusPeer() peer.ID {
	if sf.origin != "" {
		return sf.origin
	}
	for _, id := range sf.ids {
		return id
	}
	return ""
}

// askStatus asks for news unless a question is outstanding. The answer
// arrives on statusCh.
func (sf *swarmFetch) askStatus() {
	p := sf.statusPeer()
	if sf.asking || p == "" {
		return
	}
	sf.asking = true
	dl := sf.dl
	req := Request{Digest: dl.d, Repo: dl.holdersRepo, Status: true, Swarm: true, Have: dl.delivered.Load(), HavePieces: sf.extras(), WantPieces: len(sf.known) < pieceCount(dl.Size), PiecesFrom: len(sf.known), MembersSince: sf.since[p], MemberRefs: true, NeedRefs: sf.need(p)}
	if p == sf.origin {
		req.Rule, req.Repo = sf.originReq.Rule, sf.originReq.Repo
	}
	go func() {
		ctx, cancel := context.WithTimeout(dl.ctx, 5*time.Second)
		defer cancel()
		s, err := dl.h.Open(ctx, p, req)
		if err != nil {
			sf.statusCh <- statusAnswer{p: p}
			return
		}
		s.Close()
		r := s.Response
		sf.statusCh <- statusAnswer{&r, p}
	}()
}

// nudge tells the run loop the reader moved on.
func (sf *swarmFetch) nudge() {
	select {
	case sf.advance <- struct{}{}:
	default:
	}
}

// reportDone tells the blob's tracker this node now holds it all: a node
// that has finished asks no one anything more, and would otherwise stay
// known at its last reported progress, leaving later askers only the
// origin for the last pieces.
func (sf *swarmFetch) reportDone() {
	p := sf.statusPeer()
	if p == "" {
		return
	}
	dl := sf.dl
	req := Request{Digest: dl.d, Repo: dl.holdersRepo, Status: true, Swarm: true, Have: dl.Size, MemberRefs: true}
	if p == sf.origin {
		req.Rule, req.Repo = sf.originReq.Rule, sf.originReq.Repo
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(dl.ctx), 5*time.Second)
		defer cancel()
		if s, err := dl.h.Open(ctx, p, req); err == nil {
			s.Close()
		}
	}()
}

// forget drops piece i from what this node serves from memory: the
// reader is done with its buffer, and the store has it.
func (sf *swarmFetch) forget(i int) {
	sf.memMu.Lock()
	delete(sf.mem, i)
	sf.memMu.Unlock()
}

// extras lists the checked pieces held in memory beyond what the store
// holds, and those arriving that it serves on as they do
// (swarm.CutThrough), to tell the swarm.
func (sf *swarmFetch) extras() []int {
	stored := int(sf.dl.delivered.Load() / PieceSize)
	sf.memMu.Lock()
	defer sf.memMu.Unlock()
	var out []int
	for i := range sf.mem {
		if i >= stored {
			out = append(out, i)
		}
	}
	if swarm.CutThrough(sf.dl.h.intake.rate(), PieceSize) {
		for i, g := range sf.inbound {
			if _, kept := sf.mem[i]; !kept && i >= stored && g.flowing() {
				out = append(out, i)
			}
		}
	}
	slices.Sort(out)
	return out
}

// end stops serving this fetch's pieces from memory.
func (sf *swarmFetch) end() {
	h := sf.dl.h
	h.activeMu.Lock()
	if h.active[sf.dl.d] == sf {
		delete(h.active, sf.dl.d)
	}
	h.activeMu.Unlock()
	sf.memMu.Lock()
	clear(sf.mem)
	sf.memMu.Unlock()
	sf.breakInbound()
}

// breakInbound settles every piece still arriving as not passed on: the
// fetch has ended or failed, and no check will release their last bytes.
// An answer that came after a failed fetch's loop had returned could sit
// in its channel unread, its piece named as arriving until end (found in
// review).
func (sf *swarmFetch) breakInbound() {
	sf.memMu.Lock()
	arrivals := slices.Collect(maps.Values(sf.inbound))
	clear(sf.inbound)
	sf.memMu.Unlock()
	for _, g := range arrivals {
		g.settle(false)
	}
}

// activeFetch is this node's swarm fetch of d, if one runs.
func (h *Host) activeFetch(d digest.Digest) *swarmFetch {
	h.activeMu.Lock()
	defer h.activeMu.Unlock()
	return h.active[d]
}

// heldPiece copies piece i of d, want bytes long, from a fetch of this
// node's that holds it checked in memory, into a buffer from the pool
// (the caller gives it back); nil if none does.
func (h *Host) heldPiece(d digest.Digest, i int, want int64) []byte {
	sf := h.activeFetch(d)
	if sf == nil {
		return nil
	}
	sf.memMu.Lock()
	defer sf.memMu.Unlock()
	b := sf.mem[i]
	if int64(len(b)) != want {
		return nil
	}
	out := h.pieceBuf()[:want]
	copy(out, b)
	return out
}

// arrivingPiece is a reader of piece i of d, want bytes long, that a
// fetch of this node's is receiving (inbound.go); nil if none is, or if
// this node's link is too slow for it (swarm.CutThrough).
func (h *Host) arrivingPiece(ctx context.Context, d digest.Digest, i int, want int64) *relayReader {
	sf := h.activeFetch(d)
	if sf == nil {
		return nil
	}
	sf.memMu.Lock()
	g := sf.inbound[i]
	sf.memMu.Unlock()
	if g == nil || int64(g.size) != want || !swarm.CutThrough(h.intake.rate(), PieceSize) {
		return nil
	}
	return g.relay(ctx, h.pieceBuf, func() []byte { return h.heldPiece(d, i, want) }, h.putPieceBuf)
}

// heldPieces lists the pieces of d this node holds checked in memory,
// or serves on while they arrive, beyond have.
func (h *Host) heldPieces(d digest.Digest, have int64) []int {
	sf := h.activeFetch(d)
	if sf == nil {
		return nil
	}
	var out []int
	for _, i := range sf.extras() {
		if int64(i) >= have/PieceSize {
			out = append(out, i)
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
