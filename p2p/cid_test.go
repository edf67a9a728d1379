package p2p

import (
	"crypto/sha256"
	"crypto/sha512"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestCIDRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		d    digest.Digest
		ok   bool
	}{
		{"sha256", digest.FromBytes([]byte("hello")), true},
		{"sha512", digest.SHA512.FromBytes([]byte("hello")), true},
		{"short hex", digest.Digest("sha256:abcd"), false},
		{"other algorithm", digest.Digest("sha384:" + string(make([]byte, 96))), false},
		{"empty", digest.Digest(""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CID(tt.d)
			if (err == nil) != tt.ok {
				t.Fatalf("CID(%q) err = %v, want ok=%v", tt.d, err, tt.ok)
			}
			if !tt.ok {
				return
			}
			back, err := Digest(c)
			if err != nil || back != tt.d {
				t.Fatalf("Digest(CID(%s)) = %s, %v", tt.d, back, err)
			}
		})
	}
}

func TestCIDMultihashIsTheDigest(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	c, _ := CID(digest.FromBytes([]byte("x")))
	if got := []byte(c.Hash()[2:]); string(got) != string(sum[:]) {
		t.Fatalf("multihash digest = %x, want %x", got, sum)
	}
	sum5 := sha512.Sum512([]byte("x"))
	c, _ = CID(digest.SHA512.FromBytes([]byte("x")))
	if got := []byte(c.Hash()[2:]); string(got) != string(sum5[:]) {
		t.Fatalf("sha512 multihash digest = %x, want %x", got, sum5)
	}
}
