package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// Tuning of fetches from peers.
const (
	// hedgeDelay is how long the first holder has to answer before a
	// second one is asked too.
	hedgeDelay = 300 * time.Millisecond
	// designatedDelay is how long a designated fetcher has to answer
	// before the next closest peer is asked. It is long, and not a hedge:
	// each peer asked may go upstream, and the answer waits for upstream's.
	designatedDelay = 15 * time.Second
	// maxProviders is how many advertising peers a fetch considers.
	maxProviders = 8
	// pieceWindow is how many pieces are in flight at once (and so the
	// memory a fetch buffers, in PieceSize units).
	pieceWindow = 4
	// pieceAttempts bounds how often one piece is asked for.
	pieceAttempts = 4
	// voteTimeout bounds how long other holders have to confirm the
	// first holder's piece digests.
	voteTimeout = 2 * time.Second
)

// Download is a blob arriving from peers. Reads deliver it in order;
// when the peers sent piece digests every piece is checked before it is
// handed on, and a peer whose piece does not match is penalised and the
// piece fetched from another. The whole blob's digest is the caller's to
// check.
type Download struct {
	Size      int64
	MediaType string

	h *Host
	d digest.Digest
	// holdersRepo names the repository in every request after the
	// first: a holder answers only for content that repository holds.
	holdersRepo string
	ctx         context.Context
	cancel      context.CancelFunc

	mu      sync.Mutex
	peers   []peer.ID // candidates, best first
	failed  map[peer.ID]bool
	sources map[peer.ID]bool

	// Sequential mode: no piece digests; one stream, resumed elsewhere
	// when it breaks.
	stream *Stream
	off    int64

	// Piece mode.
	pieces []digest.Digest
	// piecesSure says two holders agreed on pieces: a piece that does
	// not match them gets its sender penalised, where against another
	// holder's word (listFrom's) it is only tried elsewhere
	// (agreePieces).
	piecesSure bool
	listFrom   peer.ID
	results    []chan pieceResult
	next       int    // next piece to hand out
	buf        []byte // what is left of the piece being handed out
	held       []byte // that piece's whole buffer, to give back to the pool
	started    int
	// handing is the digest the piece being handed out (next-1) was
	// checked against, for the store (CheckedPiece).
	handing digest.Digest

	// Swarm mode: pieces from every peer that has them (swarmfetch.go).
	sw        *swarmFetch
	readNext  atomic.Int32 // next, for the swarm's run loop
	delivered atomic.Int64 // bytes handed to the reader: what this node holds
}

type pieceResult struct {
	data []byte
	d    digest.Digest // what data was checked against
	err  error
}

// ErrNoPeer means no peer could supply the content.
var ErrNoPeer = errors.New("p2p: no peer has the content")

