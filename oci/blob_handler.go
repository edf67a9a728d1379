package oci

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// maxRanges caps the byte ranges of one request. Only single ranges are
// served; see checkRange.
const maxRanges = 1

func (h *handler) blobDigest(r *request) (digest.Digest, error) {
	return ParseDigest(r.arg)
}

func setBlobHeaders(w http.ResponseWriter, d digest.Digest, size int64) {
	hd := w.Header()
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Content-Length", strconv.FormatInt(size, 10))
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("ETag", `"`+d.String()+`"`)
	// Content addressed: it never changes.
	hd.Set("Cache-Control", "max-age=31536000")
}

func (h *handler) headBlob(w *responseWriter, r *request) error {
	d, err := h.blobDigest(r)
	if err != nil {
		return err
	}
	size, err := h.reg.StatBlob(r.Context(), r.repo, d)
	if err != nil {
		return err
	}
	setBlobHeaders(w, d, size)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (h *handler) getBlob(w *responseWriter, r *request) error {
	d, err := h.blobDigest(r)
	if err != nil {
		return err
	}
	b, err := h.reg.GetBlob(r.Context(), r.repo, d)
	if err != nil {
		return err
	}
	defer func() {
		if b.Close != nil {
			_ = b.Close()
		}
	}()
	if b.Content == nil || b.Size < 0 {
		return fmt.Errorf("registry returned blob %s without content", d)
	}
	if err := checkRange(r.Header.Get("Range"), b.Size); err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", b.Size))
		return err
	}

	setBlobHeaders(w, d, b.Size)
	content := b.Content
	var rec *recordingSeeker
	if _, isFile := content.(*os.File); !isFile {
		// A still-arriving blob: answer ServeContent's size probe from
		// Blob.Size rather than seeking to an end that is not there yet,
		// and remember a failed Read.
		rec = &recordingSeeker{rs: content, size: b.Size}
		content = rec
	}
	start := w.written
	w.ociErrors = true
	http.ServeContent(w, r.Request, "", time.Time{}, content)
	w.ociErrors = false
	if h.opts.BytesServed != nil {
		h.opts.BytesServed(w.written - start)
	}
	failed := rec != nil && rec.err != nil
	if e, ok := b.Content.(interface{ Err() error }); ok && e.Err() != nil {
		failed = true
	}
	if failed {
		// The blob could not be completed or verified: make the client see
		// a broken response, not a clean short one.
		h.log.Warn("blob read failed while serving", "repo", r.repo.Name, "digest", d.String())
		panic(http.ErrAbortHandler)
	}
	return nil
}

// checkRange reads a Range header the way http.ServeContent will, so that
// what it would refuse in plain text is refused here in the OCI form:
// malformed ranges (including last < first, as in 500-0) and ranges that
// start past the end get 416. Multiple ranges are refused with 416 too:
// no OCI client asks for them, and serving them would read the blob from
// a second goroutine. As ServeContent does, a range on an empty blob is
// ignored.
func checkRange(h string, size int64) error {
	if h == "" {
		return nil
	}
	invalid := ErrRangeInvalid.With(map[string]any{"range": truncate(h, 256)})
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return invalid
	}
	n := 0
	overlap := false
	for ra := range strings.SplitSeq(spec, ",") {
		ra = textproto.TrimString(ra)
		if ra == "" {
			continue
		}
		n++
		if n > maxRanges {
			return ErrRangeInvalid.WithMessage("multiple ranges are not supported")
		}
		first, last, ok := strings.Cut(ra, "-")
		if !ok {
			return invalid
		}
		first, last = textproto.TrimString(first), textproto.TrimString(last)
		if first == "" {
			if last == "" || last[0] == '-' {
				return invalid
			}
			if i, err := strconv.ParseInt(last, 10, 64); err != nil || i < 0 {
				return invalid
			}
			overlap = true
			continue
		}
		i, err := strconv.ParseInt(first, 10, 64)
		if err != nil || i < 0 {
			return invalid
		}
		if last != "" {
			j, err := strconv.ParseInt(last, 10, 64)
			if err != nil || i > j {
				return invalid
			}
		}
		if i < size {
			overlap = true
		}
	}
	if n > 0 && !overlap && size > 0 {
		return ErrRangeInvalid.With(map[string]any{"range": truncate(h, 256), "size": size})
	}
	return nil
}

// recordingSeeker wraps blob content that is not a plain file: it answers a
// seek to the end from the known size without touching content that may
// not have arrived yet, and keeps the first Read error.
type recordingSeeker struct {
	rs   io.ReadSeeker
	size int64
	err  error
	// pos is a position set by a seek relative to the end, applied to rs
	// at the next Read.
	pos     int64
	pending bool
}

func (s *recordingSeeker) Read(p []byte) (int, error) {
	if s.pending {
		if _, err := s.rs.Seek(s.pos, io.SeekStart); err != nil {
			s.err = err
			return 0, err
		}
		s.pending = false
	}
	n, err := s.rs.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

func (s *recordingSeeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekEnd:
		if s.size+offset < 0 {
			return 0, errors.New("seek before start")
		}
		s.pos, s.pending = s.size+offset, true
		return s.pos, nil
	case io.SeekCurrent:
		if s.pending {
			offset += s.pos
			whence = io.SeekStart
		}
	}
	s.pending = false
	return s.rs.Seek(offset, whence)
}

func (h *handler) deleteBlob(w *responseWriter, r *request) error {
	d, err := h.blobDigest(r)
	if err != nil {
		return err
	}
	if err := h.reg.DeleteBlob(r.Context(), r.repo, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
