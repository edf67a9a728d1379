package p2p

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/repository"
)

// BenchmarkFetchFromOneHolder drives a peer GET in process: one host
// holds a blob whole, a second fetches it piece by piece over loopback
// and checks every piece. What the node adds on top (the store's write
// and digest, the client's HTTP response) is not in it, so it is the
// ceiling of the p2p path alone (bench/RESULTS.md).
func BenchmarkFetchFromOneHolder(b *testing.B) {
	const size = 64 << 20
	fleet := newFleet(b, 2)
	asker, holder := fleet[0], fleet[1]
	blob := randomBytes(b, size)
	d := holder.content.put(blob)
	provideNow(b, holder, asker, d)
	// The holder keeps piece digests with the blob, as a node's store
	// does: compute them once, outside the timing.
	if _, err := holder.h.pieces.of(d, bytes.NewReader(blob), size); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		dl, err := asker.h.Fetch(context.Background(), d, repository.Name{}, 5*time.Second, nil)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, dl)
		dl.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}
