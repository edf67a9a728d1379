package pull

import (
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// checkedDownload is a Download that vouches for every piece.
type checkedDownload struct{ io.ReadCloser }

func (checkedDownload) Size() int64       { return 0 }
func (checkedDownload) MediaType() string { return "" }
func (checkedDownload) Blame(string)      {}
func (checkedDownload) CheckedPiece(i int, _ int64) (digest.Digest, bool) {
	return digest.FromString(string(rune('a' + i))), true
}

// The peers' word for a piece is passed on to the store while the bytes
// come from them, and not once an upstream fallback has taken over.
func TestFleetReaderPassesOnCheckedPieces(t *testing.T) {
	dl := checkedDownload{io.NopCloser(strings.NewReader(""))}
	f := &fleetReader{dl: dl, cur: dl}
	if d, ok := f.CheckedPiece(1, 1<<20); !ok || d != digest.FromString("b") {
		t.Fatalf("from peers: %q, %v", d, ok)
	}
	f.cur = io.NopCloser(strings.NewReader("from upstream"))
	if _, ok := f.CheckedPiece(1, 1<<20); ok {
		t.Fatal("a piece vouched for after the fallback to upstream")
	}
}
