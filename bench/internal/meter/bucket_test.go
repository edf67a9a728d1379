package meter

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestTokenBucketSharedRate(t *testing.T) {
	const rate = 20e6 // bytes/s
	b := newTokenBucket(rate, 64<<10)
	start := time.Now()
	var wg sync.WaitGroup
	const workers, chunks, chunk = 4, 50, 32 << 10
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range chunks {
				if err := b.wait(context.Background(), chunk); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := time.Since(start).Seconds()
	want := float64(workers*chunks*chunk-64<<10) / rate
	if got < want*0.9 {
		t.Fatalf("%d bytes went in %.3fs; the cap allows no less than %.3fs", workers*chunks*chunk, got, want)
	}
}

func TestTokenBucketUncapped(t *testing.T) {
	b := newTokenBucket(0, 0)
	for range 1000 {
		if err := b.wait(context.Background(), 1<<30); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenBucketCancel(t *testing.T) {
	b := newTokenBucket(1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.wait(ctx, 1<<20); err == nil {
		t.Fatal("wait on a cancelled context returned nil")
	}
}
