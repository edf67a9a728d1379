package swarm

import "time"

// originPieceShare is how many times one piece's time at the asker's
// whole measured download rate a request to the origin may take: both
// ends run at least two streams, so a piece at its fair share takes
// twice that, and the bound leaves as much again.
const originPieceShare = 4

// OriginLimit bounds a whole request to a blob's origin, for an asker
// whose download rate, over all its streams, measures rate bytes per
// second (0: not measured yet). It is PieceTimeout unless the link is
// so slow that a piece at its fair share would not fit: on 2 Mbit/s
// links a 1 MiB piece from an origin sending two copies, to an asker
// receiving two pieces, takes 8.4 s, and with either end sharing more
// every first copy of a piece ran past PieceTimeout, was given back and
// went out again, until every fetch of the blob stalled and went
// upstream (bench/cmd/swarmsim, 2 Mbit/s: 8.2 upstream copies at 10
// nodes, 48 at 50; docker, 10 nodes: 4.2). It never exceeds PieceLimit,
// the bound on any piece request.
func OriginLimit(pieceSize int64, rate float64) time.Duration {
	if !(rate > 0) {
		return PieceTimeout
	}
	d := originPieceShare * float64(pieceSize) / rate * float64(time.Second)
	if d >= float64(PieceLimit) {
		return PieceLimit
	}
	return max(PieceTimeout, time.Duration(d))
}
