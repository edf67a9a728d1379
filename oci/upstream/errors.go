package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped with what was asked for) when the upstream
// answers 404.
var ErrNotFound = errors.New("upstream: not found")

// UnavailableError means the upstream could not serve the request for now:
// it was unreachable, answered 5xx, or answered 429. Callers may serve stale
// content or pass the condition on to their client.
type UnavailableError struct {
	Rule string
	// Status is the HTTP status of the last attempt, 0 when none was received.
	Status int
	// RetryAfter is the upstream's Retry-After, 0 when it sent none.
	RetryAfter time.Duration
	Err        error
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %s unavailable", e.Rule)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": status %d", e.Status)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err is, or wraps, an *UnavailableError.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// StatusError is an unexpected upstream status other than 404, 429 and 5xx
// (401 and 403 mostly), with the first error from the upstream's OCI error
// body when it sent one.
type StatusError struct {
	Status        int
	Code, Message string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("upstream: status %d", e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// ociErrorBody reads the first {"errors":[{"code","message"}]} entry of an
// error response, if any. It does not close body.
func ociErrorBody(body io.Reader) (code, message string) {
	b, err := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if err != nil || len(b) == 0 {
		return "", ""
	}
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 {
		return "", ""
	}
	return e.Errors[0].Code, e.Errors[0].Message
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
// It returns 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		const maxSeconds = int64(24 * time.Hour / time.Second)
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}

// retryable reports whether a status means "try again later".
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}
