package cache

import (
	"io"
	"testing"
)

const benchBlobSize = 64 << 20

// BenchmarkFetch measures a cold fill of a 64 MiB blob from an in-memory
// source, read to the end by the caller while it arrives.
func BenchmarkFetch(b *testing.B) {
	s := openTest(b, "", Options{})
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
}

// BenchmarkOpenBlob measures reading a stored 64 MiB blob.
func BenchmarkOpenBlob(b *testing.B) {
	s := openTest(b, "", Options{})
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
}
