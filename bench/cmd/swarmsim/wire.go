package main

import (
	"github.com/shoal-dev/shoal/swarm"
)

// The sizes of p2p's messages on the wire, so that the simulation's
// links carry them as the nodes' links do: a status answer naming 64
// members is about 5 KiB, and at 50 nodes polling their origin four
// times a second those answers alone are more than a 4 Mbit/s uplink
// can carry (bench/RESULTS.md). The sizes follow p2p's JSON (transfer.go,
// tracker.go); what they do not count (TLS records, TCP headers) is
// small beside it.
const (
	// peerIDLen is a libp2p peer ID's text form (Ed25519, base58).
	peerIDLen = 52
	// streamBytes is a libp2p stream's cost each way besides its
	// header line: yamux frames and the protocol's negotiation.
	streamBytes = 100
	// requestBase is a content request's fixed part: the digest,
	// the offset and length, the rule and repository, "swarm":true.
	requestBase = 200
	// answerBase is a swarm answer's fixed part: size, media type,
	// piece size, have, pieces_from, retry_ms.
	answerBase = 150
	// digestBytes is one piece digest in an answer's list.
	digestBytes = 74
)

func digits(v int64) int64 {
	n := int64(1)
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

func listBytes(xs []int) int64 {
	var n int64
	for _, x := range xs {
		n += digits(int64(x)) + 1
	}
	return n
}

// requestBytes is a content request with the asker's progress and the
// member refs it asks to have named (swarm.Refs.Need).
func requestBytes(have int64, extra []int, need []int) int64 {
	n := streamBytes + requestBase + digits(have) + listBytes(extra)
	if len(need) > 0 {
		n += 13 + listBytes(need) // "need_refs":[…],
	}
	return n
}

// answerBytes is a swarm answer's header line: the peer's progress,
// the members it names and the piece digests it sends. byName costs
// every member as an entry by peer ID, as p2p answers an asker of an
// earlier release; otherwise members go as refs, with the peer ID only
// when Named (p2p's MemberRef).
func answerBytes(have int64, extra []int, members []swarm.Member, digests int, byName bool) int64 {
	n := int64(streamBytes+answerBase) + digits(have) + listBytes(extra) + int64(digests)*digestBytes
	for _, m := range members {
		if byName {
			// {"peer":"…","have":N,"pieces":[…]},
			n += 9 + peerIDLen + 9 + digits(m.Have) + 2
			if len(m.Pieces) > 0 {
				n += 12 + listBytes(m.Pieces)
			}
			continue
		}
		// [ref,have], [ref,have,"…"], [ref,have,"",[…]] or
		// [ref,have,"…",[…]], and a comma.
		n += 2 + digits(int64(m.Ref)) + 1 + digits(m.Have) + 1
		if m.Named || len(m.Pieces) > 0 {
			n += 3
		}
		if m.Named {
			n += peerIDLen
		}
		if len(m.Pieces) > 0 {
			n += 3 + listBytes(m.Pieces)
		}
	}
	return n
}
