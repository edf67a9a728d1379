package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"
)

func TestAckingReaderHalfClosesNearTheEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		chunk int
		// ackedAt is how many bytes had been read when the reader
		// half-closed.
		ackedAt int
	}{
		{"no body", 0, 4096, 0},
		{"body no larger than ackBefore: at once", ackBefore, 4096, 0},
		{"one byte more: after the first read", ackBefore + 1, 1, 1},
		{"a piece, read in 64 KiB reads", PieceSize, 64 << 10, PieceSize - ackBefore},
		{"a piece, read in odd reads", PieceSize, 100_000, 1_000_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acks, ackedAt := 0, -1
			body := &exactReader{r: bytes.NewReader(make([]byte, tc.size)), left: int64(tc.size)}
			a := &ackingReader{r: body, ack: func() error { acks++; ackedAt = tc.size - int(body.left); return nil }}
			a.check()
			buf := make([]byte, tc.chunk)
			for {
				n, err := a.Read(buf)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if acks == 0 && n > 0 && int(body.left) <= ackBefore {
					t.Fatalf("%d bytes left and no half-close", body.left)
				}
			}
			if acks != 1 {
				t.Fatalf("half-closed %d times, want once", acks)
			}
			if ackedAt != tc.ackedAt {
				t.Fatalf("half-closed after %d bytes, want %d", ackedAt, tc.ackedAt)
			}
		})
	}
}

// TestHolderKeepsSlotUntilAskerHalfCloses drives the holder over a real
// stream: its upload slot stays taken after the body is written, until
// the asker says it has (nearly) all of it. An asker of an earlier
// release, which half-closes right after its request, frees it at once.
func TestHolderKeepsSlotUntilAskerHalfCloses(t *testing.T) {
	fleet := newFleet(t, 2)
	holder, asker := fleet[0], fleet[1]
	blob := randomBytes(t, 64<<10)
	d := holder.content.put(blob)
	for _, tc := range []struct {
		name string
		// early half-closes right after the request, as a node of an
		// earlier release does.
		early bool
	}{
		{"asker of this release", false},
		{"asker of an earlier release", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := asker.h.host.NewStream(ctx, holder.h.ID(), ContentProtocol)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			line, _ := json.Marshal(Request{Digest: d})
			if _, err := s.Write(append(line, '\n')); err != nil {
				t.Fatal(err)
			}
			if tc.early {
				if err := s.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			br := bufio.NewReader(s)
			var resp Response
			if err := readLine(br, &resp); err != nil || resp.Error != "" {
				t.Fatalf("header %+v: %v", resp, err)
			}
			got, err := io.ReadAll(io.LimitReader(br, int64(len(blob))))
			if err != nil || !bytes.Equal(got, blob) {
				t.Fatalf("body: %d bytes, %v", len(got), err)
			}
			if !tc.early {
				// The whole body is here; the holder's write returned
				// long ago. Its slot must still be taken.
				time.Sleep(300 * time.Millisecond)
				if n := holder.h.slots.active(); n != 1 {
					t.Fatalf("holder has %d slots taken before the half-close, want 1", n)
				}
				if err := s.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(ackWait / 2)
			for holder.h.slots.active() != 0 {
				if time.Now().After(deadline) {
					t.Fatalf("holder still has %d slots taken after the half-close", holder.h.slots.active())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
