package meter

import (
	"context"
	"sync"
	"time"
)

// tokenBucket caps the combined rate of everyone who waits on it. It
// keeps the bucket as the virtual time at which the next byte may go
// (GCRA), so a caller reserves its bytes under the lock and sleeps
// outside it, and callers are served in the order they arrive.
type tokenBucket struct {
	rate  float64       // bytes per second; <= 0 is no cap
	burst time.Duration // how far the bucket may fill while idle

	mu   sync.Mutex
	next time.Time
}

func newTokenBucket(bytesPerSec float64, burstBytes int) *tokenBucket {
	b := &tokenBucket{rate: bytesPerSec}
	if bytesPerSec > 0 {
		b.burst = time.Duration(float64(burstBytes) / bytesPerSec * float64(time.Second))
	}
	return b
}

// wait blocks until n more bytes fit under the cap, or ctx ends.
func (b *tokenBucket) wait(ctx context.Context, n int) error {
	if b.rate <= 0 || n <= 0 {
		return nil
	}
	b.mu.Lock()
	now := time.Now()
	if floor := now.Add(-b.burst); b.next.Before(floor) {
		b.next = floor
	}
	b.next = b.next.Add(time.Duration(float64(n) / b.rate * float64(time.Second)))
	d := b.next.Sub(now)
	b.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
