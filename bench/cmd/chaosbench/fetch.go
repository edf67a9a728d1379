package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/integration/harness"
)

// image is what a pull must get: the manifest by tag, then every blob, each
// checked against its digest.
type image struct {
	repo, tag string
	digest    string
	blobs     []string // config and layer digests
	node      int      // the node it was pushed to; -1 for an upstream image
	pushedAt  time.Time
}

func (im image) String() string { return im.repo + ":" + im.tag }

// pullError says which request of a pull failed and how; wrong is set when
// a 200 answer's bytes did not match the digest asked for.
type pullError struct {
	what  string // "manifest" or "blob"
	wrong bool
	err   error
}

func (e *pullError) Error() string { return e.what + ": " + e.err.Error() }

// pull GETs im's manifest by tag through the node at addr, then its blobs,
// hashing every body as received.
func pull(ctx context.Context, hc *http.Client, addr string, im image) error {
	if err := getChecked(ctx, hc, "http://"+addr+"/v2/"+im.repo+"/manifests/"+im.tag, im.digest, "manifest"); err != nil {
		return err
	}
	for _, d := range im.blobs {
		if err := getChecked(ctx, hc, "http://"+addr+"/v2/"+im.repo+"/blobs/"+d, d, "blob"); err != nil {
			return err
		}
	}
	return nil
}

func getChecked(ctx context.Context, hc *http.Client, url, digest, what string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return &pullError{what: what, err: err}
	}
	req.Header.Set("Accept", harness.ManifestAccept)
	resp, err := hc.Do(req)
	if err != nil {
		return &pullError{what: what, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &pullError{what: what, err: fmt.Errorf("%s: %s", resp.Status, errorCode(body))}
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		return &pullError{what: what, err: fmt.Errorf("reading the body: %w", err)}
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != digest {
		return &pullError{what: what, wrong: true, err: fmt.Errorf("WRONG BYTES: %s answered 200 with %s for %s", url, got, digest)}
	}
	return nil
}

// errorCode is the first OCI error code and message in an error body, or
// the start of the body.
func errorCode(body []byte) string {
	s := strings.TrimSpace(string(body))
	if i := strings.Index(s, `"code":"`); i >= 0 {
		rest := s[i+len(`"code":"`):]
		code, _, _ := strings.Cut(rest, `"`)
		msg := ""
		if j := strings.Index(rest, `"message":"`); j >= 0 {
			msg, _, _ = strings.Cut(rest[j+len(`"message":"`):], `"`)
		}
		return strings.TrimSpace(code + " " + msg)
	}
	return truncate(s, 80)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// reasonPatterns turn an error into a reason that groups: addresses, ports,
// digests and upload IDs vary between attempts of the same failure.
type reasonPatterns struct {
	url, digest, hexid, port *regexp.Regexp
}

func newReasonPatterns() *reasonPatterns {
	return &reasonPatterns{
		url:    regexp.MustCompile(`https?://[^\s"]+`),
		digest: regexp.MustCompile(`sha256:[0-9a-f]{64}`),
		hexid:  regexp.MustCompile(`[0-9a-f-]{32,}`),
		port:   regexp.MustCompile(`(127\.0\.0\.1|\d+\.\d+\.\d+\.\d+):\d+`),
	}
}

func (p *reasonPatterns) reason(err error) string {
	var pe *pullError
	what := ""
	if errors.As(err, &pe) {
		what, err = pe.what+": ", pe.err
	}
	s := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(s, "Client.Timeout") || strings.Contains(s, "deadline exceeded"):
		s = "timeout"
	case strings.Contains(s, "connection refused"):
		s = "connection refused"
	case strings.Contains(s, "connection reset"):
		s = "connection reset"
	case strings.Contains(s, "unexpected EOF"):
		s = "unexpected EOF"
	case strings.HasSuffix(s, "EOF"):
		s = "EOF"
	}
	s = p.url.ReplaceAllString(s, "URL")
	s = p.digest.ReplaceAllString(s, "sha256:…")
	s = p.hexid.ReplaceAllString(s, "ID")
	s = p.port.ReplaceAllString(s, "ADDR")
	return what + truncate(s, 140)
}
