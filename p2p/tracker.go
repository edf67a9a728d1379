package p2p

import (
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/swarm"
)

// A node remembers, per blob, the peers that asked it for pieces of that
// blob recently and how much of it each said it holds. The designated
// fetcher of a blob is asked by every node that fetches it, so it is the
// blob's tracker without anyone running one: each answer carries the
// swarm it knows, and askers then fetch from each other. Other nodes
// answer with the members they have heard from too.
const (
	// memberTTL is how long a member that has not been heard from is
	// passed on.
	memberTTL = time.Minute
	// maxTracked bounds the blobs tracked, and maxMembers the members
	// kept per blob, so a busy node's table stays small.
	maxTracked = 1024
	maxMembers = 512
	// membersPerAnswer bounds the members one answer carries.
	membersPerAnswer = 64
	// maxExtra bounds the out-of-order pieces kept per member: a fetch
	// holds a window of swarm.Window pieces.
	maxExtra = 64
)

// Member is a peer fetching or holding a blob, as a tracker last heard.
type Member struct {
	Peer string `json:"peer"`
	Have int64  `json:"have"`
	// Pieces are whole pieces it holds beyond Have.
	Pieces []int `json:"pieces,omitempty"`
}

type tracker struct {
	mu    sync.Mutex
	blobs map[digest.Digest]*swarmOf
}

type swarmOf struct {
	touched time.Time
	members map[peer.ID]*heard
	// sent counts the copies of each piece this node has sent.
	sent swarm.Spread
}

type heard struct {
	have  int64
	extra []int
	seen  time.Time
}

func newTracker() *tracker { return &tracker{blobs: map[digest.Digest]*swarmOf{}} }

// note records that p holds have bytes of d, as it says.
func (t *tracker) note(d digest.Digest, p peer.ID, have int64, extra []int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[d]
	if s == nil {
		if len(t.blobs) >= maxTracked {
			t.evictLocked(now)
		}
		s = &swarmOf{members: map[peer.ID]*heard{}}
		t.blobs[d] = s
	}
	s.touched = now
	m := s.members[p]
	if m == nil {
		if len(s.members) >= maxMembers {
			var oldest peer.ID
			for id, m := range s.members {
				if oldest == "" || m.seen.Before(s.members[oldest].seen) {
					oldest = id
				}
			}
			delete(s.members, oldest)
		}
		m = &heard{have: -1}
		s.members[p] = m
	}
	m.have = max(m.have, have)
	m.extra = extra[:min(len(extra), maxExtra)]
	m.seen = now
}

// evictLocked drops the blob tracked least recently, and every expired one.
func (t *tracker) evictLocked(now time.Time) {
	var oldest digest.Digest
	for d, s := range t.blobs {
		if now.Sub(s.touched) > memberTTL {
			delete(t.blobs, d)
			continue
		}
		if oldest == "" || s.touched.Before(t.blobs[oldest].touched) {
			oldest = d
		}
	}
	if len(t.blobs) >= maxTracked && oldest != "" {
		delete(t.blobs, oldest)
	}
}

// members lists up to membersPerAnswer peers heard from about d within
// memberTTL, other than except, those holding most first.
func (t *tracker) members(d digest.Digest, except peer.ID, now time.Time) []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[d]
	if s == nil {
		return nil
	}
	out := make([]Member, 0, len(s.members))
	for id, m := range s.members {
		if now.Sub(m.seen) > memberTTL {
			delete(s.members, id)
			continue
		}
		if id != except {
			out = append(out, Member{Peer: id.String(), Have: m.have, Pieces: m.extra})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Have > out[j].Have })
	return out[:min(len(out), membersPerAnswer)]
}

// holderFresh is how recently a member must have been heard from for
// this node to send askers of a piece to it instead of serving the piece
// itself: a member that left stops being heard from.
const holderFresh = 10 * time.Second

// mayServe says whether this node should send piece i of d (ending at
// byte end) to asker now, and counts it if so. It declines while another
// member heard from lately holds the piece (the asker is told of it),
// and otherwise sends each piece to a few askers at first (swarm.Spread).
func (t *tracker) mayServe(d digest.Digest, asker peer.ID, i int, end int64, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.blobs[d]
	if s == nil {
		return true // not tracked (the table is full): serve
	}
	for id, m := range s.members {
		if id != asker && m.have >= end && now.Sub(m.seen) < holderFresh {
			return false
		}
	}
	return s.sent.MayServe(i, now)
}
