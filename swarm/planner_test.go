package swarm

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const mib = 1 << 20

func TestPlannerPick(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		origin string
		have   map[string]int64 // learnt, in this order
		busy   []string         // peers that answered busy just now
		load   map[string]int   // requests already in flight
		piece  int
		want   []string // any of these
		none   bool
	}{
		{name: "a holder before the origin", origin: "o", have: map[string]int64{"o": 4 * mib, "a": 2 * mib}, piece: 1, want: []string{"a"}},
		{name: "the origin when no one else holds it", origin: "o", have: map[string]int64{"o": 4 * mib, "a": 1 * mib}, piece: 2, want: []string{"o"}},
		{name: "the origin still fetching it, not a peer receiving it", origin: "o", have: map[string]int64{"o": 2*mib + 5, "a": 2*mib + 1}, piece: 2, want: []string{"o"}},
		{name: "a holder before the origin still fetching", origin: "o", have: map[string]int64{"o": 2*mib + 1000, "a": 2 * mib, "b": 3 * mib}, piece: 2, want: []string{"b"}},
		{name: "the origin for a piece nobody has reached", origin: "o", have: map[string]int64{"o": 1, "a": 0}, piece: 3, want: []string{"o"}},
		{name: "the least loaded holder", have: map[string]int64{"a": 8 * mib, "b": 8 * mib}, load: map[string]int{"a": 1}, piece: 0, want: []string{"b"}},
		{name: "not a busy peer", have: map[string]int64{"a": 8 * mib, "b": 8 * mib}, busy: []string{"a"}, piece: 0, want: []string{"b"}},
		{name: "no one when all are busy", have: map[string]int64{"a": 8 * mib}, busy: []string{"a"}, piece: 0, none: true},
		{name: "no one at their limit", have: map[string]int64{"a": 8 * mib}, load: map[string]int{"a": MaxPerPeer}, piece: 0, none: true},
		{name: "no one ahead", have: map[string]int64{"a": mib}, piece: 3, none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlanner(8*mib, mib, tt.origin, 1)
			for _, id := range []string{"o", "a", "b"} {
				if h, ok := tt.have[id]; ok {
					p.Learn(id, h)
				}
			}
			for id, n := range tt.load {
				p.peers[id].inflight = n
			}
			for _, id := range tt.busy {
				p.peers[id].inflight++
				p.Done(id, Busy, t0)
			}
			got, ok := p.Pick(tt.piece, t0.Add(time.Millisecond))
			if tt.none {
				if ok {
					t.Fatalf("picked %s, want no one", got)
				}
				return
			}
			if !ok {
				t.Fatalf("picked no one, want one of %v", tt.want)
			}
			for _, w := range tt.want {
				if got == w {
					return
				}
			}
			t.Fatalf("picked %s, want one of %v", got, tt.want)
		})
	}
}

// A peer that lied is never asked again; one that failed a few times is
// dropped; a busy one is asked again after BusyBackoff.
func TestPlannerOutcomes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := NewPlanner(4*mib, mib, "", 1)
	p.Learn("liar", 4*mib)
	p.Learn("flaky", 4*mib)
	p.Learn("busy", 4*mib)
	pick := func(now time.Time) map[string]bool {
		seen := map[string]bool{}
		for range 50 {
			id, ok := p.Pick(0, now)
			if !ok {
				break
			}
			seen[id] = true
			p.Done(id, OK, now)
		}
		return seen
	}
	p.peers["liar"].inflight = 1
	p.Done("liar", Lied, t0)
	p.peers["busy"].inflight = 1
	p.Done("busy", Busy, t0)
	for range maxFailures {
		p.peers["flaky"].inflight = 1
		p.Done("flaky", Failed, t0)
	}
	if got := pick(t0.Add(time.Millisecond)); len(got) != 0 {
		t.Fatalf("picked %v right after: the liar and flaky are out, busy backs off", got)
	}
	if got := pick(t0.Add(maxBackoff + time.Millisecond)); !got["busy"] || got["liar"] || got["flaky"] {
		t.Fatalf("after the backoff picked %v, want busy only", got)
	}
	if p.Live() != 1 {
		t.Fatalf("live %d, want 1", p.Live())
	}
}

