package oci

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// maxTagParams caps the ?tag= parameters of one manifest PUT.
const maxTagParams = 100

// maxWarningBytes caps the Warning header, as the spec allows 4096 bytes in all.
const maxWarningBytes = 4000

func (h *handler) getManifest(w *responseWriter, r *request) error {
	ref, err := parseReference(r.arg)
	if err != nil {
		return err
	}
	m, err := h.reg.GetManifest(r.Context(), r.repo, ref.String())
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", m.MediaType)
	hd.Set("Docker-Content-Digest", m.Digest.String())
	hd.Set("ETag", `"`+m.Digest.String()+`"`)
	hd.Set("Content-Length", strconv.Itoa(len(m.Bytes)))
	if m.Warning != "" {
		hd.Set("Warning", warningHeader(m.Warning))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(m.Bytes)
		if h.opts.ManifestServed != nil {
			h.opts.ManifestServed(r.Request, r.repo, ref.String(), m.Digest.String())
		}
	}
	return nil
}

// warningHeader formats text as a 299 warning: a quoted string without
// control characters, short enough for clients that cap the header.
func warningHeader(text string) string {
	var b strings.Builder
	for _, c := range text {
		if b.Len() >= maxWarningBytes {
			break
		}
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20 || c == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
	}
	return `299 - "` + b.String() + `"`
}

func (h *handler) putManifest(w *responseWriter, r *request) error {
	ref, err := parseReference(r.arg)
	if err != nil {
		return err
	}
	limit := h.opts.MaxManifestBytes
	if r.ContentLength > limit {
		return ErrTooLarge.WithMessage("manifest larger than %d bytes", limit)
	}
	var tags []string
	if ref.tag != "" {
		tags = append(tags, ref.tag)
	} else {
		params := r.query["tag"]
		if len(params) > maxTagParams {
			return ErrManifestInvalid.WithMessage("too many tag parameters (at most %d)", maxTagParams)
		}
		for _, t := range params {
			if err := ValidateTag(t); err != nil {
				return err
			}
			if !contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}

	mediaType := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return ErrManifestInvalid.WithMessage("manifest invalid: malformed Content-Type")
		}
		mediaType = mt
	}

	body := newBodyReader(r.Body, r.ContentLength)
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		if body.err != nil {
			return body.err
		}
		return ErrManifestInvalid.WithMessage("manifest invalid: reading body: %v", err)
	}
	if int64(len(b)) > limit {
		return ErrTooLarge.WithMessage("manifest larger than %d bytes", limit)
	}
	if len(b) == 0 {
		return ErrManifestInvalid.WithMessage("manifest invalid: empty body")
	}

	info, err := ParseManifest(mediaType, b)
	if err != nil {
		return err
	}
	var d digest.Digest
	if ref.digest != "" {
		d = ref.digest.Algorithm().FromBytes(b)
		if d != ref.digest {
			return ErrDigestInvalid.With(map[string]any{"expected": ref.digest.String(), "computed": d.String()})
		}
	} else {
		d = digest.SHA256.FromBytes(b)
	}

	if err := h.checkManifestBlobs(r, info); err != nil {
		return err
	}

	m := &Manifest{Digest: d, MediaType: info.MediaType, Bytes: b}
	if err := h.reg.PutManifest(r.Context(), r.repo, tags, m, info); err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Location", location(r.repo, "manifests/"+d.String()))
	hd.Set("Docker-Content-Digest", d.String())
	if info.Subject != nil {
		hd.Set("OCI-Subject", info.Subject.Digest.String())
	}
	if ref.digest != "" {
		for _, t := range tags {
			hd.Add("OCI-Tag", t)
		}
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// checkManifestBlobs requires every config and layer of an image manifest
// to be in the repository, except non-distributable layers. Index children
// may be missing (sparse indexes).
func (h *handler) checkManifestBlobs(r *request, info *ManifestInfo) error {
	seen := make(map[digest.Digest]bool, len(info.Blobs))
	for _, b := range info.Blobs {
		if seen[b.Digest] || IsNonDistributable(b.MediaType) {
			continue
		}
		seen[b.Digest] = true
		size, err := h.reg.StatBlob(r.Context(), r.repo, b.Digest)
		if errors.Is(err, ErrBlobUnknown) {
			return ErrManifestBlobUnknown.With(map[string]any{"digest": b.Digest.String()})
		}
		if err != nil {
			return err
		}
		if size >= 0 && size != b.Size {
			return ErrManifestInvalid.WithMessage("manifest invalid: blob %s has size %d, not %d", b.Digest, size, b.Size).With(map[string]any{"digest": b.Digest.String()})
		}
	}
	return nil
}

func (h *handler) deleteManifest(w *responseWriter, r *request) error {
	ref, err := parseReference(r.arg)
	if err != nil {
		return err
	}
	if ref.tag != "" {
		err = h.reg.DeleteTag(r.Context(), r.repo, ref.tag)
	} else {
		err = h.reg.DeleteManifest(r.Context(), r.repo, ref.digest)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// bodyReader reads a request body that must hold exactly want bytes (any
// number when want < 0). A body that is shorter or longer than declared,
// or cut off, fails with a SIZE_INVALID *Error kept in err, so that the
// handler answers that rather than whatever the Registry made of the read
// error.
type bodyReader struct {
	r    io.Reader
	want int64
	n    int64
	err  *Error
}

func newBodyReader(r io.Reader, want int64) *bodyReader {
	if r == nil {
		r = http.NoBody
	}
	return &bodyReader{r: r, want: want}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.want >= 0 {
		rem := b.want - b.n
		if rem == 0 {
			return 0, b.atEnd()
		}
		if int64(len(p)) > rem {
			p = p[:rem]
		}
	}
	k, err := b.r.Read(p)
	b.n += int64(k)
	switch {
	case err == io.EOF:
		if b.want >= 0 && b.n < b.want {
			b.err = ErrSizeInvalid.WithMessage("body shorter than Content-Length (%d < %d)", b.n, b.want)
			return k, b.err
		}
		return k, io.EOF
	case err != nil:
		return k, b.fail(err)
	}
	return k, nil
}

// atEnd checks that nothing follows the declared length.
func (b *bodyReader) atEnd() error {
	var one [1]byte
	for range 100 {
		k, err := b.r.Read(one[:])
		if k > 0 {
			b.err = ErrSizeInvalid.WithMessage("body longer than declared (%d bytes)", b.want)
			return b.err
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return b.fail(err)
		}
	}
	return io.EOF
}

func (b *bodyReader) fail(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		b.err = ErrSizeInvalid.WithMessage("body ended before Content-Length (%d bytes)", b.want)
	case errors.As(err, &tooLarge):
		b.err = ErrTooLarge
	default:
		b.err = ErrBlobUploadInvalid.WithMessage("reading request body: %v", err)
	}
	return b.err
}

// check is the error a fully read body leaves: set when the body did not
// match its declared length.
func (b *bodyReader) check() error {
	if b.err != nil {
		return b.err
	}
	if b.want >= 0 && b.n != b.want {
		return ErrSizeInvalid.WithMessage("body of %d bytes does not match the declared %d", b.n, b.want)
	}
	return nil
}
