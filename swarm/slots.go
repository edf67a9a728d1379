package swarm

import "time"

// Slots decides how many peers a node serves at once. A fixed count is
// wrong both ways: on a slow link sixteen streams each crawl (and every
// asker waits on all of them), on a fast one sixteen leave it idle. Slots
// admits a new stream while the streams already running each still get
// at least MinRate of the measured upload rate, and never more than the
// memory budget allows. The running streams' average is the evidence:
// while they each still move MinRate the link has room, and a stream
// added beyond that only slows the others.
type Slots struct {
	// Min streams are always admitted, so a node with nothing measured
	// yet still serves.
	Min int
	// Max bounds streams by memory: each holds up to a piece and its
	// connection's send buffers.
	Max int
	// MinRate is the bytes per second each running stream should keep.
	MinRate float64

	active int
	rate   float64 // bytes per second, smoothed
	sent   int64   // bytes since last
	last   time.Time
}

// rateWindow is how quickly the measured upload rate follows changes.
const rateWindow = time.Second

// NewSlots is the node's default: at least 2 streams, at most max, each
// kept at 4 MiB/s or more. A node passes a piece on only once it has it
// whole, so a piece sent fast to one peer, then to the next, spreads
// sooner than the same piece sent slowly to five at once: at 4 MiB/s a
// 1 MiB piece takes a quarter of a second a hop. A link too slow for
// that serves the minimum.
func NewSlots(max int) *Slots {
	return &Slots{Min: 2, Max: max, MinRate: 4 << 20}
}

// Admit says whether a new stream may start now; if so it counts as
// running until Release. Slots is not safe for concurrent use: its
// owner serialises calls.
func (s *Slots) Admit(now time.Time) bool {
	s.update(now)
	ok := s.active < s.Min || (s.active < s.Max && s.rate/float64(s.active) >= s.MinRate)
	if ok {
		s.active++
	}
	return ok
}

// Take counts a stream that runs whatever Admit would say: a body the
// node reads from upstream, or the piece request of a fetch whose reader
// has waited ReaderWait, which must go out so that the node's idle
// timeout does not give the fetch up.
func (s *Slots) Take() { s.active++ }

// Release ends a stream. The last stream's end starts an idle spell,
// which update leaves out of the rate: the bytes of its last few
// milliseconds not yet folded in are dropped with it.
func (s *Slots) Release() {
	if s.active > 0 {
		s.active--
	}
	if s.active == 0 {
		s.sent = 0
	}
}

// Sent counts n bytes sent by any stream.
func (s *Slots) Sent(n int64, now time.Time) {
	s.sent += n
	s.update(now)
}

// Active is how many streams run.
func (s *Slots) Active() int { return s.active }

// Rate is the smoothed upload rate in bytes per second.
func (s *Slots) Rate() float64 { return s.rate }

// update folds the bytes sent since the last update into the rate, an
// exponentially weighted average over about rateWindow of the time the
// link was in use.
func (s *Slots) update(now time.Time) {
	if s.last.IsZero() {
		s.last = now
		return
	}
	dt := now.Sub(s.last)
	if dt < 10*time.Millisecond {
		return
	}
	if s.active == 0 && s.sent == 0 {
		// Nothing ran and nothing was sent: an idle spell says nothing
		// of what the link carries. Folding it in made a node that had
		// been idle for a second admit only Min streams on a fast link,
		// and an asker's third request was told busy and waited
		// BusyBackoff (a 10 MB image through a peer took 270 ms, not 60).
		s.last = now
		return
	}
	inst := float64(s.sent) / dt.Seconds()
	w := min(1, float64(dt)/float64(rateWindow))
	s.rate += w * (inst - s.rate)
	s.sent = 0
	s.last = now
}

// NewIntake is the node's download side: the piece requests it has out
// across all its fetches, but those whose last bytes are near and have
// given their room back (AskAhead). An asker that asks for more than
// its link can take holds every holder's upload slot on a stream its
// own link throttles: at 8 Mbit/s, 24 pieces in flight (three blobs, a
// window of 8 each) ran at 40 KiB/s apiece while the holders' uplinks
// idled and every other asker was told busy. So requests are admitted while the
// running ones each still receive MinRate, as uploads are, a fetch's
// first request too: four fetches each given one on a link with room
// for two held four holders' slots at half their rate.
func NewIntake() *Slots {
	return &Slots{Min: 2, Max: 3 * Window, MinRate: 4 << 20}
}
