package swarm

import "slices"

const (
	// MaxNeed bounds the refs an asker asks one answerer to name in
	// one request (Refs.Need, Tracker.Members).
	MaxNeed = 16
	// maxRefs bounds one answerer's book: a table holds at most
	// maxMembers, and an answerer that names more (members come and go,
	// or it lies) empties the book, which fills again by Need.
	maxRefs = 2 * maxMembers
)

// Refs is an asker's book of one answerer's member numbers
// (Member.Ref): the peer each stands for, as the answerer named it, and
// the numbers heard without a name that the asker does not know yet,
// to ask for (Need). A book lives as long as the asker's cursor into
// the answerer's changes (the since it sends), so the two agree on
// what the asker was told. It is not safe for concurrent use.
type Refs struct {
	peers map[int]string
	need  []int
}

// Take resolves m, an entry of an answer from the book's answerer, to
// the peer it names: a Named entry names it and is remembered; one by
// Ref alone is looked up, and when unknown it is noted for Need and ok
// is false.
func (r *Refs) Take(m Member) (peer string, ok bool) {
	if r.peers == nil {
		r.peers = map[int]string{}
	}
	if m.Named {
		if m.Peer == "" {
			return "", false
		}
		if _, known := r.peers[m.Ref]; !known && len(r.peers) >= maxRefs {
			clear(r.peers)
		}
		r.peers[m.Ref] = m.Peer
		r.need = slices.DeleteFunc(r.need, func(x int) bool { return x == m.Ref })
		return m.Peer, true
	}
	if p, known := r.peers[m.Ref]; known {
		return p, true
	}
	if len(r.need) < MaxNeed && !slices.Contains(r.need, m.Ref) {
		r.need = append(r.need, m.Ref)
	}
	return "", false
}

// Need returns the refs to ask the answerer to name in the next request
// to it, and forgets them: one that is not answered (the request lost,
// the member gone) is noted again when an answer names it by Ref again.
func (r *Refs) Need() []int {
	n := r.need
	r.need = nil
	return n
}