// Equal holders share the requests: many askers with the same view of
// the swarm do not all pick the same peer.
func TestPlannerSpreadsTies(t *testing.T) {
	counts := map[string]int{}
	for seed := range uint64(200) {
		p := NewPlanner(8*mib, mib, "o", seed)
		p.Learn("o", 8*mib)
		for _, id := range []string{"a", "b", "c", "d"} {
			p.Learn(id, 8*mib)
		}
		id, _ := p.Pick(0, time.Unix(0, 0))
		counts[id]++
	}
	if counts["o"] != 0 {
		t.Errorf("the origin was picked %d times with four holders free", counts["o"])
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if counts[id] < 25 {
			t.Errorf("holder %s picked %d of 200 times: %v", id, counts[id], counts)
		}
	}
}

// What a peer holds only grows: an old, smaller report does not undo a
// newer one.
func TestPlannerLearnMonotonic(t *testing.T) {
	p := NewPlanner(8*mib, mib, "", 1)
	p.Learn("a", 3*mib)
	p.Learn("a", mib)
	p.Learn("a", 100*mib)
	if got := p.Have("a"); got != 8*mib {
		t.Fatalf("have %d, want the blob's size", got)
	}
}

// The origin fails like any peer but is never dropped: it may be the only
// peer holding the rest of the blob.
func TestPlannerKeepsTheOrigin(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := NewPlanner(4*mib, mib, "o", 1)
	p.Learn("o", 4*mib)
	for range 3 * maxFailures {
		id, ok := p.Pick(0, t0)
		if !ok {
			t0 = t0.Add(maxBackoff)
			continue
		}
		p.Done(id, Failed, t0)
	}
	if id, ok := p.Pick(0, t0.Add(maxBackoff+time.Millisecond)); !ok || id != "o" {
		t.Fatalf("after many failures picked %q, %v; want the origin again", id, ok)
	}
}

// Pieces a peer holds beyond its prefix count as held, and the rarest
// come first.
func TestPlannerExtraPiecesAndOrder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := NewPlanner(8*mib, mib, "o", 1)
	p.Learn("o", 8*mib)
	p.Learn("a", 2*mib)
	p.LearnPieces("a", []int{5, 6})
	p.Learn("b", 2*mib)
	p.LearnPieces("b", []int{6, 99})
	if id, ok := p.Pick(5, t0); !ok || id != "a" {
		t.Fatalf("piece 5 from %q, want a, which holds it beyond its prefix", id)
	}
	if got := p.Holders(6); got != 2 {
		t.Fatalf("%d holders of piece 6, want 2", got)
	}
	for _, tc := range []struct {
		first int
		want  []int
	}{
		{-1, []int{2, 3, 4, 7, 5, 6}}, // rarest first, then lowest
		{6, []int{6, 2, 3, 4, 7, 5}},  // the reader's piece, then as before
		{9, []int{2, 3, 4, 7, 5, 6}},  // not among them
	} {
		pieces := []int{2, 3, 4, 5, 6, 7}
		p.Order(pieces, tc.first)
		if !slices.Equal(pieces, tc.want) {
			t.Fatalf("order with %d first: %v, want %v", tc.first, pieces, tc.want)
		}
	}
	p.LearnPieces("a", nil) // stored since: only the prefix counts
	if p.Holders(5) != 0 {
		t.Fatal("a still counted as holding piece 5")
	}
}

func TestPlannerSecondRequest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := NewPlanner(8*mib, mib, "", 1)
	p.Learn("a", 8*mib)
	p.Learn("b", 8*mib)
	first, ok := p.Pick(0, t0)
	if !ok {
		t.Fatal("no peer for piece 0")
	}
	for range 20 {
		other, ok := p.PickOther(0, t0, first)
		if !ok || other == first {
			t.Fatalf("PickOther(not %s) = %q, %v; want the other holder", first, other, ok)
		}
		p.Done(other, Cancelled, t0)
	}
	// A request called off says nothing of its peer: no backoff, no
	// failure counted.
	p.Done(first, Cancelled, t0)
	if got, ok := p.PickOther(0, t0, "b"); !ok || got != "a" {
		t.Fatalf("after a cancelled request, PickOther(not b) = %q, %v; want a at once", got, ok)
	}
	p.Done("a", Cancelled, t0)
	for range maxFailures + 1 {
		p.Done("a", Cancelled, t0)
	}
	if p.Live() != 2 {
		t.Fatalf("cancelled requests dropped a peer: %d live", p.Live())
	}
	// With one holder, there is no second peer to ask.
	q := NewPlanner(8*mib, mib, "", 1)
	q.Learn("a", 8*mib)
	if got, ok := q.PickOther(0, t0, "a"); ok {
		t.Fatalf("PickOther with only the first peer holding it = %q", got)
	}
}

