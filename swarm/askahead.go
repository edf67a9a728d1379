package swarm

import "time"

// Asking ahead: a piece request holds one of the node's intake streams
// (NewIntake) until its last byte is in, and only then may the next
// request go out; its answer comes a round trip later, and for that
// long the stream's share of the link carries nothing. With two streams
// on a 4 Mbit/s link a piece takes about 4 s, and a round trip through
// loaded links 70-280 ms (docker, 50 nodes, `ss`): every piece paid it.
// So a request gives its room back a little before its end, once the
// rest of its piece will come within AskAheadFactor times its own
// answer's wait, and the next request's answer comes about as it ends.
// In the simulation (64 MiB in 4 layers, 4 Mbit/s, 100 ms) the last node
// came at 1.163 / 1.225 / 1.262 times the no-sharing time at 10 / 20 /
// 50 nodes, against 1.207 / 1.259 / 1.297 (bench/RESULTS.md,
// 2026-12-07).
const (
	// AskAheadFactor is how many times its answer's wait a request asks
	// ahead: the round trip of one answer on links whose queues come and
	// go is a loose guess at the next one's. Once gained less (1.170 /
	// 1.239 / 1.264 against twice's 1.163 / 1.223 / 1.259, before the
	// review's AskAheadSpan), three times a little more (1.148 / 1.218 /
	// 1.254), but the overlap is more streams on the link for that long,
	// and a third stream for good did worse in docker than in the
	// simulation (bench/RESULTS.md, "a floor of three").
	AskAheadFactor = 2
	// AskAheadMax bounds how early a request asks ahead, whatever its
	// answer waited: one that waited on a holder's queue for seconds says
	// little of the next one's round trip.
	AskAheadMax = 1500 * time.Millisecond
	// AskAheadSpan is the least a stream's rate is measured over before
	// it is judged, and never less than its answer's wait: bytes queued
	// behind the answer's header come in one read, and judged on those
	// a request whose answer took 150 ms gave its room back 2-6 ms after
	// the header, 4 s before its end (found in review).
	AskAheadSpan = 50 * time.Millisecond
	// AskAheadPieceMax is the longest a piece may take at the node's
	// measured download rate for its requests to ask ahead. On slower
	// links the overlap is long, and a third stream on them holds a
	// holder's slot at a crawl: at 1.2 Mbit/s the simulation fell back
	// to upstream for 1.37 copies against 1.01 without asking ahead (at
	// 1 Mbit/s it fell back less, 1.9 copies against 2.6: fall-backs on
	// such links come and go with any change).
	AskAheadPieceMax = 5 * time.Second
)

// AskAhead says whether a piece request may give its intake room back
// now. answer is how long it waited for its answer's header, since how
// long ago the header came, got and left the bytes of its piece in and
// still to come, linkRate the node's measured download rate (0: not
// measured yet, and then it may).
func AskAhead(answer, since time.Duration, got, left int64, linkRate float64, pieceSize int64) bool {
	if linkRate > 0 && float64(pieceSize)/linkRate > AskAheadPieceMax.Seconds() {
		return false
	}
	if since < max(answer, AskAheadSpan) || got <= 0 || left < 0 {
		return false
	}
	rate := float64(got) / since.Seconds()
	lead := min(AskAheadFactor*answer, AskAheadMax)
	return float64(left)/rate <= lead.Seconds()
}
