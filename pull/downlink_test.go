package pull_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
)

// downlink records what the puller told the node's download link.
type downlink struct {
	mu            sync.Mutex
	streams, ends int
	sent          int
	bringsIn      []bool // per stream
	blobs         []digest.Digest
	// handOff are the blobs BringIn hands on; asked lists its questions.
	handOff map[digest.Digest]bool
	asked   []digest.Digest
	// failed are the blobs the puller could not bring in.
	failed []digest.Digest
}

func (d *downlink) BringInFailed(b digest.Digest) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed = append(d.failed, b)
}

func (d *downlink) BringIn(b digest.Digest) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = append(d.asked, b)
	return !d.handOff[b]
}

func (d *downlink) UpstreamStream(b digest.Digest, bringsIn bool) (func(int), func()) {
	d.mu.Lock()
	d.streams++
	d.bringsIn = append(d.bringsIn, bringsIn)
	d.blobs = append(d.blobs, b)
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

// A designated fetcher that cannot bring a blob in (upstream lacks it,
// or the policy refuses the rule) tells its download link, so that the
// link does not hand other blobs on meanwhile as if this one were
// arriving.
func TestForPeerBringInThatFails(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
	}{
		{"upstream lacks it", func(e *env) {}},
		{"the rule is refused", func(e *env) { e.up.PutBlob(layer); e.deny() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			tt.setup(e)
			dl := &downlink{}
			e.cfg.Downlink = dl
			b, _, err := e.puller(t).ForPeer(context.Background(), ld, mirrored, rules(mirrored.Rule))
			if err == nil {
				// The body may fail only as it is read.
				_, err = io.ReadAll(b.Content)
				b.Close()
			}
			if err == nil {
				t.Fatal("read a blob that could not be brought in")
			}
			// The link is told before the source's error reaches the
			// reader.
			dl.mu.Lock()
			failed, streams := slices.Clone(dl.failed), dl.streams
			dl.mu.Unlock()
			if !slices.Equal(failed, []digest.Digest{ld}) || streams != 0 {
				t.Fatalf("the link was told of failures %v and %d streams, want %s failed and none", failed, streams, ld)
			}
		})
	}
}

// A node asked as a blob's designated fetcher asks its download link
// whether it brings the blob in, unless it holds the blob whole: one the
// link hands on is refused with ErrHandedOff before upstream is asked,
// so the asker goes to the next node in the blob's order; a holder
// asked for what its repository holds (no rule) is not asked at all.
func TestForPeerHandsABlobOn(t *testing.T) {
	tests := []struct {
		name      string
		stored    bool
		arriving  bool // this node's own pull is fetching it
		holder    bool // asked as a holder, without the rule
		handOff   bool // BringIn says no
		wantErr   error
		wantAsked int
		wantUp    bool
	}{
		{"taken", false, false, false, false, nil, 1, true},
		{"handed on", false, false, false, true, pull.ErrHandedOff, 1, false},
		{"arriving, taken", false, true, false, false, nil, 1, false},
		// Its own pull may be reading it from the very asker: serving
		// it as the origin would have each wait on the other.
		{"arriving, handed on", false, true, false, true, pull.ErrHandedOff, 1, false},
		{"arriving, asked as a holder", false, true, true, true, nil, 0, false},
		{"stored", true, false, false, true, nil, 0, false},
		{"asked as a holder", true, false, true, true, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			e.up.PutBlob(layer)
			switch {
			case tt.stored:
				e.store.AddBlob(layer)
				e.store.LinkBlob(mirrored.Key(), ld)
			case tt.arriving:
				e.store.Arriving(mirrored.Key(), layer)
			}
			dl := &downlink{handOff: map[digest.Digest]bool{ld: tt.handOff}}
			e.cfg.Downlink = dl
			repo := mirrored
			if tt.holder {
				repo = repository.Local(mirrored.Key())
			}
			b, _, err := e.puller(t).ForPeer(context.Background(), ld, repo, rules(mirrored.Rule))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(readBlob(t, b), layer) {
				t.Fatal("wrong bytes")
			}
			dl.mu.Lock()
			asked := len(dl.asked)
			dl.mu.Unlock()
			if asked != tt.wantAsked {
				t.Fatalf("BringIn asked %d times, want %d", asked, tt.wantAsked)
			}
			if got := len(e.up.BlobReads) > 0; got != tt.wantUp {
				t.Fatalf("upstream read the blob: %v, want %v (%v)", got, tt.wantUp, e.up.BlobReads)
			}
		})
	}
}
