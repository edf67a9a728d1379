package cache

import (
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

const benchBlobSize = 64 << 20

// benchStores are the store variants every benchmark runs on.
var benchStores = []struct {
	name string
	key  []byte
}{
	{"plain", nil},
	{"encrypted", testKey(99)},
}

// BenchmarkFetch measures a cold fill of a 64 MiB blob from an in-memory
// source, read to the end by the caller while it arrives.
func BenchmarkFetch(b *testing.B) {
	for _, v := range benchStores {
		b.Run(v.name, func(b *testing.B) {
			s := openTest(b, "", Options{EncryptionKey: v.key})
			body, d := content(benchBlobSize, 900)
			b.SetBytes(benchBlobSize)
			for b.Loop() {
				r, err := s.Fetch(b.Context(), d, staticSource(body, nil))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r.Content); err != nil || n != benchBlobSize {
					b.Fatalf("read %d, %v", n, err)
				}
				r.Close()
				b.StopTimer()
				s.meta.Lock()
				s.mu.Lock()
				delete(s.blobs, d)
				s.total -= benchBlobSize
				s.mu.Unlock()
				if err := s.dropBlobLocked(d); err != nil {
					b.Fatal(err)
				}
				s.meta.Unlock()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkOpenBlob measures reading a stored 64 MiB blob.
func BenchmarkOpenBlob(b *testing.B) {
	for _, v := range benchStores {
		b.Run(v.name, func(b *testing.B) {
			s := openTest(b, "", Options{EncryptionKey: v.key})
			body, _ := content(benchBlobSize, 901)
			d := putBlob(b, s, body)
			b.SetBytes(benchBlobSize)
			for b.Loop() {
				r, err := s.OpenBlob(d)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r.Content); err != nil || n != benchBlobSize {
					b.Fatalf("read %d, %v", n, err)
				}
				r.Close()
			}
		})
	}
}

// BenchmarkRangeRead measures Range reads at random offsets of a stored
// 64 MiB blob, opening the blob for each, as a Range request does.
func BenchmarkRangeRead(b *testing.B) {
	for _, v := range benchStores {
		for _, size := range []struct {
			name string
			n    int64
		}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}} {
			b.Run(v.name+"/"+size.name, func(b *testing.B) {
				s := openTest(b, "", Options{EncryptionKey: v.key})
				body, _ := content(benchBlobSize, 902)
				d := putBlob(b, s, body)
				rng := rand.New(rand.NewPCG(3, 4))
				buf := make([]byte, size.n)
				b.SetBytes(size.n)
				for b.Loop() {
					off := rng.Int64N(benchBlobSize - size.n)
					r, err := s.OpenBlob(d)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := r.Content.Seek(off, io.SeekStart); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(r.Content, buf); err != nil {
						b.Fatal(err)
					}
					r.Close()
				}
			})
		}
	}
}

// BenchmarkHolds is the cost the repository scope check adds to a blob
// GET: one lookup of the link (and, failing it, of whether the repository
// is local and of a manifest holding the blob).
func BenchmarkHolds(b *testing.B) {
	s := openTest(b, "", Options{})
	blob, d := content(1<<10, 5)
	putBlob(b, s, blob)
	if err := s.LinkBlob("team/app", false, d); err != nil {
		b.Fatal(err)
	}
	b.Run("linked", func(b *testing.B) {
		for b.Loop() {
			if !s.Holds("team/app", d) {
				b.Fatal("not held")
			}
		}
	})
	b.Run("not held", func(b *testing.B) {
		for b.Loop() {
			if s.Holds("other/app", d) {
				b.Fatal("held")
			}
		}
	})
}

// BenchmarkLinkBlob measures one small metadata write: a stored blob
// linked into a new repository, each a transaction (an fsync), behind
// the metadata's room check (headroom.go).
func BenchmarkLinkBlob(b *testing.B) {
	s := openTest(b, "", Options{})
	body, _ := content(1<<10, 903)
	d := putBlob(b, s, body)
	i := 0
	for b.Loop() {
		if err := s.LinkBlob(fmt.Sprintf("mirror/bench/%d", i), false, d); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
