package pull

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream"
)

func TestUpstreamErr(t *testing.T) {
	d := digest.FromString("x")
	denied := oci.ErrDenied.WithMessage("the access policy does not allow upstream registry-1.docker.io")
	wrappedDenied := fmt.Errorf("fetching: %w", denied)
	other := errors.New("disk full")
	stored := blobUnknown(d)
	for _, tc := range []struct {
		name string
		err  error
		// same: upstreamErr answers err itself; nf: it answers the
		// not-found error it was given.
		same, nf   bool
		status     int
		code       string
		retryAfter int
	}{
		{name: "upstream not found", err: fmt.Errorf("%w: docker.io manifest", upstream.ErrNotFound), nf: true, status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "pull not found", err: fmt.Errorf("no peer has it: %w", ErrNotFound), nf: true, status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "bare pull not found", err: ErrNotFound, nf: true, status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "a not-found answer already made passes through", err: stored, same: true, status: 404, code: "BLOB_UNKNOWN"},
		{name: "429 with Retry-After", err: &upstream.UnavailableError{Rule: "docker.io", Status: 429, RetryAfter: 30 * time.Second}, status: 429, code: "TOOMANYREQUESTS", retryAfter: 30},
		{name: "429 with a fractional Retry-After", err: &upstream.UnavailableError{Status: 429, RetryAfter: 1500 * time.Millisecond}, status: 429, code: "TOOMANYREQUESTS", retryAfter: 1},
		{name: "429 without Retry-After", err: &upstream.UnavailableError{Status: 429}, status: 429, code: "TOOMANYREQUESTS"},
		{name: "unreachable", err: &upstream.UnavailableError{Rule: "docker.io", Err: errors.New("connection refused")}, status: 503, code: "UNAVAILABLE"},
		{name: "5xx", err: &upstream.UnavailableError{Rule: "docker.io", Status: 503}, status: 503, code: "UNAVAILABLE"},
		{name: "wrapped unavailable", err: fmt.Errorf("peers failed at byte 9 and upstream too: %w", &upstream.UnavailableError{Status: 502}), status: 503, code: "UNAVAILABLE"},
		{name: "401", err: &upstream.StatusError{Status: 401, Code: "UNAUTHORIZED"}, status: 403, code: "DENIED"},
		{name: "403", err: fmt.Errorf("upstream docker.io: %w", &upstream.StatusError{Status: 403}), status: 403, code: "DENIED"},
		{name: "500", err: &upstream.StatusError{Status: 500}, status: 502, code: "UNKNOWN"},
		{name: "400", err: &upstream.StatusError{Status: 400, Code: "NAME_INVALID"}, status: 502, code: "UNKNOWN"},
		{name: "digest mismatch", err: fmt.Errorf("blob %s: %w", d, ErrDigestMismatch), status: 502, code: "DIGEST_INVALID"},
		{name: "an *oci.Error passes through", err: denied, same: true, status: 403, code: "DENIED"},
		{name: "a wrapped *oci.Error passes through", err: wrappedDenied, same: true, status: 403, code: "DENIED"},
		{name: "anything else passes through", err: other, same: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nf := manifestUnknown("digest", d.String())
			got := upstreamErr(tc.err, nf)
			switch {
			case tc.same && got != tc.err:
				t.Errorf("upstreamErr = %v, want %v itself", got, tc.err)
			case tc.nf && got != nf:
				t.Errorf("upstreamErr = %v, want the not-found answer", got)
			}
			if isNF := errors.Is(got, ErrNotFound); isNF != (tc.status == 404) {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v", got, isNF)
			}
			var oe *oci.Error
			if tc.code == "" {
				if errors.As(got, &oe) {
					t.Errorf("upstreamErr = %v, want no *oci.Error", got)
				}
				return
			}
			if !errors.As(got, &oe) {
				t.Fatalf("upstreamErr = %v (%T), want an *oci.Error", got, got)
			}
			if oe.Status != tc.status || oe.Code != tc.code || oe.RetryAfter != tc.retryAfter {
				t.Errorf("upstreamErr = %d %s (Retry-After %d), want %d %s (%d)", oe.Status, oe.Code, oe.RetryAfter, tc.status, tc.code, tc.retryAfter)
			}
		})
	}
	if upstreamErr(nil, manifestUnknown("tag", "latest")) != nil {
		t.Error("upstreamErr(nil) is not nil")
	}
}

func TestNotFoundAnswers(t *testing.T) {
	d := digest.FromString("x")
	for _, tc := range []struct {
		name string
		err  error
		code *oci.Error
	}{
		{"blobUnknown", blobUnknown(d), oci.ErrBlobUnknown},
		{"manifestUnknown", manifestUnknown("tag", "latest"), oci.ErrManifestUnknown},
		{"storeErr of a not-found", storeErr(fmt.Errorf("manifest: %w", ErrNotFound), manifestUnknown("digest", d.String())), oci.ErrManifestUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, ErrNotFound) || !errors.Is(tc.err, tc.code) {
				t.Errorf("%v: matches ErrNotFound %v, %s %v", tc.err, errors.Is(tc.err, ErrNotFound), tc.code.Code, errors.Is(tc.err, tc.code))
			}
			var oe *oci.Error
			if !errors.As(tc.err, &oe) || oe.Status != 404 || oe.Code != tc.code.Code {
				t.Errorf("%v: *oci.Error %+v", tc.err, oe)
			}
			if tc.err.Error() != oe.Error() {
				t.Errorf("Error() = %q, want the *oci.Error's %q", tc.err.Error(), oe.Error())
			}
		})
	}
	other := errors.New("disk full")
	if storeErr(other, blobUnknown(d)) != other {
		t.Error("storeErr changed an error other than not-found")
	}
}