// Fetch opens content d from whichever peers have it: the known
// holders (asked first: a holder's provider record may have been lost)
// and those the DHT finds. When none of them has it and repo is mirrored
// from a rule, the peer designated for d (the one whose ID is closest to
// d's key) is asked to fetch it from upstream and pass it on as it
// arrives; ErrNoPeer means this node is that peer itself, or no peer
// could help, and should go upstream itself. With a zero (or local) repo
// only holders are asked.
func (h *Host) Fetch(ctx context.Context, d digest.Digest, repo repository.Name, findTimeout time.Duration, known []peer.ID) (*Download, error) {
	if h.Peers() == 0 {
		return nil, ErrNoPeer
	}
	// The designated fetcher is looked up while providers are sought,
	// not after: for a blob no peer holds yet (every blob of a cold
	// rollout) the provider search runs to findTimeout, and a closest
	// peers query after it made each node of a 20-node rollout wait
	// 3.3 s before its first piece request. The lookup is called off
	// once a holder answers.
	var lookup *designatedLookup
	if repo.Mirrored() {
		lookup = h.lookUpDesignated(ctx, d)
		defer lookup.cancel()
	}
	fctx, cancel := context.WithTimeout(ctx, findTimeout)
	providers, err := h.FindProviders(fctx, d, maxProviders)
	cancel()
	if err != nil {
		return nil, err
	}
	var candidates []peer.ID
	for _, p := range known {
		if p != h.host.ID() && !h.penalised(p) && !slices.Contains(candidates, p) {
			candidates = append(candidates, p)
		}
	}
	for _, p := range providers {
		if !slices.Contains(candidates, p.ID) {
			candidates = append(candidates, p.ID)
		}
	}
	// Holders answer only for content the named repository holds on
	// their side; naming it without its rule keeps them from fetching it
	// upstream for us. The first question asks for the header only: a
	// peer that takes part in swarms answers with its progress, the
	// piece digests and the swarm it knows; an older one sends the
	// content, which is then read as before.
	req := Request{Digest: d, Repo: repo.Key(), Swarm: true, Status: true, WantPieces: true, MemberRefs: true}
	if len(candidates) > 0 {
		dl, err := h.fetchFrom(ctx, d, repo, candidates, req, false)
		// Holders that turned out not to hold it under repo's name are no
		// reason to skip the designated fetcher. A provider record names
		// a digest, not a repository: a layer two images share is
		// advertised by every node holding the first, and each node
		// pulling the second went upstream for it itself when they
		// refused.
		if err == nil || !repo.Mirrored() || ctx.Err() != nil {
			return dl, err
		}
	}
	if !repo.Mirrored() {
		return nil, ErrNoPeer
	}
	order, err := lookup.wait(ctx)
	if err != nil {
		return nil, ErrNoPeer
	}
	req.Rule, req.Repo = repo.Rule, repo.Path
	if len(order.closer) > 0 {
		dl, err := h.fetchFrom(ctx, d, repo, order.closer, req, true)
		if err == nil || ctx.Err() != nil {
			return dl, err
		}
	}
	// Every peer before this node declined or failed: it brings the blob
	// in itself (ErrNoPeer sends the caller upstream), unless it is
	// bringing in another; then the peers after it are asked, as the
	// fleet's other nodes ask them once this one has handed it on.
	if h.BringIn(d) || len(order.after) == 0 {
		return nil, ErrNoPeer
	}
	h.log.Debug("handing a blob on to the next node: bringing in another", "digest", d)
	// The last of them may not hand it on: someone must bring it in.
	req.takeLast = true
	return h.fetchFrom(ctx, d, repo, order.after, req, true)
}

// fetchFrom starts a download of d from candidates, best first: holders,
// or when designated the peers that should fetch it from upstream.
func (h *Host) fetchFrom(ctx context.Context, d digest.Digest, repo repository.Name, candidates []peer.ID, req Request, designated bool) (*Download, error) {
	dctx, dcancel := context.WithCancel(context.WithoutCancel(ctx))
	dl := &Download{h: h, d: d, holdersRepo: repo.Key(), ctx: dctx, cancel: dcancel, peers: candidates, failed: map[peer.ID]bool{}, sources: map[peer.ID]bool{}}
	first, err := dl.openHedged(ctx, req)
	if err != nil {
		dcancel()
		return nil, err
	}
	dl.Size, dl.MediaType = first.Size, first.MediaType
	if first.PieceSize == PieceSize {
		first.Close()
		return dl.swarmFrom(ctx, first, designated, req)
	}
	// A node of an earlier release: one stream, or pieces of its size.
	dl.sources[first.Peer] = true
	if n := int64(len(first.Pieces)); n == 0 || n != (first.Size+PieceSize-1)/PieceSize {
		dl.stream = first
		return dl, nil
	}
	pieces, trustFirst, sure := dl.agreePieces(ctx, first)
	dl.piecesSure, dl.listFrom = sure, first.Peer
	switch {
	case pieces == nil:
		// Peers disagree on the pieces and no majority settles it: take
		// the bytes as they come; the whole digest decides.
		dl.stream = first
	case trustFirst:
		dl.startPieces(pieces, first)
	default:
		first.Close()
		dl.startPieces(pieces, nil)
	}
	return dl, nil
}

