package ingest

import (
	"errors"

	"github.com/shoal-dev/shoal/archive"
	"github.com/shoal-dev/shoal/oci"
)

var errArchiveUnsupported = &oci.Error{Status: 400, Code: "UNSUPPORTED", Message: "the body is not a tar of an OCI image layout or a docker save tarball"}

// archiveError answers a problem with an import's archive, found while
// reading its metadata, with an OCI error: a 400 (413 for a manifest over
// the limit) whose code says what is wrong.
func archiveError(err error) *oci.Error {
	var e *oci.Error
	switch {
	case errors.Is(err, archive.ErrUnknownFormat):
		return errArchiveUnsupported.With(err.Error())
	case errors.Is(err, archive.ErrUnsupportedVersion):
		return errArchiveUnsupported.WithMessage("%s", err.Error())
	case errors.Is(err, archive.ErrMissing):
		e = oci.ErrManifestBlobUnknown
	case errors.Is(err, archive.ErrSizeMismatch):
		e = oci.ErrSizeInvalid
	case errors.Is(err, archive.ErrDigestMismatch):
		e = oci.ErrDigestInvalid
	case errors.Is(err, archive.ErrTooLarge):
		e = oci.ErrTooLarge
	default:
		e = oci.ErrManifestInvalid
	}
	e = e.WithMessage("%s", err.Error())
	// A manifest that oci.ParseManifest refused keeps its detail.
	var cause *oci.Error
	if errors.As(err, &cause) && cause.Detail != nil {
		e = e.With(cause.Detail)
	}
	return e
}
