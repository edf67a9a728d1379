package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/opencontainers/go-digest"
)

// wantPieces digests b in PieceSize pieces, independently of pieceHasher.
func wantPieces(b []byte) []digest.Digest {
	var out []digest.Digest
	for off := 0; off < len(b); off += PieceSize {
		sum := sha256.Sum256(b[off:min(off+PieceSize, len(b))])
		out = append(out, digest.NewDigestFromBytes(digest.SHA256, sum[:]))
	}
	return out
}

// Piece digests are kept with the blob however it arrived: put, fetched
// from a source, uploaded (computed on first use), encrypted or not.
func TestPiecesKeptWithTheBlob(t *testing.T) {
	for _, mode := range []struct {
		encrypted, onWrite bool
	}{{false, true}, {true, true}, {false, false}, {true, false}} {
		encrypted := mode.encrypted
		for _, tt := range []struct {
			name  string
			size  int
			store func(t testing.TB, s *Store, b []byte) digest.Digest
		}{
			{"put, several pieces and a short one", 2*PieceSize + 12345, putBlob},
			{"put, exactly one piece", PieceSize, putBlob},
			{"put, smaller than a piece", 1000, putBlob},
			{"put, empty", 0, putBlob},
			{"fetched", 2*PieceSize + 7, func(t testing.TB, s *Store, b []byte) digest.Digest {
				d := digest.FromBytes(b)
				r, err := s.Fetch(context.Background(), d, func(context.Context) (io.ReadCloser, int64, error) {
					return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r.Content); err != nil {
					t.Fatal(err)
				}
				r.Close()
				waitStored(t, s, d)
				return d
			}},
			{"uploaded", PieceSize + 1, func(t testing.TB, s *Store, b []byte) digest.Digest {
				d := digest.FromBytes(b)
				id, err := s.NewUpload("repo")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.WriteUpload("repo", id, 0, bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
				if _, err := s.CommitUpload("repo", id, d); err != nil {
					t.Fatal(err)
				}
				return d
			}},
		} {
			name := tt.name
			if encrypted {
				name += ", encrypted"
			}
			if !mode.onWrite {
				name += ", computed on first use"
			}
			t.Run(name, func(t *testing.T) {
				opts := Options{PiecesOnWrite: func() bool { return mode.onWrite }}
				if encrypted {
					opts.EncryptionKey = bytes.Repeat([]byte{7}, 32)
				}
				dir := t.TempDir()
				s := openTest(t, dir, opts)
				b, _ := content(tt.size, uint64(tt.size))
				d := tt.store(t, s, b)
				// A fetched blob shows as stored (in the store's map) a
				// moment before its metadata, pieces included, is written.
				for i := 0; i < 500 && mode.onWrite && len(b) > 0 && !hasPiecesKey(s, d); i++ {
					time.Sleep(10 * time.Millisecond)
				}
				if kept := hasPiecesKey(s, d); kept != (mode.onWrite && len(b) > 0) {
					t.Fatalf("piece digests kept on write: %v, want %v", kept, mode.onWrite && len(b) > 0)
				}
				got, err := s.Pieces(d)
				if err != nil {
					t.Fatal(err)
				}
				if want := wantPieces(b); !slices.Equal(got, want) {
					t.Fatalf("Pieces = %d digests, want %d (equal: %v)", len(got), len(want), slices.Equal(got, want))
				}
				// Kept across a restart.
				s.Close()
				s2 := openTest(t, dir, opts)
				again, err := s2.Pieces(d)
				if err != nil || !slices.Equal(again, got) {
					t.Fatalf("after reopening: %v, %v", again, err)
				}
			})
		}
	}
}

func TestPiecesOfMissingBlob(t *testing.T) {
	s := openTest(t, "", Options{})
	b, d := content(100, 1)
	if _, err := s.Pieces(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Pieces of a blob never stored: %v", err)
	}
	putBlob(t, s, b)
	if err := s.LinkBlob("r", true, d); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlinkBlob("r", d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pieces(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Pieces of a removed blob: %v", err)
	}
}

func TestPieceEncoding(t *testing.T) {
	b, _ := content(3*PieceSize/2, 9)
	pieces := wantPieces(b)
	enc, err := encodePieces(pieces)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodePieces(enc)
	if err != nil || !slices.Equal(dec, pieces) {
		t.Fatalf("round trip: %v, %v", dec, err)
	}
	if _, err := decodePieces(enc[:len(enc)-1]); err == nil {
		t.Fatal("a truncated list decoded")
	}
	if _, err := encodePieces([]digest.Digest{digest.SHA512.FromString("x")}); err == nil {
		t.Fatal("a sha512 piece encoded")
	}
}

// waitStored waits (boundedly) for a fetched blob to be committed: its
// readers may finish once it is verified, a moment before that.
func waitStored(t testing.TB, s *Store, d digest.Digest) {
	t.Helper()
	for range 500 {
		if _, err := s.StatBlob(d); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("blob %s was never stored", d)
}

// hasPiecesKey says whether the store has kept d's piece digests.
func hasPiecesKey(s *Store, d digest.Digest) bool {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(key(kindPieces, string(d)))
		return err
	})
	return err == nil
}

// vouchingBody hands out b a piece at most per Read, vouching for the
// pieces it names with the digests it names, as a download from peers
// does for the pieces it checked.
type vouchingBody struct {
	b   []byte
	off int
	// vouch is the digest it names for piece i at the piece's start
	// (whole: at its end); "" names none.
	vouch func(i int, whole bool) digest.Digest
}

func (v *vouchingBody) Read(p []byte) (int, error) {
	if v.off == len(v.b) {
		return 0, io.EOF
	}
	end := min(len(v.b), (v.off/PieceSize+1)*PieceSize, v.off+len(p))
	n := copy(p, v.b[v.off:end])
	v.off += n
	return n, nil
}

func (v *vouchingBody) Close() error { return nil }

func (v *vouchingBody) CheckedPiece(i int, pieceSize int64) (digest.Digest, bool) {
	cur := (v.off - 1) / PieceSize
	if pieceSize != PieceSize || i != cur {
		return "", false
	}
	whole := v.off == len(v.b) || v.off%PieceSize == 0
	d := v.vouch(i, whole)
	return d, d != ""
}

// A source that checked pieces against their digests is taken at its
// word for them, and only for them: the store does not hash them again,
// hashes those it does not vouch for, and keeps no list when it stops
// vouching in the middle of a piece. The blob's digest is checked as
// ever.
func TestPiecesVouchedBySource(t *testing.T) {
	const size = 3*PieceSize + 1000
	b, d := content(size, 11)
	real := wantPieces(b)
	// Digests no hash of these bytes gives: seeing them kept shows the
	// store did not hash the piece.
	marked := make([]digest.Digest, len(real))
	for i := range marked {
		marked[i] = digest.FromString("vouched " + string(rune('a'+i)))
	}
	tests := []struct {
		name  string
		vouch func(i int, whole bool) digest.Digest
		want  []digest.Digest // nil: no list kept on write
	}{
		{name: "every piece vouched", vouch: func(i int, _ bool) digest.Digest { return marked[i] }, want: marked},
		{name: "vouched until a piece boundary", vouch: func(i int, _ bool) digest.Digest {
			if i < 2 {
				return marked[i]
			}
			return ""
		}, want: append(slices.Clone(marked[:2]), real[2:]...)},
		{name: "vouching stops within a piece", vouch: func(i int, whole bool) digest.Digest {
			if i == 1 && whole {
				return ""
			}
			return marked[i]
		}},
		{name: "another digest at the piece's end", vouch: func(i int, whole bool) digest.Digest {
			if i == 2 && whole {
				return marked[0]
			}
			return marked[i]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, "", Options{PiecesOnWrite: func() bool { return true }})
			r, err := s.Fetch(context.Background(), d, func(context.Context) (io.ReadCloser, int64, error) {
				return &vouchingBody{b: b, vouch: tt.vouch}, size, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, r); !bytes.Equal(got, b) {
				t.Fatal("the blob read back differs")
			}
			r.Close()
			waitStored(t, s, d)
			for i := 0; i < 500 && tt.want != nil && !hasPiecesKey(s, d); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			if kept := hasPiecesKey(s, d); kept != (tt.want != nil) {
				t.Fatalf("list kept on write: %v, want %v", kept, tt.want != nil)
			}
			want := tt.want
			if want == nil {
				want = real // computed on first use
			}
			if got, err := s.Pieces(d); err != nil || !slices.Equal(got, want) {
				t.Fatalf("Pieces = %v, %v; want %v", got, err, want)
			}
		})
	}
}
