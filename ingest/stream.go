package ingest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/adminapi"
)

// The lines of the JSON stream that POST /shoal/v1/import and
// /shoal/v1/preload answer with are described by adminapi.ImageStreamLine;
// these are the exact shapes the node writes (adminapi's type, with its
// omitempty fields, would drop an empty final list).
type (
	progressLine struct {
		Blob  string `json:"blob"`
		Bytes int64  `json:"bytes"`
		Total int64  `json:"total"`
	}
	warningLine struct {
		Warning string `json:"warning"`
	}
	refLine struct {
		Ref    string `json:"ref"`
		Digest string `json:"digest,omitempty"`
		Error  string `json:"error,omitempty"`
	}
	importedLine struct {
		Imported []adminapi.ImportedImage `json:"imported"`
	}
	preloadedLine struct {
		Preloaded []adminapi.PreloadedImage `json:"preloaded"`
		Error     string                    `json:"error,omitempty"`
	}
	errorLine struct {
		Error string `json:"error"`
	}
)

// imageProgressInterval is how often progress lines are sent while bytes
// move; a blob that completes is always reported.
const imageProgressInterval = 250 * time.Millisecond

// imageStream writes a JSON-lines answer, flushing each line so the client
// sees progress as it happens. It is safe for concurrent use.
type imageStream struct {
	mu          sync.Mutex
	w           http.ResponseWriter
	rc          *http.ResponseController
	enc         *json.Encoder
	done, total int64
	last        time.Time
	lastBlob    string
}

// startImageStream sends the 200 and the headers of a JSON-lines stream.
func startImageStream(w http.ResponseWriter) *imageStream {
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	s := &imageStream{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w)}
	_ = s.rc.Flush()
	return s
}

// send writes one line. A client that went away is not an error here:
// the operation's context ends and the operation stops.
func (s *imageStream) send(v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendLocked(v)
}

func (s *imageStream) sendLocked(v any) {
	_ = s.enc.Encode(v)
	_ = s.rc.Flush()
}

// grow adds n bytes to the operation's total.
func (s *imageStream) grow(n int64) {
	s.mu.Lock()
	s.total += n
	s.mu.Unlock()
}

// advance counts n more bytes of blob done, and sends a progress line if
// the last one is older than imageProgressInterval, or always when force.
func (s *imageStream) advance(blob string, n int64, force bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done += n
	s.lastBlob = blob
	if !force && time.Since(s.last) < imageProgressInterval {
		return
	}
	s.last = time.Now()
	s.sendLocked(progressLine{Blob: blob, Bytes: s.done, Total: max(s.total, s.done)})
}

// progressReader reports the bytes read through it and stops when ctx
// ends.
type progressReader struct {
	ctx    context.Context
	r      io.Reader
	onRead func(n int64)
}

func (r *progressReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if n > 0 {
		r.onRead(int64(n))
	}
	return n, err
}

// blobProgress counts the bytes read from r as progress of label on s.
func blobProgress(ctx context.Context, s *imageStream, label string, r io.Reader) *progressReader {
	return &progressReader{ctx: ctx, r: r, onRead: func(n int64) { s.advance(label, n, false) }}
}
