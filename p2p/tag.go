package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// TagAnswer is the fleet's answer to a tag question.
type TagAnswer struct {
	Digest digest.Digest
	// Peer answered (the first of those that gave Digest, when Cached).
	Peer peer.ID
	// Cached says no owner answered: Digest is what peers that pulled
	// the local repository through last stored, and may be stale.
	Cached bool
}

// Tag asks the connected peers which digest tag of repo last resolved
// to. The first owner's answer wins at once. Secondhand answers (from
// peers that pulled a local repository through) are kept until every
// peer has answered or the timeout passes, and then, with no owner's
// answer, the digest most of them gave is returned (ties: the first
// given): so a tag the owner moved is seen whenever the owner can be
// reached, and the image can still be pulled while it cannot. A peer
// that has not answered within a third of the timeout may sit behind a
// connection that died silently (a partition that has since healed): its
// connections are closed, it is dialled afresh and asked again.
func (h *Host) Tag(ctx context.Context, repo repository.Name, tag string, timeout time.Duration) (TagAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		d       digest.Digest
		p       peer.ID
		cached  bool
		ownerNo bool // the owner said it has no such tag
	}
	peers := h.host.Network().Peers()
	// Room for every first ask and every retry, so no asker blocks once
	// Tag has returned.
	answers := make(chan answer, 2*len(peers)+1)
	pending := map[peer.ID]bool{}
	ask := func(p peer.ID, fresh bool) {
		pending[p] = true
		go func() {
			if fresh {
				_ = h.host.Network().ClosePeer(p)
				cctx, ccancel := context.WithTimeout(ctx, timeout/2)
				err := h.host.Connect(cctx, h.host.Peerstore().PeerInfo(p))
				ccancel()
				if err != nil {
					answers <- answer{p: p}
					return
				}
			}
			s, err := h.Open(ctx, p, Request{Rule: repo.Rule, Repo: repo.Path, Tag: tag, AcceptCached: true})
			if err != nil {
				answers <- answer{p: p, ownerNo: errors.Is(err, ErrOwnerHasNoTag)}
				return
			}
			s.Close()
			if s.Digest.Validate() != nil {
				answers <- answer{p: p}
				return
			}
			answers <- answer{d: s.Digest, p: p, cached: s.Cached}
		}()
	}
	for _, p := range peers {
		if !h.penalised(p) {
			ask(p, false)
		}
	}
	if len(pending) == 0 {
		return TagAnswer{}, fmt.Errorf("%w: no peer to ask for tag %s", ErrNoPeer, tag)
	}
	var secondhand secondhandTags
	retried := map[peer.ID]bool{}
	stale := time.NewTimer(timeout / 3)
	defer stale.Stop()
	outstanding := len(pending)
	for outstanding > 0 {
		select {
		case a := <-answers:
			outstanding--
			delete(pending, a.p)
			switch {
			case a.ownerNo:
				// The owner's word is final, this way too: no
				// secondhand answer brings back a tag it removed.
				return TagAnswer{}, fmt.Errorf("%w: %s's owner %s has no tag %s", ErrOwnerHasNoTag, repo.Key(), a.p, tag)
			case a.d == "":
			case !a.cached:
				return TagAnswer{Digest: a.d, Peer: a.p}, nil
			default:
				secondhand.add(a.p, a.d)
			}
		case <-stale.C:
			for p := range pending {
				if !retried[p] {
					retried[p] = true
					h.log.Debug("peer silent on a tag lookup; redialling it", "peer", p)
					ask(p, true)
					outstanding++
				}
			}
		case <-ctx.Done():
			if a, ok := secondhand.best(); ok {
				return a, nil
			}
			return TagAnswer{}, fmt.Errorf("%w: no peer resolved tag %s: %v", ErrNoPeer, tag, ctx.Err())
		}
	}
	if a, ok := secondhand.best(); ok {
		return a, nil
	}
	return TagAnswer{}, fmt.Errorf("%w: no peer knows tag %s", ErrNoPeer, tag)
}

// secondhandTags are the secondhand answers to one tag question, in the
// order they came, one per peer.
type secondhandTags struct {
	answers []TagAnswer
}

func (s *secondhandTags) add(p peer.ID, d digest.Digest) {
	for _, a := range s.answers {
		if a.Peer == p {
			return // asked twice (redialled): one vote
		}
	}
	s.answers = append(s.answers, TagAnswer{Digest: d, Peer: p, Cached: true})
}

// best is the digest most peers gave (ties: the first given), with the
// first peer that gave it.
func (s *secondhandTags) best() (TagAnswer, bool) {
	var best TagAnswer
	most := 0
	votes := map[digest.Digest]int{}
	for _, a := range s.answers {
		votes[a.Digest]++
	}
	for _, a := range s.answers {
		if n := votes[a.Digest]; n > most {
			best, most = a, n
		}
	}
	return best, most > 0
}