func TestLate(t *testing.T) {
	tests := []struct {
		elapsed, typical time.Duration
		want             bool
	}{
		{elapsed: 500 * time.Millisecond, typical: 0, want: false},
		{elapsed: HedgeMin + time.Millisecond, typical: 0, want: true},
		{elapsed: 2 * time.Second, typical: time.Second, want: false},
		{elapsed: 3*time.Second + time.Millisecond, typical: time.Second, want: true},
		{elapsed: 900 * time.Millisecond, typical: 100 * time.Millisecond, want: false},
	}
	for _, tt := range tests {
		if got := Late(tt.elapsed, tt.typical); got != tt.want {
			t.Errorf("Late(%v, typical %v) = %v, want %v", tt.elapsed, tt.typical, got, tt.want)
		}
	}
}

// A busy peer is left alone longer after each busy answer, unless the
// fetch has had no piece for Starving: a fetch that has nothing asks as
// often as BusyBackoff allows, so that the askers who were lucky before
// (and so wait less) do not take every slot that frees. Seen in the
// simulation: at 100 nodes fetches went 30 s without a piece and fell
// back to upstream.
func TestPlannerBusyBackoff(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name      string
		lastPiece time.Duration // before t0 the fetch's last piece came; <0: none yet, first pick at t0-|d|
		busy      int           // busy answers in a row
		want      time.Duration // when the peer may be asked again, after t0
	}{
		{name: "first busy answer", lastPiece: 0, busy: 1, want: BusyBackoff},
		{name: "fourth in a row, pieces arriving", lastPiece: time.Second, busy: 4, want: time.Second},
		{name: "fourth in a row, starving", lastPiece: Starving + time.Millisecond, busy: 4, want: BusyBackoff},
		{name: "no piece yet, just started", lastPiece: -time.Millisecond, busy: 4, want: time.Second},
		{name: "no piece yet since long", lastPiece: -(Starving + time.Millisecond), busy: 4, want: BusyBackoff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlanner(4*mib, mib, "", 1)
			p.Learn("a", 4*mib)
			p.Learn("b", 4*mib)
			if tt.lastPiece >= 0 {
				p.Pick(0, t0.Add(-tt.lastPiece-time.Millisecond))
				p.Done("a", OK, t0.Add(-tt.lastPiece))
				p.Done("b", OK, t0.Add(-tt.lastPiece))
			} else {
				p.Pick(0, t0.Add(tt.lastPiece))
				p.Done("a", Cancelled, t0.Add(tt.lastPiece))
				p.Done("b", Cancelled, t0.Add(tt.lastPiece))
			}
			p.Drop("b")
			for range tt.busy {
				p.peers["a"].inflight = 1
				p.Done("a", Busy, t0)
			}
			if at, ok := p.Retry(t0); !ok || !at.Equal(t0.Add(tt.want)) {
				t.Errorf("Retry says %v (%v), want %v", at.Sub(t0), ok, tt.want)
			}
			if _, ok := p.Pick(0, t0.Add(tt.want-time.Millisecond)); ok {
				t.Errorf("asked again before %v", tt.want)
			}
			if _, ok := p.Pick(0, t0.Add(tt.want)); !ok {
				t.Errorf("not asked again at %v", tt.want)
			}
			if _, ok := p.Retry(t0.Add(tt.want)); ok {
				t.Error("Retry names a peer already asked again")
			}
		})
	}
}