// swarmFrom starts a swarm fetch after a swarm peer's header-only answer.
// From a designated fetcher the piece list grows as the blob arrives from
// upstream, and the fetcher is the swarm's origin. From holders the list
// is whole, and checked against the other holders' first.
func (dl *Download) swarmFrom(ctx context.Context, first *Stream, designated bool, req Request) (*Download, error) {
	if dl.Size == 0 {
		return dl, nil // Read ends at once
	}
	if designated {
		dl.startSwarm(&first.Response, first.Peer, first.Peer, req, nil, pieceCount(dl.Size))
		return dl, nil
	}
	resp := first.Response
	// With one holder to ask there is no one its list could wrong: the
	// bytes come from where the digests do, and its pieces are passed
	// on as a swarm's are (a pushed image rolled out from the node it
	// was pushed to). With more, a list is held to only once two agree.
	sure := 0
	if len(dl.peers) == 1 {
		sure = len(resp.Pieces)
	}
	if len(resp.Pieces) == pieceCount(dl.Size) || (len(resp.Pieces) == maxPiecesPerAnswer && resp.Have == dl.Size) {
		pieces, _, agreed := dl.agreePieces(ctx, first)
		if pieces == nil {
			return nil, fmt.Errorf("%w: holders of %s disagree on its pieces", ErrNoPeer, dl.d)
		}
		resp.Pieces = pieces
		if agreed {
			sure = len(pieces)
		}
	}
	resp.PiecesFrom = 0
	dl.startSwarm(&resp, first.Peer, "", Request{}, dl.peers, sure)
	return dl, nil
}

// designatedLookup is a lookup of a blob's designated fetchers running
// beside the search for its holders.
type designatedLookup struct {
	done   chan struct{}
	order  designation
	err    error
	cancel context.CancelFunc
}

// designation is the fleet's order for a blob as this node sees it: the
// peers closer to its digest than this node, closest first, and a few of
// those after it, to hand the blob on to (BringIn).
type designation struct {
	closer, after []peer.ID
}

// maxHandOff bounds the peers after this node that a blob it hands on is
// offered to.
const maxHandOff = 8

// lookUpDesignated starts h.designated(d) on a context of its own that
// cancel (or ctx ending) calls off.
func (h *Host) lookUpDesignated(ctx context.Context, d digest.Digest) *designatedLookup {
	lctx, cancel := context.WithCancel(ctx)
	l := &designatedLookup{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(l.done)
		l.order, l.err = h.designation(lctx, d)
	}()
	return l
}

// wait is the lookup's answer, once it has one.
func (l *designatedLookup) wait(ctx context.Context) (designation, error) {
	select {
	case <-l.done:
		return l.order, l.err
	case <-ctx.Done():
		return designation{}, ctx.Err()
	}
}

// designated lists, closest first, the peers that should fetch d from
// upstream for the fleet. It is empty when this node is the closest.
func (h *Host) designated(ctx context.Context, d digest.Digest) ([]peer.ID, error) {
	o, err := h.designation(ctx, d)
	return o.closer, err
}

