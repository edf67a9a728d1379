package p2p

import (
	"io"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/swarm"
)

// sharedSlots is a swarm.Slots the host's goroutines share: its upload
// slots (transfer.go) and its download intake (intake.go).
type sharedSlots struct {
	mu    sync.Mutex
	slots *swarm.Slots
}

func (s *sharedSlots) admit(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots.Admit(now)
}

func (s *sharedSlots) take() {
	s.mu.Lock()
	s.slots.Take()
	s.mu.Unlock()
}

func (s *sharedSlots) release() {
	s.mu.Lock()
	s.slots.Release()
	s.mu.Unlock()
}

func (s *sharedSlots) sent(n int) {
	s.mu.Lock()
	s.slots.Sent(int64(n), time.Now())
	s.mu.Unlock()
}

func (s *sharedSlots) rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots.Rate()
}

// min is the streams always admitted (swarm.Slots.Min).
func (s *sharedSlots) min() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(1, s.slots.Min)
}

func (s *sharedSlots) active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slots.Active()
}

// countingWriter counts what a transfer sends into the upload rate.
type countingWriter struct {
	w     io.Writer
	slots *sharedSlots
}

func (w countingWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	w.slots.sent(n)
	return n, err
}

// countingReader counts what a piece request receives into the download
// rate.
type countingReader struct {
	r     io.Reader
	slots *sharedSlots
}

func (r countingReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.slots.sent(n)
	return n, err
}