// The holder counts kept as peers come and go agree with counting every
// peer in a model of what the planner was told, whatever the order.
func TestPlannerHolderCounts(t *testing.T) {
	const pieces = 13
	size := int64(pieces-1)*mib + 12345
	type told struct {
		have    int64
		extra   []int
		dropped bool
	}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		p := NewPlanner(size, mib, "p0", seed)
		model := map[string]*told{}
		learnt := func(peer string) *told {
			if model[peer] == nil {
				model[peer] = &told{have: -1}
			}
			return model[peer]
		}
		for step := range 400 {
			peer := fmt.Sprintf("p%d", rng.IntN(12))
			switch rng.IntN(8) {
			case 0, 1, 2:
				have := rng.Int64N(size+mib) - mib/2
				p.Learn(peer, have)
				m := learnt(peer)
				m.have = max(m.have, min(have, size))
			case 3, 4:
				var extra []int
				for range rng.IntN(5) {
					extra = append(extra, rng.IntN(pieces+2)-1)
				}
				p.LearnPieces(peer, extra)
				learnt(peer).extra = extra
			case 5:
				if rng.IntN(4) == 0 {
					p.Drop(peer)
					if m := model[peer]; m != nil {
						m.dropped = true
					}
				}
			case 6, 7:
				if s := p.peers[peer]; s != nil {
					s.inflight = 1
					if rng.IntN(2) == 0 {
						p.Done(peer, Lied, time.Unix(0, 0))
						model[peer].dropped = true
					} else {
						p.Done(peer, Failed, time.Unix(0, 0))
						model[peer].dropped = model[peer].dropped || (peer != "p0" && s.failures >= maxFailures)
					}
				}
			}
			live := 0
			for _, m := range model {
				if !m.dropped {
					live++
				}
			}
			if p.Live() != live {
				t.Fatalf("seed %d step %d: Live %d, the model has %d", seed, step, p.Live(), live)
			}
			sum := 0
			for i := range pieces {
				sum += p.Holders(i)
			}
			if p.Held() != sum {
				t.Fatalf("seed %d step %d: Held %d, the holders of each piece sum to %d", seed, step, p.Held(), sum)
			}
			for i := -1; i <= pieces; i++ {
				var want []string
				for id, m := range model {
					end := min(size, int64(i+1)*mib)
					if i >= 0 && i < pieces && id != "p0" && !m.dropped && (m.have >= end || slices.Contains(m.extra, i)) {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				if got := p.Holders(i); got != len(want) {
					t.Fatalf("seed %d step %d: Holders(%d) = %d, the model gives %d", seed, step, i, got, len(want))
				}
				// A pick walks these holders: from any start, each once.
				for start := range len(want) {
					var walked []string
					p.holders.walk(i, start, func(s *peerState) bool {
						walked = append(walked, s.id)
						return false
					})
					slices.Sort(walked)
					if !slices.Equal(walked, want) {
						t.Fatalf("seed %d step %d: the walk of piece %d from %d visits %v, the model's holders are %v", seed, step, i, start, walked, want)
					}
				}
			}
		}
	}
}

// A fetch takes ProbeRate busy answers a second: past them it asks no
// one, however many holders it knows, until the budget has one again.
// Pieces that arrive cost nothing.
func TestPlannerProbeBudget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	step := time.Second / ProbeRate
	tests := []struct {
		name  string
		busy  int           // busy answers at t0, each from a different holder
		ok    int           // pieces that arrived at t0, before them
		at    time.Duration // when Pick is tried, after t0
		asks  bool
		retry time.Duration // Retry's answer at t0 when the budget is out
	}{
		{name: "one under the budget", busy: ProbeRate - 1, at: 0, asks: true},
		{name: "the budget spent", busy: ProbeRate, at: 0, asks: false, retry: step},
		{name: "pieces cost nothing", busy: ProbeRate - 1, ok: 3 * ProbeRate, at: 0, asks: true},
		{name: "one back after its share of a second", busy: ProbeRate, at: step, asks: true, retry: step},
		{name: "overspent by answers already asked for", busy: ProbeRate + 2, at: 2 * step, asks: false, retry: 3 * step},
		{name: "overspent, back once repaid", busy: ProbeRate + 2, at: 3 * step, asks: true, retry: 3 * step},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlanner(4*mib, mib, "", 1)
			holders := 2*ProbeRate + 3*ProbeRate + 4
			for k := range holders {
				p.Learn(fmt.Sprint("h", k), 4*mib)
			}
			k := 0
			for range tt.ok {
				id := fmt.Sprint("h", k)
				k++
				p.peers[id].inflight = 1
				p.Done(id, OK, t0)
			}
			for range tt.busy {
				id := fmt.Sprint("h", k)
				k++
				p.peers[id].inflight = 1
				p.Done(id, Busy, t0)
			}
			if tt.retry > 0 {
				if at, ok := p.Retry(t0); !ok || !at.Equal(t0.Add(tt.retry)) {
					t.Errorf("Retry says %v (%v), want %v", at.Sub(t0), ok, tt.retry)
				}
			}
			if _, ok := p.Pick(0, t0.Add(tt.at)); ok != tt.asks {
				t.Errorf("Pick at %v: asked %v, want %v (%d holders free)", tt.at, ok, tt.asks, holders-k)
			}
		})
	}
}

