package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is one OCI distribution error: a code from the spec, a message, an
// optional detail, and the HTTP status it is sent with.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string {
	if e.Detail != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Detail)
	}
	return e.Code + ": " + e.Message
}

// With returns a copy of e carrying detail.
func (e *Error) With(detail any) *Error {
	c := *e
	c.Detail = detail
	return &c
}

// WithMessage returns a copy of e with another message.
func (e *Error) WithMessage(format string, args ...any) *Error {
	c := *e
	c.Message = fmt.Sprintf(format, args...)
	return &c
}

// Is matches errors by code, so errors.Is(err, ErrBlobUnknown) holds for any
// detail or message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The error codes of the OCI distribution spec, with the status each is
// normally sent with.
var (
	ErrBlobUnknown         = &Error{Status: http.StatusNotFound, Code: "BLOB_UNKNOWN", Message: "blob unknown to registry"}
	ErrBlobUploadInvalid   = &Error{Status: http.StatusBadRequest, Code: "BLOB_UPLOAD_INVALID", Message: "blob upload invalid"}
	ErrBlobUploadUnknown   = &Error{Status: http.StatusNotFound, Code: "BLOB_UPLOAD_UNKNOWN", Message: "blob upload unknown to registry"}
	ErrDigestInvalid       = &Error{Status: http.StatusBadRequest, Code: "DIGEST_INVALID", Message: "provided digest did not match uploaded content"}
	ErrManifestBlobUnknown = &Error{Status: http.StatusBadRequest, Code: "MANIFEST_BLOB_UNKNOWN", Message: "manifest references a manifest or blob unknown to registry"}
	ErrManifestInvalid     = &Error{Status: http.StatusBadRequest, Code: "MANIFEST_INVALID", Message: "manifest invalid"}
	ErrManifestUnknown     = &Error{Status: http.StatusNotFound, Code: "MANIFEST_UNKNOWN", Message: "manifest unknown to registry"}
	ErrNameInvalid         = &Error{Status: http.StatusBadRequest, Code: "NAME_INVALID", Message: "invalid repository name"}
	ErrNameUnknown         = &Error{Status: http.StatusNotFound, Code: "NAME_UNKNOWN", Message: "repository name not known to registry"}
	ErrSizeInvalid         = &Error{Status: http.StatusBadRequest, Code: "SIZE_INVALID", Message: "provided length did not match content length"}
	ErrUnauthorized        = &Error{Status: http.StatusUnauthorized, Code: "UNAUTHORIZED", Message: "authentication required"}
	ErrDenied              = &Error{Status: http.StatusForbidden, Code: "DENIED", Message: "requested access to the resource is denied"}
	ErrUnsupported         = &Error{Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED", Message: "the operation is unsupported"}
	ErrTooManyRequests     = &Error{Status: http.StatusTooManyRequests, Code: "TOOMANYREQUESTS", Message: "too many requests"}
	// Not spec codes, but errors a registry must still answer in the same form.
	ErrRangeInvalid = &Error{Status: http.StatusRequestedRangeNotSatisfiable, Code: "BLOB_UPLOAD_INVALID", Message: "requested range not satisfiable"}
	ErrTooLarge     = &Error{Status: http.StatusRequestEntityTooLarge, Code: "SIZE_INVALID", Message: "content too large"}
	ErrUnavailable  = &Error{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE", Message: "upstream registry unavailable"}
	// ErrPaginationInvalid answers a bad n parameter, with distribution's code.
	ErrPaginationInvalid = &Error{Status: http.StatusBadRequest, Code: "PAGINATION_NUMBER_INVALID", Message: "invalid number of results requested"}
	ErrInternal          = &Error{Status: http.StatusInternalServerError, Code: "UNKNOWN", Message: "internal error"}
)

// WriteError answers err in the OCI error form. An *Error anywhere in err's
// chain sets the code and status; anything else is a 500 whose text is not
// shown to the client.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = ErrInternal
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.Header().Del("Docker-Content-Digest")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(struct {
		Errors []*Error `json:"errors"`
	}{[]*Error{e}})
}
