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
	// first counts the running streams that take precedence (TakeFirst).
	first int
	rate  float64 // bytes per second, smoothed
	sent  int64   // bytes since last
	last  time.Time
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
func (s *Slots) Admit(now time.Time) bool { return s.AdmitReserving(now, 0) }

// AdmitReserving is Admit leaving reserve streams' room unused: a
// stream admitted this way must fit beside reserve more. An origin whose
// first copies are asked for serves relays of other blobs this way, so
// that a slot stays free for the pieces only it holds (Tracker.Injecting).
func (s *Slots) AdmitReserving(now time.Time, reserve int) bool {
	s.update(now)
	n := s.active + max(0, reserve)
	ok := n < s.Min || (n < s.Max && s.rate/float64(n) >= s.MinRate)
	if ok {
		s.active++
	}
	return ok
}

// AdmitOwed admits the one stream a caller is owed whatever Admit says
// (a fetch with nothing in flight: see Take), unless a stream that takes
// precedence runs: then it is admitted only as Admit would.
func (s *Slots) AdmitOwed(now time.Time) bool {
	if s.first > 0 {
		return s.Admit(now)
	}
	s.Take()
	return true
}

// Take counts a stream that runs whatever Admit would say: a node's
// fetch with nothing in flight always gets one piece request, so that
// one blob's fetch cannot keep another's from asking at all (seen in the
// simulation: a fetch went 30 s without a request while its node's
// other fetch took all the room).
func (s *Slots) Take() { s.active++ }

// TakeFirst counts a stream that runs whatever Admit says and takes
// precedence over owed ones (AdmitOwed) until ReleaseFirst: a blob body
// a node reads from upstream. Its node is the origin its swarm waits on,
// and a stream of each of its other fetches beside it on a slow link
// left it a third or a quarter of the link: with the owed streams held
// back the simulated rollout of 64 MiB in 4 layers at 8 Mbit/s went from
// 1.35x to 1.28x of one pull at 10 nodes (bench/RESULTS.md). The Min
// streams and the rate rule still apply, so on a fast link, or beside a
// slow upstream, the node's other fetches go on.
func (s *Slots) TakeFirst() {
	s.active++
	s.first++
}

// ReleaseFirst ends a stream TakeFirst counted.
func (s *Slots) ReleaseFirst() {
	if s.first > 0 {
		s.first--
	}
	s.Release()
}

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
// across all its fetches. An asker that asks for more than its link can
// take holds every holder's upload slot on a stream its own link
// throttles: at 8 Mbit/s, 24 pieces in flight (three blobs, a window of
// 8 each) ran at 40 KiB/s apiece while the holders' uplinks idled and
// every other asker was told busy. So requests are admitted while the
// running ones each still receive MinRate, as uploads are, and never
// more than MaxIntake.
func NewIntake() *Slots {
	return &Slots{Min: 2, Max: MaxIntake, MinRate: 4 << 20}
}

// MaxIntake bounds a node's piece requests in flight: memory, a piece
// each.
const MaxIntake = 24
