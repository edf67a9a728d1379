package pull_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// downlink records what the puller told the node's download link.
type downlink struct {
	mu            sync.Mutex
	streams, ends int
	sent          int
	bringsIn      []bool // per stream
}

func (d *downlink) UpstreamStream(bringsIn bool) (func(int), func()) {
	d.mu.Lock()
	d.streams++
	d.bringsIn = append(d.bringsIn, bringsIn)
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

func (d *downlink) counts() (streams, ends, sent int, bringsIn []bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streams, d.ends, d.sent, slices.Clone(d.bringsIn)
}

// ended waits, within bounds, until at least want streams were counted
// and every one counted has ended (the store may close the upstream
// body just after the client's read), and returns the counts.
func (d *downlink) ended(want int) (streams, ends, sent int, bringsIn []bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		streams, ends, sent, bringsIn = d.counts()
		if (streams >= want && streams == ends) || time.Now().After(deadline) {
			return streams, ends, sent, bringsIn
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A blob body read from upstream counts in the node's download link, its
// bytes as they come, until it is closed; one from the store or a peer
// does not (the p2p intake counts a peer's pieces itself). A body read
// because no peer had the blob brings it into the fleet; one resumed
// after the peers failed part way is the node's alone.
func TestUpstreamBodiesCountInTheDownlink(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(e *env)
		wantStreams  int
		wantBytes    int
		wantBringsIn []bool
	}{
		{"from upstream", func(e *env) { e.alone(); e.up.PutBlob(layer) }, 1, len(layer), []bool{true}},
		{"from the store", func(e *env) { e.store.AddBlob(layer); e.up.PutBlob(layer) }, 0, 0, nil},
		{"from a peer", func(e *env) { e.peers.Hold(ld, "", layer); e.up.PutBlob(layer) }, 0, 0, nil},
		{"from peers failing part way, then upstream", func(e *env) {
			e.peers.Hold(ld, "", layer)
			e.peers.FailAfter = failAt
			e.up.PutBlob(layer)
		}, 1, len(layer) - failAt, []bool{false}},
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
			streams, ends, sent, bringsIn := dl.ended(tt.wantStreams)
			if streams != tt.wantStreams || ends != streams {
				t.Fatalf("%d streams counted, %d ended; want %d, all ended", streams, ends, tt.wantStreams)
			}
			if sent != tt.wantBytes {
				t.Fatalf("%d bytes counted, want %d", sent, tt.wantBytes)
			}
			if !slices.Equal(bringsIn, tt.wantBringsIn) {
				t.Fatalf("streams bringing the blob in: %v, want %v", bringsIn, tt.wantBringsIn)
			}
		})
	}
}

// The designated fetcher's upstream body, read for a peer, brings the
// blob into the fleet.
func TestForPeerBringsTheBlobIn(t *testing.T) {
	e := newEnv()
	e.up.PutBlob(layer)
	dl := &downlink{}
	e.cfg.Downlink = dl
	b, _, err := e.puller(t).ForPeer(context.Background(), ld, mirrored, rules(mirrored.Rule))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readBlob(t, b), layer) {
		t.Fatal("wrong bytes")
	}
	streams, ends, _, bringsIn := dl.ended(1)
	if !slices.Equal(bringsIn, []bool{true}) || ends != streams {
		t.Fatalf("streams bringing the blob in: %v (%d ended), want [true], ended", bringsIn, ends)
	}
}
