package pull

import (
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
)

// notFoundError is a not-found answer as the client sees it that the
// node's own readers can also tell apart with errors.Is(err, ErrNotFound),
// without reading an HTTP status back out of it.
type notFoundError struct{ oe *oci.Error }

func (e *notFoundError) Error() string   { return e.oe.Error() }
func (e *notFoundError) Unwrap() []error { return []error{e.oe, ErrNotFound} }

func notFound(oe *oci.Error) error { return &notFoundError{oe} }

func blobUnknown(d digest.Digest) error {
	return notFound(oci.ErrBlobUnknown.With(map[string]string{"digest": d.String()}))
}

func manifestUnknown(key, value string) error {
	return notFound(oci.ErrManifestUnknown.With(map[string]string{key: value}))
}

// storeErr turns the store's not-found into nf and passes other errors
// on.
func storeErr(err error, nf error) error {
	if errors.Is(err, ErrNotFound) {
		return nf
	}
	return err
}

// upstreamErr maps a failure to fetch (from upstream, peers or the
// store) onto the OCI error a client sees; nf is the not-found answer.
func upstreamErr(err error, nf error) error {
	var oe *oci.Error
	var ue *upstream.UnavailableError
	var se *upstream.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &oe):
		return err
	case errors.Is(err, upstream.ErrNotFound), errors.Is(err, ErrNotFound):
		return nf
	case errors.As(err, &ue):
		if ue.Status == 429 {
			e := oci.ErrTooManyRequests.With(ue.Error())
			e.RetryAfter = int(ue.RetryAfter.Seconds())
			return e
		}
		return oci.ErrUnavailable.With(ue.Error())
	case errors.As(err, &se):
		if se.Status == 401 || se.Status == 403 {
			return oci.ErrDenied.WithMessage("upstream refused access").With(se.Error())
		}
		return &oci.Error{Status: 502, Code: "UNKNOWN", Message: "upstream error", Detail: se.Error()}
	case errors.Is(err, ErrDigestMismatch):
		return &oci.Error{Status: 502, Code: "DIGEST_INVALID", Message: "content did not match its digest"}
	}
	return err
}
