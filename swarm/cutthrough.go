package swarm

import "time"

// CutThroughMax is the longest a piece may take to come in at a node's
// measured download rate (the whole link's, not one stream's share of
// it) for the node to serve pieces on while they arrive (cut-through). A relayed stream runs at the pace of every link in its
// chain, and a chain breaks with the first request in it that hits its
// bounds: PieceTimeout of silence, or the origin's OriginLimit. Where a
// piece takes about that long, chains broke and fetches fell back to
// upstream: in the simulation (10 nodes, 64 MiB in 4 layers) at 1 Mbit/s
// 4.9 upstream copies with cut-through against 2.4 without, at
// 1.2 Mbit/s 2.5 against 1.1; from 1.5 Mbit/s on none did. With this
// bound, 2.6 at 1 Mbit/s and 1.01 at 1.2 Mbit/s, while at 4 Mbit/s
// cut-through keeps most of its gain (bench/RESULTS.md, 2026-12-07).
const CutThroughMax = 8 * time.Second

// CutThrough says whether a node whose download rate is measured at rate
// bytes per second (0: not yet measured) serves pieces of pieceSize on
// while they arrive. Before its rate is measured it does: the first
// seconds of a rollout are when passing a piece on early gains most.
func CutThrough(rate float64, pieceSize int64) bool {
	return rate == 0 || float64(pieceSize)/rate <= CutThroughMax.Seconds()
}
