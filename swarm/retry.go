package swarm

import "time"

// A holder that turns an asker away says when to come back: about one
// piece's time at its upload rate, when one of its streams is likely to
// end and free a slot, spread over half to one and a half times that so
// that the askers it turned away do not all return together. Without it
// an asker came back every BusyBackoff to a second, and 90–99% of piece
// requests in a rollout were busy answers (bench/cmd/swarmsim): with it,
// 2.5–3x fewer requests, and the rollout a little faster, since askers
// return about when there is room.
const (
	// retryBase bounds the piece's time the wait is drawn around.
	retryBase = 2 * time.Second
	// MaxRetryAfter bounds what a holder may ask an asker to wait, and
	// what an asker accepts: a holder's word cannot keep it away longer.
	MaxRetryAfter = 3 * retryBase / 2
)

// RetryAfter is the wait a holder uploading at rate bytes per second
// (0: not measured yet) tells an asker of pieceSize pieces; jitter, in
// [0, 1), spreads the askers.
func RetryAfter(rate float64, pieceSize int64, jitter float64) time.Duration {
	d := retryBase
	if rate > 0 {
		d = time.Duration(float64(pieceSize) / rate * float64(time.Second))
	}
	d = min(retryBase, max(BusyBackoff, d))
	return min(MaxRetryAfter, time.Duration(float64(d)*(0.5+min(max(jitter, 0), 1))))
}
