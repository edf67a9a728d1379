package p2p

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// gappyReader hands out one byte at a time, gap apart.
type gappyReader struct {
	left int
	gap  time.Duration
}

func (g *gappyReader) Read(b []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(g.gap)
	g.left--
	b[0] = 'x'
	return 1, nil
}

func TestQuietReaderBoundsSilenceNotLength(t *testing.T) {
	const d = 400 * time.Millisecond
	for _, tc := range []struct {
		name  string
		bytes int
		gap   time.Duration
		fires bool
	}{
		// Forty bytes 20 ms apart take twice d, and never go quiet.
		{"slow but moving", 40, 20 * time.Millisecond, false},
		{"quiet for longer than d", 1, 2 * d, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fired atomic.Bool
			timer := time.AfterFunc(d, func() { fired.Store(true) })
			defer timer.Stop()
			start := time.Now()
			r := quietReader{&gappyReader{left: tc.bytes, gap: tc.gap}, timer, d}
			if _, err := io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
			if !tc.fires && time.Since(start) < d {
				t.Fatalf("the read took %v, not longer than d: it shows nothing", time.Since(start))
			}
			if fired.Load() != tc.fires {
				t.Fatalf("timer fired = %v, want %v", fired.Load(), tc.fires)
			}
		})
	}
}

// slowStream is a network.Stream whose reader takes chunk bytes every
// gap, or nothing once stuck; a write past its deadline fails as a
// stream's does.
type slowStream struct {
	network.Stream
	gap      time.Duration
	stuck    bool
	deadline time.Time
	got      bytes.Buffer
	writes   int
}

func (s *slowStream) SetWriteDeadline(t time.Time) error { s.deadline = t; return nil }

func (s *slowStream) Write(b []byte) (int, error) {
	s.writes++
	wait := s.gap
	if s.stuck {
		wait = time.Until(s.deadline) + time.Millisecond
	}
	if time.Now().Add(wait).After(s.deadline) {
		time.Sleep(max(0, time.Until(s.deadline)))
		return 0, os.ErrDeadlineExceeded
	}
	time.Sleep(wait)
	return s.got.Write(b)
}

func TestQuietWriterBoundsSilenceNotLength(t *testing.T) {
	const d = 300 * time.Millisecond
	piece := bytes.Repeat([]byte{7}, 8*quietChunk)
	t.Run("slow but reading", func(t *testing.T) {
		// Eight chunks 100 ms apart take more than twice d.
		s := &slowStream{gap: 100 * time.Millisecond}
		start := time.Now()
		n, err := io.Copy(quietWriter{s, d}, bytes.NewReader(piece))
		if err != nil || n != int64(len(piece)) || !bytes.Equal(s.got.Bytes(), piece) {
			t.Fatalf("wrote %d of %d bytes, err %v", n, len(piece), err)
		}
		if time.Since(start) < d {
			t.Fatalf("the write took %v, not longer than d: it shows nothing", time.Since(start))
		}
		if s.writes < len(piece)/quietChunk {
			t.Fatalf("%d writes for %d chunks: a chunk went out under another's deadline", s.writes, len(piece)/quietChunk)
		}
	})
	t.Run("asker stopped reading", func(t *testing.T) {
		s := &slowStream{stuck: true}
		start := time.Now()
		_, err := quietWriter{s, d}.Write(piece)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want the write deadline", err)
		}
		if took := time.Since(start); took > 10*d {
			t.Fatalf("a stuck write returned after %v", took)
		}
	})
}
