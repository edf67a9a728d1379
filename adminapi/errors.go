package adminapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error is a node's answer other than 2xx. The node words its refusals as
// OCI errors, {"errors":[{"code","message","detail"}]}; Code, Message and
// Detail are the first of them. Anything else that answered (a proxy, a
// server that is not a shoal node, /readyz) leaves Errors empty and its
// text in Body.
type Error struct {
	// Method and Path are the request's: "POST", "/shoal/v1/import".
	Method, Path string
	// StatusCode is the HTTP status, e.g. 409; Status its line as the node
	// sent it, e.g. "409 Conflict".
	StatusCode int
	Status     string
	// Code is the first OCI error's code, e.g. "DENIED"; empty when the
	// body is not an OCI error.
	Code string
	// Message is the first OCI error's message.
	Message string
	// Detail is the first OCI error's detail, as JSON decodes it (often
	// a string); nil when it has none.
	Detail any
	// Errors are all the OCI errors of the body.
	Errors []ErrorEntry
	// Body is the answer's text (at most maxErrorBody bytes, trimmed) when
	// it is not an OCI error.
	Body string
}

// ErrorEntry is one entry of an OCI error body.
type ErrorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// maxErrorText bounds how much of a non-OCI body Error shows.
const maxErrorText = 1 << 10

// Error words the node's refusal for a person: its messages when it gave
// any, else what it answered.
func (e *Error) Error() string {
	if len(e.Errors) > 0 {
		msgs := make([]string, 0, len(e.Errors))
		for _, x := range e.Errors {
			m := x.Message
			if m == "" {
				m = x.Code
			}
			if d := detailText(x.Detail); d != "" {
				m += " (" + d + ")"
			}
			msgs = append(msgs, m)
		}
		return "the node refused: " + strings.Join(msgs, "; ")
	}
	if e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusMethodNotAllowed {
		return fmt.Sprintf("the node answered %s to %s %s: is it a shoal node that has this endpoint?", e.Status, e.Method, e.Path)
	}
	if e.Body == "" {
		return "the node answered " + e.Status
	}
	return "the node answered " + e.Status + ": " + bodyText(e.Body)
}

// detailText is an OCI error's detail as text: a string as it is,
// anything else as compact JSON.
func detailText(d any) string {
	switch d := d.(type) {
	case nil:
		return ""
	case string:
		return d
	}
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Sprint(d)
	}
	return string(b)
}

// bodyText is a text body on one line: its non-empty lines joined with
// "; ", cut at maxErrorText bytes.
func bodyText(body string) string {
	var lines []string
	for l := range strings.Lines(body) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "; ")
	if len(s) > maxErrorText {
		s = strings.ToValidUTF8(s[:maxErrorText], "") + "…"
	}
	return s
}

// readError reads a non-2xx answer into an *Error.
func readError(req *http.Request, resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Method: req.Method, Path: req.URL.Path, StatusCode: resp.StatusCode, Status: resp.Status}
	if e.Status == "" {
		e.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	var oe struct {
		Errors []ErrorEntry `json:"errors"`
	}
	if json.Unmarshal(body, &oe) == nil && len(oe.Errors) > 0 {
		e.Errors = oe.Errors
		e.Code, e.Message, e.Detail = oe.Errors[0].Code, oe.Errors[0].Message, oe.Errors[0].Detail
		return e
	}
	e.Body = string(bytes.TrimSpace(body))
	return e
}
