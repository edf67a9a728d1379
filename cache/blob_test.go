package cache

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
)

func TestPutBlob(t *testing.T) {
	good, gd := content(10_000, 1)
	sha512d := digest.SHA512.FromBytes(good)
	other, _ := content(10_000, 2)
	tests := []struct {
		name    string
		d       digest.Digest
		r       io.Reader
		wantErr error
		anyErr  bool
	}{
		{name: "sha256", d: gd, r: bytes.NewReader(good)},
		{name: "sha512", d: sha512d, r: bytes.NewReader(good)},
		{name: "empty", d: digest.FromBytes(nil), r: bytes.NewReader(nil)},
		{name: "mismatch", d: gd, r: bytes.NewReader(other), wantErr: ErrDigestMismatch},
		{name: "truncated", d: gd, r: bytes.NewReader(good[:5000]), wantErr: ErrDigestMismatch},
		{name: "reader fails", d: gd, r: io.MultiReader(bytes.NewReader(good[:100]), iotest.ErrReader(errors.New("boom"))), anyErr: true},
		{name: "invalid digest", d: "sha256:xyz", r: bytes.NewReader(good), wantErr: ErrInvalid},
		{name: "sha384 refused", d: digest.SHA384.FromBytes(good), r: bytes.NewReader(good), wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, "", Options{})
			n, err := s.PutBlob(tt.d, tt.r)
			if tt.wantErr != nil || tt.anyErr {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("PutBlob err = %v, want %v", err, tt.wantErr)
				}
				if _, err := s.StatBlob(tt.d); !errors.Is(err, ErrNotFound) {
					t.Fatalf("StatBlob after failed put: %v", err)
				}
				if b, c := s.Usage(); b != 0 || c != 0 {
					t.Fatalf("Usage = %d, %d after failed put", b, c)
				}
			} else {
				if err != nil {
					t.Fatalf("PutBlob: %v", err)
				}
				size, err := s.StatBlob(tt.d)
				if err != nil || size != n {
					t.Fatalf("StatBlob = %d, %v; want %d", size, err, n)
				}
				r, err := s.OpenBlob(tt.d)
				if err != nil {
					t.Fatal(err)
				}
				checkStoredContent(t, r)
				got := readAll(t, r)
				r.Close()
				if digest.NewDigestFromBytes(tt.d.Algorithm(), hashOf(tt.d, got)) != tt.d {
					t.Fatal("stored bytes do not hash to the digest")
				}
			}
			if e := tmpEntries(t, s); len(e) != 0 {
				t.Fatalf("tmp not empty: %v", e)
			}
		})
	}
}

func hashOf(d digest.Digest, b []byte) []byte {
	if d.Algorithm() == digest.SHA512 {
		h := sha512.Sum512(b)
		return h[:]
	}
	h := d.Algorithm().Hash()
	h.Write(b)
	return h.Sum(nil)
}

func TestPutBlobStoredOnce(t *testing.T) {
	var adds int
	s := openTest(t, "", Options{OnAdd: func(digest.Digest, int64) { adds++ }})
	b, d := content(4096, 3)
	for range 3 {
		putBlob(t, s, b)
	}
	if err := s.LinkBlob("a/one", true, d); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob("b/two", false, d); err != nil {
		t.Fatal(err)
	}
	if bytes, n := s.Usage(); bytes != 4096 || n != 1 {
		t.Fatalf("Usage = %d bytes, %d blobs; want 4096, 1", bytes, n)
	}
	if adds != 1 {
		t.Fatalf("OnAdd called %d times, want 1", adds)
	}
	var seen []digest.Digest
	if err := s.Blobs(func(d digest.Digest, size int64) bool { seen = append(seen, d); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != d {
		t.Fatalf("Blobs = %v", seen)
	}
}

func TestOpenBlobNotFound(t *testing.T) {
	s := openTest(t, "", Options{})
	_, d := content(10, 4)
	for _, d := range []digest.Digest{d, "bogus", ""} {
		if _, err := s.OpenBlob(d); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenBlob(%q) = %v, want ErrNotFound", d, err)
		}
		if _, err := s.StatBlob(d); !errors.Is(err, ErrNotFound) {
			t.Errorf("StatBlob(%q) = %v, want ErrNotFound", d, err)
		}
	}
}
