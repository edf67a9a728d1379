package oci

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// uploadRange is the Range header of an upload holding size bytes. An empty
// upload is sent as 0-0, as distribution does; clients learn the real size
// from the next response or from a 416.
func uploadRange(size int64) string {
	if size <= 0 {
		return "0-0"
	}
	return "0-" + strconv.FormatInt(size-1, 10)
}

func (h *handler) writeUploadState(w *responseWriter, r *request, id string, size int64, status int) {
	hd := w.Header()
	hd.Set("Location", location(r.repo, "blobs/uploads/"+id))
	hd.Set("Docker-Upload-UUID", id)
	hd.Set("Range", uploadRange(size))
	if h.opts.ChunkMinLength > 0 {
		hd.Set("OCI-Chunk-Min-Length", strconv.FormatInt(h.opts.ChunkMinLength, 10))
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func writeBlobCreated(w *responseWriter, repo Repo, d digest.Digest) {
	hd := w.Header()
	hd.Set("Location", location(repo, "blobs/"+d.String()))
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// startUpload is POST /v2/<name>/blobs/uploads/: a cross-repository or
// anonymous mount (?mount=, with or without &from=), a monolithic upload
// (?digest=), or the start of an upload session.
func (h *handler) startUpload(w *responseWriter, r *request) error {
	ctx := r.Context()
	if r.query.Has("mount") {
		d, err := ParseDigest(r.query.Get("mount"))
		if err != nil {
			return err
		}
		// An empty from.Name asks for an anonymous mount.
		from := Repo{NS: r.repo.NS}
		if r.query.Has("from") {
			from.Name = r.query.Get("from")
			if err := ValidateName(from.Name); err != nil {
				return err
			}
		}
		err = h.reg.MountBlob(ctx, r.repo, from, d)
		if err == nil {
			writeBlobCreated(w, r.repo, d)
			return nil
		}
		var e *Error
		if !errors.As(err, &e) || e.Status >= 500 {
			h.log.Warn("blob mount failed, starting an upload instead", "repo", r.repo.Name, "from", from.Name, "digest", d.String(), "err", err)
		}
		// The spec's answer to a mount that cannot be done: a new session.
		id, err := h.reg.StartUpload(ctx, r.repo)
		if err != nil {
			return err
		}
		h.writeUploadState(w, r, id, 0, http.StatusAccepted)
		return nil
	}

	if r.query.Has("digest") {
		d, err := ParseDigest(r.query.Get("digest"))
		if err != nil {
			return err
		}
		return h.monolithic(w, r, d)
	}

	id, err := h.reg.StartUpload(ctx, r.repo)
	if err != nil {
		return err
	}
	h.writeUploadState(w, r, id, 0, http.StatusAccepted)
	return nil
}

// monolithic stores the request body as blob d in one request.
func (h *handler) monolithic(w *responseWriter, r *request, d digest.Digest) error {
	ctx := r.Context()
	id, err := h.reg.StartUpload(ctx, r.repo)
	if err != nil {
		return err
	}
	body := newBodyReader(r.Body, r.ContentLength)
	_, err = h.reg.WriteUpload(ctx, r.repo, id, 0, body)
	if err == nil {
		err = body.check()
	} else if body.err != nil {
		err = body.err
	}
	if err == nil {
		err = h.reg.CommitUpload(ctx, r.repo, id, d)
	}
	if err != nil {
		h.abandon(ctx, r.repo, id)
		return err
	}
	writeBlobCreated(w, r.repo, d)
	return nil
}

// abandon cancels an upload that failed within one request.
func (h *handler) abandon(ctx context.Context, repo Repo, id string) {
	err := h.reg.CancelUpload(context.WithoutCancel(ctx), repo, id)
	if err != nil && !errors.Is(err, ErrBlobUploadUnknown) {
		h.log.Warn("cancelling failed upload", "repo", repo.Name, "id", id, "err", err)
	}
}

func (h *handler) uploadStatus(w *responseWriter, r *request) error {
	size, err := h.reg.UploadSize(r.Context(), r.repo, r.arg)
	if err != nil {
		return err
	}
	h.writeUploadState(w, r, r.arg, size, http.StatusNoContent)
	return nil
}

// writeChunk appends the request body to upload r.arg: at the offset its
// Content-Range names, or at the end when there is none.
func (h *handler) writeChunk(w *responseWriter, r *request) (int64, error) {
	offset, want := int64(-1), r.ContentLength
	if cr := r.Header.Get("Content-Range"); cr != "" {
		first, last, err := ParseContentRange(cr)
		if err != nil {
			return 0, err
		}
		offset, want = first, last-first+1
		if r.ContentLength >= 0 && r.ContentLength != want {
			return 0, ErrSizeInvalid.WithMessage("Content-Length %d does not match Content-Range %q", r.ContentLength, truncate(cr, 64))
		}
	}
	body := newBodyReader(r.Body, want)
	size, err := h.reg.WriteUpload(r.Context(), r.repo, r.arg, offset, body)
	if err != nil {
		if body.err != nil {
			return 0, body.err
		}
		if errors.Is(err, ErrRangeInvalid) {
			// Tell the client where the upload stands so it can resume.
			w.Header().Set("Location", location(r.repo, "blobs/uploads/"+r.arg))
			w.Header().Set("Docker-Upload-UUID", r.arg)
			if cur, serr := h.reg.UploadSize(r.Context(), r.repo, r.arg); serr == nil {
				w.Header().Set("Range", uploadRange(cur))
			}
		}
		return 0, err
	}
	if err := body.check(); err != nil {
		return 0, err
	}
	return size, nil
}

func (h *handler) patchUpload(w *responseWriter, r *request) error {
	size, err := h.writeChunk(w, r)
	if err != nil {
		return err
	}
	h.writeUploadState(w, r, r.arg, size, http.StatusAccepted)
	return nil
}

// putUpload ends an upload: an optional last chunk, then the digest check.
func (h *handler) putUpload(w *responseWriter, r *request) error {
	if !r.query.Has("digest") {
		return ErrDigestInvalid.WithMessage("digest parameter missing")
	}
	d, err := ParseDigest(r.query.Get("digest"))
	if err != nil {
		return err
	}
	if r.ContentLength != 0 || r.Header.Get("Content-Range") != "" {
		if _, err := h.writeChunk(w, r); err != nil {
			return err
		}
	}
	if err := h.reg.CommitUpload(r.Context(), r.repo, r.arg, d); err != nil {
		return err
	}
	w.Header().Del("Range")
	writeBlobCreated(w, r.repo, d)
	return nil
}

func (h *handler) cancelUpload(w *responseWriter, r *request) error {
	if err := h.reg.CancelUpload(r.Context(), r.repo, r.arg); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ParseContentRange reads the Content-Range of an upload chunk: "first-last"
// as the spec writes it, also accepted with a "bytes " or "bytes=" prefix
// and a "/total" or "/*" suffix. first <= last. The error is a 400
// BLOB_UPLOAD_INVALID *Error (a well-formed range at the wrong offset is
// the Registry's 416).
func ParseContentRange(s string) (first, last int64, err error) {
	invalid := ErrBlobUploadInvalid.WithMessage("invalid Content-Range").With(map[string]any{"contentRange": truncate(s, 64)})
	v := strings.TrimSpace(s)
	if p, ok := strings.CutPrefix(v, "bytes"); ok {
		p = strings.TrimLeft(p, " =")
		if len(p) == len(v)-len("bytes") {
			return 0, 0, invalid // "bytes" glued to the number
		}
		v = p
	}
	if rng, total, ok := strings.Cut(v, "/"); ok {
		if total != "*" && !allDigits(total) {
			return 0, 0, invalid
		}
		v = rng
	}
	a, b, ok := strings.Cut(v, "-")
	if !ok || !allDigits(a) || !allDigits(b) {
		return 0, 0, invalid
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first > last {
		return 0, 0, invalid
	}
	return first, last, nil
}

func allDigits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
