package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type testEnv struct {
	t   testing.TB
	reg *fakeRegistry
	h   http.Handler
}

func newTestEnv(t testing.TB, opts HandlerOptions) *testEnv {
	reg := newFakeRegistry()
	return &testEnv{t: t, reg: reg, h: NewHandler(reg, opts)}
}

type hdr map[string]string

// do serves one request; a body of nil sends none. A Content-Length header
// in hs overrides the request's ContentLength.
func (e *testEnv) do(method, target string, hs hdr, body []byte) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(string(body))
	}
	req := httptest.NewRequest(method, target, r)
	for k, v := range hs {
		req.Header.Set(k, v)
	}
	if cl, ok := hs["Content-Length"]; ok {
		var n int64
		if _, err := fmt.Sscan(cl, &n); err == nil {
			req.ContentLength = n
		}
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// wantError checks status and that the body is a well-formed OCI error with code.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if code == "" {
		return
	}
	gotCode, err := ociErrorCode(rec.Header(), rec.Body.Bytes())
	if err != nil {
		t.Fatalf("bad error body: %v: %s", err, rec.Body)
	}
	if gotCode != code {
		t.Fatalf("code = %s, want %s; body %s", gotCode, code, rec.Body)
	}
}

// ociErrorCode checks body is {"errors":[{code,message,...}]} and returns the first code.
func ociErrorCode(h http.Header, body []byte) (string, error) {
	if ct := h.Get("Content-Type"); ct != "application/json" {
		return "", fmt.Errorf("content type %q", ct)
	}
	var eb struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &eb); err != nil {
		return "", err
	}
	if len(eb.Errors) == 0 || eb.Errors[0].Code == "" || eb.Errors[0].Message == "" {
		return "", fmt.Errorf("no error entries")
	}
	return eb.Errors[0].Code, nil
}

func wantStatus(t testing.TB, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
}

func wantHeader(t testing.TB, rec *httptest.ResponseRecorder, key, want string) {
	t.Helper()
	if got := rec.Header().Get(key); got != want {
		t.Fatalf("%s = %q, want %q", key, got, want)
	}
}

// imageManifest builds an OCI image manifest over config and layers.
func imageManifest(config ocispec.Descriptor, layers []ocispec.Descriptor, subject *ocispec.Descriptor, artifactType string) []byte {
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Subject:      subject,
	}
	m.SchemaVersion = 2
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	b, _ := json.Marshal(m)
	return b
}

func desc(mediaType string, b []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// pushImage stores a config and one layer in repo and returns a manifest over them.
func (e *testEnv) pushImage(repo string, seed string) []byte {
	cfg := []byte(`{"seed":"` + seed + `"}`)
	layer := []byte("layer " + seed)
	e.reg.addBlob(repo, cfg, digest.SHA256)
	e.reg.addBlob(repo, layer, digest.SHA256)
	return imageManifest(desc(ocispec.MediaTypeImageConfig, cfg), []ocispec.Descriptor{desc(ocispec.MediaTypeImageLayerGzip, layer)}, nil, "")
}

func slicesSort(s []string) { slices.Sort(s) }

func errorsAs(err error, target any) bool { return errors.As(err, target) }