// BusyFor (a holder that said when to come back) spends the budget as a
// busy answer does.
func TestPlannerBusyForSpendsTheBudget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := NewPlanner(4*mib, mib, "", 1)
	for k := range ProbeRate + 1 {
		p.Learn(fmt.Sprint("h", k), 4*mib)
	}
	for k := range ProbeRate {
		id := fmt.Sprint("h", k)
		p.peers[id].inflight = 1
		p.BusyFor(id, time.Second, t0)
	}
	if id, ok := p.Pick(0, t0); ok {
		t.Fatalf("asked %s with the budget spent", id)
	}
}

// Progress counts the origin's whole pieces beside the others': an
// origin still bringing the blob in is the swarm moving.
func TestPlannerProgress(t *testing.T) {
	tests := []struct {
		name   string
		origin int64 // the origin's have; -1: not learnt
		others []int64
		drop   bool // the origin dropped (it lied)
		want   int
	}{
		{name: "nothing yet", origin: 0, want: 0},
		{name: "the origin part way through a piece", origin: mib - 1, want: 0},
		{name: "the origin three pieces in", origin: 3*mib + 7, want: 3},
		{name: "the origin and two others", origin: 3 * mib, others: []int64{2 * mib, mib}, want: 6},
		{name: "a dropped origin counts for nothing", origin: 3 * mib, others: []int64{mib}, drop: true, want: 1},
		{name: "no origin", origin: -1, others: []int64{2 * mib}, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlanner(8*mib, mib, "o", 1)
			if tt.origin >= 0 {
				p.Learn("o", tt.origin)
			}
			for k, h := range tt.others {
				p.Learn(fmt.Sprint("p", k), h)
			}
			if tt.drop {
				p.Done("o", Lied, time.Unix(1000, 0))
			}
			if got := p.Progress(); got != tt.want {
				t.Errorf("Progress = %d, want %d (Held %d)", got, tt.want, p.Held())
			}
		})
	}
}

func TestUrgent(t *testing.T) {
	for _, tc := range []struct {
		waited time.Duration
		want   int
	}{
		{0, -1},
		{ReaderWait - time.Millisecond, -1},
		{ReaderWait, 4},
		{time.Minute, 4},
	} {
		if got := Urgent(4, tc.waited); got != tc.want {
			t.Errorf("Urgent(4, %v) = %d, want %d", tc.waited, got, tc.want)
		}
	}
}

// Retry, kept with a heap of the peers left waiting, says what a pass
// over every peer says, whatever the answers, drops and times.
func TestPlannerRetryAsAScan(t *testing.T) {
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 11))
		p := NewPlanner(8*mib, mib, "p0", seed)
		now := time.Unix(1000, 0)
		var asked []string
		for step := range 600 {
			now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
			peer := fmt.Sprintf("p%d", rng.IntN(10))
			switch rng.IntN(6) {
			case 0:
				p.Learn(peer, rng.Int64N(9*mib))
			case 1, 2:
				if q, ok := p.Pick(rng.IntN(8), now); ok {
					asked = append(asked, q)
				}
			case 3, 4:
				if len(asked) > 0 {
					k := rng.IntN(len(asked))
					q := asked[k]
					asked = slices.Delete(asked, k, k+1)
					if rng.IntN(3) == 0 {
						p.BusyFor(q, time.Duration(rng.IntN(4000))*time.Millisecond, now)
					} else {
						p.Done(q, Outcome(rng.IntN(4)), now)
					}
				}
			case 5:
				if rng.IntN(5) == 0 {
					p.Drop(peer)
				}
			}
			// The budget's answer is Retry's own; compare past it.
			p.probes, p.probesAt = ProbeRate, now
			at, ok := p.Retry(now)
			wantAt, wantOK := p.firstWaiting(now)
			if ok != wantOK || !at.Equal(wantAt) {
				t.Fatalf("seed %d step %d: Retry = %v, %v; a scan of every peer gives %v, %v", seed, step, at, ok, wantAt, wantOK)
			}
		}
	}
}

