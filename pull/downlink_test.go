package pull_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

// downlink records what the puller told the node's download link.
type downlink struct {
	mu            sync.Mutex
	streams, ends int
	sent          int
}

func (d *downlink) UpstreamStream() (func(int), func()) {
	d.mu.Lock()
	d.streams++
	d.mu.Unlock()
	return func(n int) {
			d.mu.Lock()
			d.sent += n
			d.mu.Unlock()
		}, func() {
			d.mu.Lock()
			d.ends++
			d.mu.Unlock()
		}
}

func (d *downlink) counts() (streams, ends, sent int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streams, d.ends, d.sent
}

// A blob body read from upstream counts in the node's download link, its
// bytes as they come, until it is closed; one from the store or a peer
// does not (the p2p intake counts a peer's pieces itself).
func TestUpstreamBodiesCountInTheDownlink(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(e *env)
		wantStreams int
	}{
		{"from upstream", func(e *env) { e.alone(); e.up.PutBlob(layer) }, 1},
		{"from the store", func(e *env) { e.store.AddBlob(layer); e.up.PutBlob(layer) }, 0},
		{"from a peer", func(e *env) { e.peers.Hold(ld, "", layer); e.up.PutBlob(layer) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			tt.setup(e)
			dl := &downlink{}
			e.cfg.Downlink = dl
			p := e.puller(t)
			b, err := p.Blob(context.Background(), mirrored, ld)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readBlob(t, b), layer) {
				t.Fatal("wrong bytes")
			}
			// The store may close the upstream body just after the
			// client's read: wait for it, within bounds.
			deadline := time.Now().Add(5 * time.Second)
			for {
				streams, ends, sent := dl.counts()
				if streams == ends || time.Now().After(deadline) {
					if streams != tt.wantStreams || ends != streams {
						t.Fatalf("%d streams counted, %d ended; want %d, all ended", streams, ends, tt.wantStreams)
					}
					if want := tt.wantStreams * len(layer); sent != want {
						t.Fatalf("%d bytes counted, want %d", sent, want)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