// designation is d's order: the peers closer to it than this node and
// the first maxHandOff after, penalised peers left out.
func (h *Host) designation(ctx context.Context, d digest.Digest) (designation, error) {
	c, err := CID(d)
	if err != nil {
		return designation{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	key := string(c.Hash())
	closest, err := h.dht.GetClosestPeers(ctx, key)
	if err != nil {
		h.log.Debug("closest peers query", "digest", d, "err", err)
	}
	// In a small fleet the query can miss peers this node is connected to;
	// they count too.
	seen := map[peer.ID]bool{}
	var all []peer.ID
	for _, p := range append(append(closest, h.host.Network().Peers()...), h.host.ID()) {
		if !seen[p] {
			seen[p] = true
			all = append(all, p)
		}
	}
	var o designation
	out := &o.closer
	for _, p := range sortClosest(all, key) {
		if p == h.host.ID() {
			out = &o.after
			continue
		}
		if !h.penalised(p) && len(o.after) < maxHandOff {
			*out = append(*out, p)
		}
	}
	return o, nil
}

// openHedged asks the candidates in turn, starting the next one whenever
// the previous has failed or not answered within hedgeDelay (or, for a
// designated fetcher, designatedDelay), and keeps the first good answer.
func (dl *Download) openHedged(ctx context.Context, req Request) (*Stream, error) {
	delay := hedgeDelay
	if req.Rule != "" {
		delay = designatedDelay
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := make(chan openAnswer, len(dl.peers))
	started, pending := 0, 0
	start := func() {
		p := dl.peers[started]
		r := req
		r.Take = req.takeLast && started == len(dl.peers)-1
		started++
		pending++
		go func() {
			s, err := dl.h.Open(dl.ctx, p, r)
			answers <- openAnswer{s, p, err}
		}()
	}
	start()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var errs []error
	var won *Stream
	for pending > 0 {
		select {
		case a := <-answers:
			pending--
			if a.err != nil {
				dl.fail(a.p)
				errs = append(errs, fmt.Errorf("%s: %w", a.p, a.err))
				if won == nil && started < len(dl.peers) {
					start()
				}
				continue
			}
			if won != nil {
				a.s.Close() // the slower of a hedged pair
				continue
			}
			won = a.s
			cancel()
		case <-timer.C:
			if won == nil && started < len(dl.peers) {
				start()
				timer.Reset(delay)
			}
		case <-ctx.Done():
			if won == nil {
				errs = append(errs, ctx.Err())
				// Leave the pending opens to finish into the buffered channel.
				go drain(answers, pending)
				return nil, errors.Join(append([]error{ErrNoPeer}, errs...)...)
			}
			go drain(answers, pending)
			return won, nil
		}
	}
	if won == nil {
		return nil, errors.Join(append([]error{ErrNoPeer}, errs...)...)
	}
	return won, nil
}

// openAnswer is one peer's answer to a hedged open.
type openAnswer struct {
	s   *Stream
	p   peer.ID
	err error
}

// drain closes the streams of opens that lost a hedge.
func drain(ch chan openAnswer, n int) {
	for range n {
		if a := <-ch; a.s != nil {
			a.s.Close()
		}
	}
}

// sortClosest orders peers by XOR distance of their DHT keys to key.
func sortClosest(peers []peer.ID, key string) []peer.ID {
	return kb.SortClosestPeers(peers, kb.ConvertKey(key))
}

func (dl *Download) fail(p peer.ID) {
	dl.mu.Lock()
	dl.failed[p] = true
	dl.mu.Unlock()
}

// pick chooses a peer for the next request, spreading pieces over the
// candidates; ok is false when every candidate has failed.
func (dl *Download) pick(turn int) (peer.ID, bool) {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	var live []peer.ID
	for _, p := range dl.peers {
		if !dl.failed[p] && !dl.h.penalised(p) {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return "", false
	}
	return live[turn%len(live)], true
}

// Read delivers the blob in order.
func (dl *Download) Read(p []byte) (n int, err error) {
	if dl.pieces != nil {
		n, err = dl.readPieces(p)
	} else {
		n, err = dl.readSequential(p)
	}
	dl.delivered.Add(int64(n))
	return n, err
}

func (dl *Download) readSequential(p []byte) (int, error) {
	for attempt := 0; ; attempt++ {
		if dl.off >= dl.Size {
			return 0, io.EOF
		}
		if dl.stream != nil {
			n, err := dl.stream.Read(p)
			dl.off += int64(n)
			if n > 0 || err == nil {
				return n, nil
			}
			if err == io.EOF && dl.off >= dl.Size {
				return 0, io.EOF
			}
			// The stream broke: resume at this byte from another peer.
			dl.h.log.Debug("peer transfer broke; resuming elsewhere", "peer", dl.stream.Peer, "digest", dl.d, "offset", dl.off, "err", err)
			dl.fail(dl.stream.Peer)
			dl.stream.Close()
			dl.stream = nil
		}
		if attempt >= len(dl.peers) {
			return 0, fmt.Errorf("%w: transfer of %s broke at byte %d", ErrNoPeer, dl.d, dl.off)
		}
		peerID, ok := dl.pick(attempt)
		if !ok {
			return 0, fmt.Errorf("%w: transfer of %s broke at byte %d", ErrNoPeer, dl.d, dl.off)
		}
		s, err := dl.h.Open(dl.ctx, peerID, Request{Digest: dl.d, Repo: dl.holdersRepo, Offset: dl.off})
		if err != nil {
			dl.fail(peerID)
			continue
		}
		if s.Size != dl.Size {
			s.Close()
			dl.h.Penalise(peerID, "sent another size for "+dl.d.String())
			continue
		}
		dl.mu.Lock()
		dl.sources[peerID] = true
		dl.mu.Unlock()
		dl.stream = s
	}
}

// agreePieces checks the first peer's piece digests against other
// holders', since a peer that lies about the pieces would otherwise get
// honest peers blamed. Two peers that agree settle it; peers outvoted are
// penalised. It returns nil when no majority exists, whether the first
// peer's list won, and whether two peers agreed on the list (agreed):
// a list no one contradicted but no one confirmed either is the first
// peer's word only, and a piece that does not match it blames no one.
func (dl *Download) agreePieces(ctx context.Context, first *Stream) (list []digest.Digest, trustFirst, agreed bool) {
	key := func(p []digest.Digest) string { return fmt.Sprint(p) }
	votes := map[string][]peer.ID{key(first.Pieces): {first.Peer}}
	lists := map[string][]digest.Digest{key(first.Pieces): first.Pieces}
	// Ask up to two other holders at once, briefly: a holder that does
	// not answer in time does not vote, and must not stall the fetch.
	var others []peer.ID
	for _, p := range dl.peers {
		if p != first.Peer && len(others) < 2 {
			others = append(others, p)
		}
	}
	vctx, cancel := context.WithTimeout(ctx, voteTimeout)
	defer cancel()
	type vote struct {
		p    peer.ID
		size int64
		list []digest.Digest
		ok   bool
	}
	ballots := make(chan vote, len(others))
	for _, p := range others {
		go func() {
			s, err := dl.h.Open(vctx, p, Request{Digest: dl.d, Repo: dl.holdersRepo, Length: 1, Status: true, Swarm: true, WantPieces: true, MemberRefs: true})
			if err != nil {
				ballots <- vote{p: p}
				return
			}
			s.Close()
			ballots <- vote{p: p, size: s.Size, list: s.Pieces, ok: true}
		}()
	}
	for range others {
		v := <-ballots
		if !v.ok {
			continue
		}
		if v.size != first.Size || (len(v.list) > 0 && len(v.list) != len(first.Pieces)) {
			dl.h.Penalise(v.p, "sent another size or piece count for "+dl.d.String())
			continue
		}
		if len(v.list) == 0 {
			// It is still fetching the blob and has no pieces to vote
			// with; counting empty lists would let two such holders
			// outvote, and penalise, an honest one.
			continue
		}
		k := key(v.list)
		votes[k] = append(votes[k], v.p)
		lists[k] = v.list
	}
	for k, ps := range votes {
		if len(ps) < 2 {
			continue
		}
		for other, liars := range votes {
			if other != k {
				for _, liar := range liars {
					dl.h.Penalise(liar, "sent piece digests the other holders contradict for "+dl.d.String())
				}
			}
		}
		return lists[k], k == key(first.Pieces), true
	}
	if len(votes) == 1 {
		return first.Pieces, true, false // no one contradicts it
	}
	return nil, false, false
}

// startPieces begins piece mode. The first stream, if any, supplies
// piece 0.
func (dl *Download) startPieces(pieces []digest.Digest, first *Stream) {
	dl.pieces = pieces
	dl.results = make([]chan pieceResult, len(dl.pieces))
	for i := range dl.results {
		dl.results[i] = make(chan pieceResult, 1)
	}
	if first == nil {
		dl.fill()
		return
	}
	go func() {
		data, err := dl.readPiece(first, dl.pieceLen(0))
		first.Close()
		if err == nil && digest.SHA256.FromBytes(data) != dl.pieces[0] {
			dl.h.putPieceBuf(data)
			if dl.piecesSure || first.Peer == dl.listFrom {
				dl.h.Penalise(first.Peer, fmt.Sprintf("piece 0 of %s did not match", dl.d))
			}
			err = errors.New("piece mismatch")
		}
		if err != nil {
			dl.fail(first.Peer)
			data, err = dl.fetchPiece(0)
		}
		dl.results[0] <- pieceResult{data, dl.pieces[0], err}
	}()
	dl.started = 1
	dl.fill()
}

// fill keeps pieceWindow pieces in flight ahead of the reader.
func (dl *Download) fill() {
	if dl.sw != nil {
		dl.sw.nudge()
		return
	}
	for dl.started < len(dl.pieces) && dl.started < dl.next+pieceWindow {
		i := dl.started
		dl.started++
		go func() {
			data, err := dl.fetchPiece(i)
			dl.results[i] <- pieceResult{data, dl.pieces[i], err}
		}()
	}
}

func (dl *Download) pieceLen(i int) int64 {
	return min(PieceSize, dl.Size-int64(i)*PieceSize)
}

// fetchPiece brings piece i from a peer, checking it, trying others when
// one fails or lies.
func (dl *Download) fetchPiece(i int) ([]byte, error) {
	for attempt := range pieceAttempts + len(dl.peers) {
		p, ok := dl.pick(i + attempt)
		if !ok {
			break
		}
		s, err := dl.h.Open(dl.ctx, p, Request{Digest: dl.d, Repo: dl.holdersRepo, Offset: int64(i) * PieceSize, Length: dl.pieceLen(i)})
		if err != nil {
			dl.fail(p)
			continue
		}
		if s.Size != dl.Size {
			s.Close()
			dl.h.Penalise(p, "sent another size for "+dl.d.String())
			continue
		}
		data, err := dl.readPiece(s, dl.pieceLen(i))
		s.Close()
		if err != nil {
			dl.fail(p)
			continue
		}
		if digest.SHA256.FromBytes(data) != dl.pieces[i] {
			dl.h.putPieceBuf(data)
			if dl.piecesSure || p == dl.listFrom {
				dl.h.Penalise(p, fmt.Sprintf("piece %d of %s did not match", i, dl.d))
			}
			continue
		}
		dl.mu.Lock()
		dl.sources[p] = true
		dl.mu.Unlock()
		return data, nil
	}
	return nil, fmt.Errorf("%w: piece %d of %s", ErrNoPeer, i, dl.d)
}

// readPiece reads one piece of n bytes into a buffer from the host's
// pool; the reader gives it back once it has handed the piece on.
func (dl *Download) readPiece(s io.Reader, n int64) ([]byte, error) {
	data := dl.h.pieceBuf()[:n]
	_, err := io.ReadFull(countingReader{s, &dl.h.intake}, data)
	if err != nil {
		dl.h.putPieceBuf(data)
		return nil, err
	}
	return data, nil
}

func (dl *Download) readPieces(p []byte) (int, error) {
	if dl.sw != nil {
		dl.sw.begin()
	}
	if len(dl.buf) == 0 {
		if dl.held != nil {
			if dl.sw != nil {
				dl.sw.forget(dl.next - 1)
			}
			dl.h.putPieceBuf(dl.held)
			dl.held = nil
		}
		if dl.next >= len(dl.pieces) {
			if dl.sw != nil {
				dl.sw.end()
			}
			return 0, io.EOF
		}
		var r pieceResult
		select {
		case r = <-dl.results[dl.next]:
		case <-dl.ctx.Done():
			return 0, dl.ctx.Err()
		}
		if r.err != nil {
			return 0, r.err
		}
		dl.buf, dl.held, dl.handing = r.data, r.data, r.d
		dl.next++
		dl.readNext.Store(int32(dl.next))
		dl.fill()
	}
	n := copy(p, dl.buf)
	dl.buf = dl.buf[n:]
	return n, nil
}

// CheckedPiece says which digest piece i, the piece Read is handing out
// (or has just handed out whole), was checked against: the store keeps
// it with the blob rather than hash the piece again. A download that
// reads one stream unchecked (from a node of an earlier release) has
// none. Only Read's goroutine may call it.
func (dl *Download) CheckedPiece(i int, pieceSize int64) (digest.Digest, bool) {
	if pieceSize != PieceSize || dl.pieces == nil || i != dl.next-1 || dl.handing == "" {
		return "", false
	}
	return dl.handing, true
}

// Sources are the peers that supplied bytes, for the caller to penalise
// if the whole blob does not match its digest.
func (dl *Download) Sources() []peer.ID {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	out := make([]peer.ID, 0, len(dl.sources))
	for p := range dl.sources {
		out = append(out, p)
	}
	return out
}

// Close stops the download.
// Close stops the download. Cancelling its context resets every stream
// it has open (Open ties each stream to it), so the reader's own
// goroutine is left to drop them: Close may run concurrently with Read.
func (dl *Download) Close() error {
	dl.cancel()
	if dl.sw != nil {
		dl.sw.end()
	}
	return nil
}
