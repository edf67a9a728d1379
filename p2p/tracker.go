package p2p

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/swarm"
)

// tracker holds this node's swarm.Tracker of each blob it has been asked
// about (what a tracker decides lives in package swarm, so a simulated
// fleet runs the same code); here only the table of blobs and its lock.
const (
	// maxTracked bounds the blobs tracked, so a busy node's table stays
	// small.
	maxTracked = 1024
)

// Member is a peer fetching or holding a blob, as a tracker last heard:
// swarm.Member on the wire.
type Member struct {
	Peer string `json:"peer"`
	Have int64  `json:"have"`
	// Pieces are whole pieces it holds beyond Have.
	Pieces []int `json:"pieces,omitempty"`
}

type tracker struct {
	mu    sync.Mutex
	blobs map[digest.Digest]*swarm.Tracker
	// uplink reads the node's measured upload rate, which bounds how
	// often members ask for news (swarm.Tracker.SetUplink).
	uplink func() float64
}

func newTracker(uplink func() float64) *tracker {
	return &tracker{blobs: map[digest.Digest]*swarm.Tracker{}, uplink: uplink}
}

// note records that p holds have bytes of d, as it says.
func (t *tracker) note(d digest.Digest, p peer.ID, have int64, extra []int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[d]
	if s == nil {
		if len(t.blobs) >= maxTracked {
			t.evictLocked(now)
		}
		s = swarm.NewTracker(uint64(now.UnixNano()))
		t.blobs[d] = s
	}
	s.Note(p.String(), have, extra, now)
}

// evictLocked drops the blob tracked least recently, and every expired one.
func (t *tracker) evictLocked(now time.Time) {
	var oldest digest.Digest
	for d, s := range t.blobs {
		if now.Sub(s.Touched()) > swarm.MemberTTL {
			delete(t.blobs, d)
			continue
		}
		if oldest == "" || s.Touched().Before(t.blobs[oldest].Touched()) {
			oldest = d
		}
	}
	if len(t.blobs) >= maxTracked && oldest != "" {
		delete(t.blobs, oldest)
	}
}

// answer puts in r the members of req's blob that asker should hear
// of: those heard from other than the asker, those whose entries
// changed after req.MembersSince (swarm.Tracker.Members), and those it
// asks to have named; with the version to ask with next. They go as
// MemberRefs to an asker that asks for them, else as Members by name.
func (t *tracker) answer(r *Response, req *Request, asker peer.ID, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[req.Digest]
	if s == nil {
		return
	}
	s.SetUplink(t.uplink())
	me := asker.String()
	var need []int // numbers mean nothing to an asker by name
	if req.MemberRefs {
		need = req.NeedRefs
	}
	ms, version := s.Members(me, req.MembersSince, need, now)
	r.MembersVersion = version
	if !req.MemberRefs {
		r.Members = make([]Member, len(ms))
		for i, m := range ms {
			r.Members[i] = Member{Peer: m.Peer, Have: m.Have, Pieces: m.Pieces}
		}
		return
	}
	r.MemberRefs = make([]MemberRef, len(ms))
	for i, m := range ms {
		r.MemberRefs[i] = MemberRef{Ref: m.Ref, Have: m.Have, Pieces: m.Pieces}
		if m.Named {
			r.MemberRefs[i].Peer = m.Peer
		}
	}
}

// statusEvery is how often d's members should ask this node for news
// (swarm.Tracker.StatusEvery).
func (t *tracker) statusEvery(d digest.Digest) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.blobs[d]; s != nil {
		s.SetUplink(t.uplink())
		return s.StatusEvery()
	}
	return swarm.StatusInterval
}

// mayServe says whether this node should send piece i of d (ending at
// byte end) to asker now, and counts it if so (swarm.Tracker.MayServe).
func (t *tracker) mayServe(d digest.Digest, asker peer.ID, i int, end int64, now time.Time, avoid []string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[d]
	if s == nil {
		return true // not tracked (the table is full): serve
	}
	return s.MayServe(asker.String(), i, end, now, avoid)
}

// holds records how many pieces of d this node holds whole, of how many
// it has in all (swarm.Tracker.Holds, SetPieces).
func (t *tracker) holds(d digest.Digest, pieces, of int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.blobs[d]; s != nil {
		s.Holds(pieces)
		s.SetPieces(of)
	}
}

// hasPiece says whether piece i can be one of d's, as far as this node
// knows (swarm.Tracker.HasPiece).
func (t *tracker) hasPiece(d digest.Digest, i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[d]
	return s == nil || s.HasPiece(i)
}

// taken says whether the asker of piece i of d, declined, should ask for
// another piece at once (swarm.Tracker.Taken).
func (t *tracker) taken(d digest.Digest, i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[d]
	return s != nil && s.Taken(i)
}

// sent records how a copy of piece i of d (ending at byte end) that
// mayServe allowed to asker ended: whole (ok), asker holds it from then
// (swarm.Tracker.Sent, Gave).
func (t *tracker) sent(d digest.Digest, asker peer.ID, i int, end int64, ok bool, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.blobs[d]; s != nil {
		s.Sent(i, ok, now)
		if ok {
			s.Gave(asker.String(), i, end, now)
		}
	}
}
