package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// gatedBody hands out its content only as far as the test opens the gate.
type gatedBody struct {
	b    []byte
	off  int
	gate chan int // how many more bytes may be read
	left int
}

func (g *gatedBody) Read(p []byte) (int, error) {
	if g.off == len(g.b) {
		return 0, io.EOF
	}
	if g.left == 0 {
		g.left = <-g.gate
	}
	n := copy(p, g.b[g.off:g.off+min(g.left, len(p), len(g.b)-g.off)])
	g.off += n
	g.left -= n
	return n, nil
}

func (g *gatedBody) Close() error { return nil }

// A blob being fetched reports the prefix it holds and the digests of
// its whole pieces so far, and can be followed without starting a fetch;
// a blob the store neither holds nor fetches cannot.
func TestProgressAndFollow(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "encrypted"
		}
		t.Run(name, func(t *testing.T) {
			opts := Options{PiecesOnWrite: func() bool { return true }}
			if encrypted {
				opts.EncryptionKey = bytes.Repeat([]byte{7}, 32)
			}
			s := openTest(t, "", opts)
			blob, d := content(3*PieceSize+100, 1)
			ctx := context.Background()
			if _, err := s.Follow(ctx, d); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Follow of an unknown blob: %v, want ErrNotFound", err)
			}
			if _, ok := s.Progress(d); ok {
				t.Fatal("Progress of an unknown blob")
			}
			body := &gatedBody{b: blob, gate: make(chan int, 8)}
			r, err := s.Fetch(ctx, d, func(context.Context) (io.ReadCloser, int64, error) {
				return body, int64(len(blob)), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			body.gate <- 2*PieceSize + 10
			waitFor(t, func() bool { p, _ := s.Progress(d); return len(p.Pieces) == 2 })
			p, _ := s.Progress(d)
			if p.Complete || p.Size != int64(len(blob)) || p.Have > 2*PieceSize+10 {
				t.Fatalf("progress %+v mid-fetch", p)
			}
			for i, want := range []digest.Digest{digest.FromBytes(blob[:PieceSize]), digest.FromBytes(blob[PieceSize : 2*PieceSize])} {
				if p.Pieces[i] != want {
					t.Fatalf("piece %d digest %s, want %s", i, p.Pieces[i], want)
				}
			}
			f, err := s.Follow(ctx, d)
			if err != nil {
				t.Fatalf("Follow of a blob being fetched: %v", err)
			}
			defer f.Close()
			body.gate <- len(blob)
			got, err := io.ReadAll(io.LimitReader(f.Content, f.Size))
			if err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("follower read %d bytes, err %v", len(got), err)
			}
			waitFor(t, func() bool { p, _ := s.Progress(d); return p.Complete })
			p, _ = s.Progress(d)
			if p.Have != int64(len(blob)) || len(p.Pieces) != 4 {
				t.Fatalf("stored blob's progress %+v", p)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
