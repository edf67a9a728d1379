package oci

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func FuzzParseManifest(f *testing.F) {
	f.Add("", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"a","digest":"sha256:`+strings.Repeat("a", 64)+`","size":1},"layers":[]}`))
	f.Add(ocispec.MediaTypeImageIndex, []byte(`{"schemaVersion":2,"manifests":[{"digest":"sha512:`+strings.Repeat("b", 128)+`","size":3}]}`))
	f.Add("application/x", []byte(`{"layers":null,"subject":{"digest":"sha256:x"}}`))
	f.Fuzz(func(t *testing.T, mt string, body []byte) {
		info, err := ParseManifest(mt, body)
		if err != nil {
			var e *Error
			if !errorsAs(err, &e) || e.Code != "MANIFEST_INVALID" {
				t.Fatalf("error %v is not MANIFEST_INVALID", err)
			}
			return
		}
		if info.MediaType == "" {
			t.Fatal("no media type")
		}
		for _, d := range append(append([]ocispec.Descriptor{}, info.Blobs...), info.Manifests...) {
			if _, err := ParseDigest(string(d.Digest)); err != nil || d.Size < 0 {
				t.Fatalf("bad descriptor accepted: %+v", d)
			}
		}
	})
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"library/ubuntu", "a__b/c-d.e", "A", "a//b", "../x", "latest", "sha256:" + strings.Repeat("a", 64), "sha512:abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) == nil {
			if len(s) > MaxNameLength || strings.Contains(s, "..") || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//") {
				t.Fatalf("bad name %q accepted", s)
			}
			for _, c := range s {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._-/", c)) {
					t.Fatalf("name %q has %q", s, c)
				}
			}
		}
		ref, err := parseReference(s)
		if err != nil {
			var e *Error
			if !errorsAs(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("reference error %v", err)
			}
			return
		}
		if ref.String() != s {
			t.Fatalf("reference %q became %q", s, ref)
		}
		if ref.digest != "" {
			if ref.digest.Validate() != nil || (ref.digest.Algorithm() != digest.SHA256 && ref.digest.Algorithm() != digest.SHA512) {
				t.Fatalf("bad digest %q accepted", s)
			}
		} else if len(s) > 128 || strings.ContainsAny(s, ":/@") {
			t.Fatalf("bad tag %q accepted", s)
		}
		// Routing must give the same name back, or refuse it.
		rt, err := parseRoute("/v2/" + s + "/tags/list")
		if err == nil && rt.name != s {
			t.Fatalf("route name %q from %q", rt.name, s)
		}
	})
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"0-9", "bytes 0-9/10", "bytes=5-5/*", "9-0", "-1-2", "0-", "", "bytes0-1", "0-99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, err := ParseContentRange(s)
		if err != nil {
			var e *Error
			if !errorsAs(err, &e) || e.Status != http.StatusBadRequest {
				t.Fatalf("error %v", err)
			}
			return
		}
		if first < 0 || last < first {
			t.Fatalf("%q gave %d-%d", s, first, last)
		}
		if err := checkRange("bytes="+s, 1000); err != nil {
			var e *Error
			if !errorsAs(err, &e) || e.Status != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("checkRange error %v", err)
			}
		}
	})
}

// FuzzHandler drives the whole handler with arbitrary requests against a
// fake registry holding one image: no 5xx, and every 4xx is an OCI error.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, path, hname, hval, body string }{
		{"GET", "/v2/foo/manifests/latest", "Accept", "*/*", ""},
		{"GET", "/v2/foo/blobs/BLOB", "Range", "bytes=1-2", ""},
		{"HEAD", "/v2/foo/blobs/BLOB", "", "", ""},
		{"POST", "/v2/foo/blobs/uploads/?digest=BLOB", "Content-Type", "application/octet-stream", "layer seed"},
		{"POST", "/v2/foo/blobs/uploads/?mount=BLOB&from=bar", "", "", ""},
		{"PATCH", "/v2/foo/blobs/uploads/up-1", "Content-Range", "0-3", "abcd"},
		{"PUT", "/v2/foo/blobs/uploads/up-1?digest=BLOB", "Content-Range", "0-0", "a"},
		{"PUT", "/v2/foo/manifests/v2", "Content-Type", ocispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":{"digest":"BLOB","size":10},"layers":[]}`},
		{"GET", "/v2/foo/tags/list?n=1&last=a", "", "", ""},
		{"GET", "/v2/_catalog?n=0", "", "", ""},
		{"GET", "/v2/foo/referrers/BLOB?artifactType=x", "", "", ""},
		{"DELETE", "/v2/foo/manifests/latest", "", "", ""},
		{"GET", "/v2/%2e%2e/x/tags/list", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.hname, s.hval, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, hname, hval string, body []byte) {
		e := newTestEnv(t, HandlerOptions{MaxManifestBytes: 1 << 12})
		img := e.pushImage("foo", "seed")
		layer := digest.FromString("layer seed")
		e.reg.addBlob("bar", []byte("layer seed"), digest.SHA256)
		if _, err := e.reg.StartUpload(t.Context(), Repo{Name: "foo"}); err != nil {
			t.Fatal(err)
		}
		_ = e.reg.PutManifest(t.Context(), Repo{Name: "foo"}, []string{"latest"}, &Manifest{Digest: digest.FromBytes(img), MediaType: ocispec.MediaTypeImageManifest, Bytes: img}, mustParse(t, img))

		path = strings.ReplaceAll(path, "BLOB", layer.String())
		u, err := url.ParseRequestURI(path)
		if err != nil || !validMethod(method) {
			return
		}
		req := httptest.NewRequest("GET", "/", bytes.NewReader(body))
		req.Method = method
		req.URL = u
		req.RequestURI = path
		if hname != "" && validHeader(hname, hval) {
			req.Header.Set(hname, hval)
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s (%s: %s): %d %s", method, path, hname, hval, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && method != "HEAD" {
			if _, err := ociErrorCode(rec.Header(), rec.Body.Bytes()); err != nil {
				t.Fatalf("%s %s: %d with bad error body: %v: %q", method, path, rec.Code, err, rec.Body)
			}
		}
	})
}

func mustParse(t *testing.T, b []byte) *ManifestInfo {
	info, err := ParseManifest("", b)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// validHeader keeps to what net/http would accept on the wire.
func validHeader(name, value string) bool {
	for _, c := range name {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return false
		}
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return len(name) > 0
}