// A peer's list of pieces beyond its prefix is kept to maxExtra, however
// long the list it sends: the planner reads it in time linear in its
// length.
func TestPlannerBoundsExtraPieces(t *testing.T) {
	const pieces = 100000
	p := NewPlanner(pieces*mib, mib, "", 1)
	long := make([]int, 0, 2*pieces)
	for i := range pieces {
		long = append(long, pieces-1-i, pieces-1-i)
	}
	p.LearnPieces("a", long)
	if got := p.Held(); got != maxExtra {
		t.Fatalf("a list of %d pieces kept %d, want %d", len(long), got, maxExtra)
	}
	if p.Holders(pieces-1) != 1 || p.Holders(0) != 0 {
		t.Fatalf("holders of the first listed piece %d, of one past the bound %d; want 1 and 0", p.Holders(pieces-1), p.Holders(0))
	}
}

// An origin that says a piece is on its way to another member (Taken) is
// not asked for that piece for as long as it said, and is asked for
// others at once: unlike a busy answer, it had a slot free.
func TestPlannerTaken(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const wait = 1500 * time.Millisecond
	p := NewPlanner(4*mib, mib, "origin", 1)
	p.Learn("origin", 4*mib)
	// More answers than MaxPerPeer: each gives its request back, and the
	// next piece goes to the origin at once.
	for i := range 4 {
		if id, ok := p.Pick(i, t0); !ok || id != "origin" {
			t.Fatalf("Pick(%d) = %q, %v; want the origin", i, id, ok)
		}
		p.Taken("origin", i, wait, t0)
		if _, ok := p.Pick(i, t0); ok {
			t.Fatalf("the origin was asked for piece %d, which it said is taken", i)
		}
	}
	if _, ok := p.Retry(t0); ok {
		t.Fatal("Retry waits on a peer no one left alone")
	}
	if _, ok := p.Pick(0, t0.Add(wait-time.Millisecond)); ok {
		t.Fatalf("the origin was asked for piece 0 before %v", wait)
	}
	if id, ok := p.Pick(0, t0.Add(wait)); !ok || id != "origin" {
		t.Fatalf("Pick(0) after %v = %q, %v; want the origin again", wait, id, ok)
	}
	// Another holder of the piece is asked whatever the origin said.
	p.Learn("holder", mib)
	if id, ok := p.Pick(0, t0); !ok || id != "holder" {
		t.Fatalf("Pick(0) with a holder = %q, %v; want the holder", id, ok)
	}
	// From another peer it is a busy answer: that peer is left alone,
	// and the origin is still asked for the piece.
	p.Taken("holder", 0, wait, t0)
	if _, ok := p.Pick(0, t0.Add(wait/2)); ok {
		t.Fatal("Pick(0) found a peer: the holder said busy and the origin said taken")
	}
	if id, ok := p.Pick(0, t0.Add(wait)); !ok {
		t.Fatalf("Pick(0) after %v = %q, %v; want a peer", wait, id, ok)
	}
	q := NewPlanner(4*mib, mib, "origin", 1)
	q.Learn("origin", 4*mib)
	q.Learn("holder", mib)
	q.Pick(0, t0)
	q.Taken("holder", 0, wait, t0)
	if id, ok := q.Pick(0, t0); !ok || id != "origin" {
		t.Fatalf("after a holder's taken answer, Pick(0) = %q, %v; want the origin", id, ok)
	}
}
