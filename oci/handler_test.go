package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestBase(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	for _, target := range []string{"/v2/", "/v2"} {
		rec := e.do("GET", target, nil, nil)
		wantStatus(t, rec, 200)
		wantHeader(t, rec, "Docker-Distribution-API-Version", "registry/2.0")
		if strings.TrimSpace(rec.Body.String()) != "{}" {
			t.Fatalf("body = %q", rec.Body)
		}
	}
	wantStatus(t, e.do("HEAD", "/v2/", nil, nil), 200)
	wantError(t, e.do("POST", "/v2/", nil, nil), 405, "UNSUPPORTED")
}

func TestBadRequests(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	e.do("PUT", "/v2/foo/manifests/latest", hdr{"Content-Type": ocispec.MediaTypeImageManifest}, e.pushImage("foo", "a"))
	long := strings.Repeat("a", 256)
	unknown := digest.FromString("nothing").String()
	tests := []struct {
		method, target string
		status         int
		code           string
	}{
		{"GET", "/v2/Foo/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo/../bar/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/../manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/%2e%2e/foo/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo/%2E%2E/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo%2Fbar/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo%2fbar/blobs/" + unknown, 400, "NAME_INVALID"},
		{"GET", "/v2/foo//bar/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/./foo/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo%5Cbar/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo%00/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/-foo/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo_/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo___bar/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/" + long + "/manifests/latest", 400, "NAME_INVALID"},
		{"GET", "/v2/foo/manifests/bad@tag", 400, "MANIFEST_INVALID"},
		{"GET", "/v2/foo/manifests/.hidden", 400, "MANIFEST_INVALID"},
		{"GET", "/v2/foo/manifests/" + strings.Repeat("t", 129), 400, "MANIFEST_INVALID"},
		{"GET", "/v2/foo/manifests/sha256:baddigeststring", 400, "DIGEST_INVALID"},
		{"GET", "/v2/foo/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID"},
		{"GET", "/v2/foo/manifests/sha384:" + strings.Repeat("a", 96), 400, "DIGEST_INVALID"},
		{"GET", "/v2/foo/manifests/sha256:" + strings.Repeat("A", 64), 400, "DIGEST_INVALID"},
		{"GET", "/v2/foo/blobs/notadigest", 400, "DIGEST_INVALID"},
		{"DELETE", "/v2/foo/blobs/sha256:abc", 400, "DIGEST_INVALID"},
		{"GET", "/v2/foo/referrers/latest", 400, "DIGEST_INVALID"},
		{"GET", "/v2/foo/bogus/x", 404, "NAME_UNKNOWN"},
		{"GET", "/v3/", 404, "NAME_UNKNOWN"},
		{"GET", "/v2x", 404, "NAME_UNKNOWN"},
		{"GET", "/v2/foo", 404, "NAME_UNKNOWN"},
		{"GET", "/v2/foo/tags/list/", 404, "NAME_UNKNOWN"},
		{"GET", "/v2/foo/manifests/latest/", 404, "NAME_UNKNOWN"},
		{"GET", "/v2/_catalog/", 404, "NAME_UNKNOWN"},
		{"GET", "/v2/foo/blobs/uploads/bad%20id", 404, "BLOB_UPLOAD_UNKNOWN"},
		{"GET", "/v2/foo/blobs/uploads/nosuch", 404, "BLOB_UPLOAD_UNKNOWN"},
		{"GET", "/v2/foo/manifests/latest?ns=bad/ns", 400, "NAME_INVALID"},
		{"PATCH", "/v2/foo/manifests/latest", 405, "UNSUPPORTED"},
		{"POST", "/v2/foo/tags/list", 405, "UNSUPPORTED"},
		{"GET", "/v2/foo/blobs/uploads/", 405, "UNSUPPORTED"},
		{"PUT", "/v2/foo/blobs/" + unknown, 405, "UNSUPPORTED"},
		{"BREW", "/v2/_catalog", 405, "UNSUPPORTED"},
		{"GET", "/v2/foo/manifests/missing", 404, "MANIFEST_UNKNOWN"},
		{"GET", "/v2/foo/manifests/" + unknown, 404, "MANIFEST_UNKNOWN"},
		{"HEAD", "/v2/foo/manifests/missing", 404, ""},
		{"GET", "/v2/foo/blobs/" + unknown, 404, "BLOB_UNKNOWN"},
		{"HEAD", "/v2/foo/blobs/" + unknown, 404, ""},
		{"DELETE", "/v2/foo/blobs/" + unknown, 404, "BLOB_UNKNOWN"},
		{"DELETE", "/v2/foo/manifests/missing", 404, "MANIFEST_UNKNOWN"},
		{"GET", "/v2/nosuchrepo/tags/list", 404, "NAME_UNKNOWN"},
		{"GET", "/v2/foo/tags/list?n=-1", 400, "PAGINATION_NUMBER_INVALID"},
		{"GET", "/v2/foo/tags/list?n=x", 400, "PAGINATION_NUMBER_INVALID"},
		{"GET", "/v2/_catalog?n=1.5", 400, "PAGINATION_NUMBER_INVALID"},
		{"POST", "/v2/foo/blobs/uploads/?digest=sha256:short", 400, "DIGEST_INVALID"},
		{"POST", "/v2/foo/blobs/uploads/?mount=nope", 400, "DIGEST_INVALID"},
		{"POST", "/v2/foo/blobs/uploads/?mount=" + unknown + "&from=Bad..Name", 400, "NAME_INVALID"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			rec := e.do(tc.method, tc.target, nil, nil)
			// (net/http drops the body of a HEAD answer; the recorder keeps it.)
			wantError(t, rec, tc.status, tc.code)
		})
	}
}

func TestValidateName(t *testing.T) {
	good := []string{"a", "foo", "foo/bar", "a.b", "a_b", "a__b", "a-b", "a---b", "library/ubuntu", "0/1/2", strings.Repeat("a", 255)}
	bad := []string{"", "A", "a/", "/a", "a//b", "a..b", "a._b", "a___b", "-a", "a-", "a.", ".a", "_a", "a/.", "a/..", "a b", "a:b", strings.Repeat("a", 256)}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); err == nil {
			t.Errorf("ValidateName(%q) passed", n)
		}
	}
	goodTags := []string{"latest", "_", "v1.0", "a-b_c.D", strings.Repeat("t", 128)}
	badTags := []string{"", ".a", "-a", "a:b", "a/b", "a@b", strings.Repeat("t", 129)}
	for _, tag := range goodTags {
		if err := ValidateTag(tag); err != nil {
			t.Errorf("ValidateTag(%q) = %v", tag, err)
		}
	}
	for _, tag := range badTags {
		if err := ValidateTag(tag); err == nil {
			t.Errorf("ValidateTag(%q) passed", tag)
		}
	}
}

// uploadOK checks that blob b ended up readable as d in repo.
func (e *testEnv) blobIs(repo string, d digest.Digest, b []byte) {
	e.t.Helper()
	rec := e.do("GET", "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	wantStatus(e.t, rec, 200)
	if rec.Body.String() != string(b) {
		e.t.Fatalf("blob body = %q, want %q", rec.Body, b)
	}
	wantHeader(e.t, rec, "Docker-Content-Digest", d.String())
	wantHeader(e.t, rec, "Content-Length", fmt.Sprint(len(b)))
	wantHeader(e.t, rec, "Content-Type", "application/octet-stream")
	wantHeader(e.t, rec, "Accept-Ranges", "bytes")
	head := e.do("HEAD", "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	wantStatus(e.t, head, 200)
	wantHeader(e.t, head, "Content-Length", fmt.Sprint(len(b)))
	wantHeader(e.t, head, "Docker-Content-Digest", d.String())
	if head.Body.Len() != 0 {
		e.t.Fatal("HEAD has a body")
	}
}

func wantCreated(t testing.TB, rec *httptest.ResponseRecorder, repo string, d digest.Digest) {
	t.Helper()
	wantStatus(t, rec, 201)
	wantHeader(t, rec, "Location", "/v2/"+repo+"/blobs/"+d.String())
	wantHeader(t, rec, "Docker-Content-Digest", d.String())
}

// wantSession checks a 202/204 upload answer and returns its Location.
func wantSession(t testing.TB, rec *httptest.ResponseRecorder, status int, repo, rng string) string {
	t.Helper()
	wantStatus(t, rec, status)
	loc := rec.Header().Get("Location")
	id := rec.Header().Get("Docker-Upload-UUID")
	if id == "" || loc != "/v2/"+repo+"/blobs/uploads/"+id {
		t.Fatalf("Location %q, Docker-Upload-UUID %q", loc, id)
	}
	wantHeader(t, rec, "Range", rng)
	return loc
}

func TestUploads(t *testing.T) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			testUploads(t, alg)
		})
	}
}

func testUploads(t *testing.T, alg digest.Algorithm) {
	blob := []byte(strings.Repeat("0123456789", 30)) // 300 bytes
	d := alg.FromBytes(blob)
	cl := func(n int) string { return fmt.Sprint(n) }

	t.Run("monolithic POST", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		rec := e.do("POST", "/v2/foo/blobs/uploads/?digest="+d.String(), hdr{"Content-Length": cl(len(blob))}, blob)
		wantCreated(t, rec, "foo", d)
		e.blobIs("foo", d, blob)
		if len(e.reg.uploads) != 0 {
			t.Fatal("upload left behind")
		}
	})
	t.Run("monolithic POST empty blob", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		ed := alg.FromBytes(nil)
		wantCreated(t, e.do("POST", "/v2/foo/blobs/uploads/?digest="+ed.String(), hdr{"Content-Length": "0"}, nil), "foo", ed)
		e.blobIs("foo", ed, nil)
	})
	t.Run("monolithic POST wrong digest", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		rec := e.do("POST", "/v2/foo/blobs/uploads/?digest="+alg.FromString("other").String(), hdr{"Content-Length": cl(len(blob))}, blob)
		wantError(t, rec, 400, "DIGEST_INVALID")
		if len(e.reg.uploads) != 0 {
			t.Fatal("failed upload not cancelled")
		}
	})
	t.Run("monolithic POST short body", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		rec := e.do("POST", "/v2/foo/blobs/uploads/?digest="+d.String(), hdr{"Content-Length": cl(len(blob) + 10)}, blob)
		wantError(t, rec, 400, "SIZE_INVALID")
		if len(e.reg.uploads) != 0 {
			t.Fatal("failed upload not cancelled")
		}
	})
	t.Run("monolithic POST long body", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		rec := e.do("POST", "/v2/foo/blobs/uploads/?digest="+d.String(), hdr{"Content-Length": cl(len(blob) - 10)}, blob)
		wantError(t, rec, 400, "SIZE_INVALID")
	})
	t.Run("POST+PUT", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{ChunkMinLength: 64})
		rec := e.do("POST", "/v2/foo/blobs/uploads/", nil, nil)
		loc := wantSession(t, rec, 202, "foo", "0-0")
		wantHeader(t, rec, "OCI-Chunk-Min-Length", "64")
		wantCreated(t, e.do("PUT", loc+"?digest="+d.String(), hdr{"Content-Length": cl(len(blob))}, blob), "foo", d)
		e.blobIs("foo", d, blob)
		// The session is over.
		wantError(t, e.do("GET", loc, nil, nil), 404, "BLOB_UPLOAD_UNKNOWN")
	})
	t.Run("POST+PUT wrong digest", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		wantError(t, e.do("PUT", loc+"?digest="+alg.FromString("x").String(), nil, blob), 400, "DIGEST_INVALID")
	})
	t.Run("PUT without digest", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads", nil, nil), 202, "foo", "0-0")
		wantError(t, e.do("PUT", loc, nil, nil), 400, "DIGEST_INVALID")
	})
	t.Run("chunked in order", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		for start := 0; start < len(blob); start += 100 {
			chunk := blob[start : start+100]
			rec := e.do("PATCH", loc, hdr{"Content-Range": fmt.Sprintf("%d-%d", start, start+99), "Content-Length": "100"}, chunk)
			loc = wantSession(t, rec, 202, "foo", fmt.Sprintf("0-%d", start+99))
			st := e.do("GET", loc, nil, nil)
			wantSession(t, st, 204, "foo", fmt.Sprintf("0-%d", start+99))
		}
		wantCreated(t, e.do("PUT", loc+"?digest="+d.String(), hdr{"Content-Length": "0"}, nil), "foo", d)
		e.blobIs("foo", d, blob)
	})
	t.Run("chunked with last chunk in PUT", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		loc = wantSession(t, e.do("PATCH", loc, hdr{"Content-Range": "0-199"}, blob[:200]), 202, "foo", "0-199")
		wantCreated(t, e.do("PUT", loc+"?digest="+d.String(), hdr{"Content-Range": "200-299", "Content-Length": "100"}, blob[200:]), "foo", d)
		e.blobIs("foo", d, blob)
	})
	t.Run("chunked out of order", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		// Skipping ahead on an empty upload.
		rec := e.do("PATCH", loc, hdr{"Content-Range": "100-199", "Content-Length": "100"}, blob[100:200])
		wantError(t, rec, 416, "BLOB_UPLOAD_INVALID")
		wantHeader(t, rec, "Location", loc)
		wantSession(t, e.do("GET", loc, nil, nil), 204, "foo", "0-0")
		loc = wantSession(t, e.do("PATCH", loc, hdr{"Content-Range": "0-99", "Content-Length": "100"}, blob[:100]), 202, "foo", "0-99")
		// Going back to the start.
		rec = e.do("PATCH", loc, hdr{"Content-Range": "0-99", "Content-Length": "100"}, blob[:100])
		wantError(t, rec, 416, "BLOB_UPLOAD_INVALID")
		wantHeader(t, rec, "Range", "0-99")
		// Out of order in the closing PUT.
		wantError(t, e.do("PUT", loc+"?digest="+d.String(), hdr{"Content-Range": "250-299"}, blob[250:]), 416, "BLOB_UPLOAD_INVALID")
		loc = wantSession(t, e.do("PATCH", loc, hdr{"Content-Range": "100-299"}, blob[100:]), 202, "foo", "0-299")
		wantCreated(t, e.do("PUT", loc+"?digest="+d.String(), nil, nil), "foo", d)
		e.blobIs("foo", d, blob)
	})
	t.Run("chunked bad headers", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		for _, tc := range []struct {
			cr, cl string
			body   []byte
			status int
			code   string
		}{
			{"abc", "", blob[:10], 400, "BLOB_UPLOAD_INVALID"},
			{"9-0", "", blob[:10], 400, "BLOB_UPLOAD_INVALID"},
			{"-1-5", "", blob[:10], 400, "BLOB_UPLOAD_INVALID"},
			{"0-", "", blob[:10], 400, "BLOB_UPLOAD_INVALID"},
			{"0-9/x", "", blob[:10], 400, "BLOB_UPLOAD_INVALID"},
			{"0-99999999999999999999", "", blob[:10], 400, "BLOB_UPLOAD_INVALID"},
			{"0-9", "11", blob[:11], 400, "SIZE_INVALID"},
			{"0-9", "", blob[:5], 400, "SIZE_INVALID"},
			{"0-9", "", blob[:11], 400, "SIZE_INVALID"},
		} {
			h := hdr{"Content-Range": tc.cr}
			if tc.cl != "" {
				h["Content-Length"] = tc.cl
			}
			wantError(t, e.do("PATCH", loc, h, tc.body), tc.status, tc.code)
		}
		// Nothing was appended by the bad chunks.
		wantSession(t, e.do("GET", loc, nil, nil), 204, "foo", "0-0")
		for _, cr := range []string{"bytes 0-9", "bytes=0-9/300", "0-9/*"} {
			e2 := newTestEnv(t, HandlerOptions{})
			l := wantSession(t, e2.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
			wantSession(t, e2.do("PATCH", l, hdr{"Content-Range": cr}, blob[:10]), 202, "foo", "0-9")
		}
	})
	t.Run("streamed", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		loc = wantSession(t, e.do("PATCH", loc, nil, blob[:150]), 202, "foo", "0-149")
		loc = wantSession(t, e.do("PATCH", loc, hdr{"Content-Length": "150"}, blob[150:]), 202, "foo", "0-299")
		wantCreated(t, e.do("PUT", loc+"?digest="+d.String(), nil, nil), "foo", d)
		e.blobIs("foo", d, blob)
	})
	t.Run("mount", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		e.reg.addBlob("other/repo", blob, alg)
		rec := e.do("POST", "/v2/foo/blobs/uploads/?mount="+d.String()+"&from=other/repo", nil, nil)
		wantCreated(t, rec, "foo", d)
		e.blobIs("foo", d, blob)
	})
	t.Run("mount anonymous", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		e.reg.addBlob("other", blob, alg)
		wantCreated(t, e.do("POST", "/v2/foo/blobs/uploads/?mount="+d.String(), nil, nil), "foo", d)
		e.blobIs("foo", d, blob)
	})
	t.Run("mount missing falls back to upload", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		e.reg.addBlob("third", blob, alg)
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/?mount="+d.String()+"&from=other", nil, nil), 202, "foo", "0-0")
		wantCreated(t, e.do("PUT", loc+"?digest="+d.String(), nil, blob), "foo", d)
	})
	t.Run("cancel", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		loc = wantSession(t, e.do("PATCH", loc, nil, blob[:10]), 202, "foo", "0-9")
		wantStatus(t, e.do("DELETE", loc, nil, nil), 204)
		wantError(t, e.do("GET", loc, nil, nil), 404, "BLOB_UPLOAD_UNKNOWN")
		wantError(t, e.do("DELETE", loc, nil, nil), 404, "BLOB_UPLOAD_UNKNOWN")
	})
	t.Run("session of another repo", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		loc := wantSession(t, e.do("POST", "/v2/foo/blobs/uploads/", nil, nil), 202, "foo", "0-0")
		wantError(t, e.do("GET", strings.Replace(loc, "/foo/", "/bar/", 1), nil, nil), 404, "BLOB_UPLOAD_UNKNOWN")
	})
	t.Run("delete blob", func(t *testing.T) {
		e := newTestEnv(t, HandlerOptions{})
		e.reg.addBlob("foo", blob, alg)
		wantStatus(t, e.do("DELETE", "/v2/foo/blobs/"+d.String(), nil, nil), 202)
		wantError(t, e.do("GET", "/v2/foo/blobs/"+d.String(), nil, nil), 404, "BLOB_UNKNOWN")
	})
}

func TestNSPassedAndKept(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	e.do("GET", "/v2/foo/manifests/latest?ns=docker.io", nil, nil)
	if e.reg.lastNS != "docker.io" {
		t.Fatalf("ns = %q", e.reg.lastNS)
	}
	rec := e.do("POST", "/v2/foo/blobs/uploads/?ns=registry.example:5000", nil, nil)
	wantStatus(t, rec, 202)
	if loc := rec.Header().Get("Location"); !strings.HasSuffix(loc, "?ns=registry.example%3A5000") {
		t.Fatalf("Location %q lost ns", loc)
	}
}

func TestBlobRanges(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	blob := make([]byte, 2000)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	d := e.reg.addBlob("foo", blob, digest.SHA256)
	empty := e.reg.addBlob("foo", nil, digest.SHA256)
	tests := []struct {
		rng      string
		status   int
		cr       string
		from, to int // body is blob[from:to] on 200/206
	}{
		{"bytes=500-1499", 206, "bytes 500-1499/2000", 500, 1500},
		{"bytes=500-", 206, "bytes 500-1999/2000", 500, 2000},
		{"bytes=-500", 206, "bytes 1500-1999/2000", 1500, 2000},
		{"bytes=1500-5000", 206, "bytes 1500-1999/2000", 1500, 2000},
		{"bytes=0-0", 206, "bytes 0-0/2000", 0, 1},
		{"bytes=-5000", 206, "bytes 0-1999/2000", 0, 2000},
		{"bytes=500-0", 416, "bytes */2000", 0, 0},
		{"bytes=5000-10000", 416, "bytes */2000", 0, 0},
		{"bytes=2000-", 416, "bytes */2000", 0, 0},
		{"bytes=abc", 416, "bytes */2000", 0, 0},
		{"bytes=--5", 416, "bytes */2000", 0, 0},
		{"bytes=-", 416, "bytes */2000", 0, 0},
		{"items=0-5", 416, "bytes */2000", 0, 0},
		{"bytes=0-1,5-9", 416, "bytes */2000", 0, 0},
		{"", 200, "", 0, 2000},
	}
	for _, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			h := hdr{}
			if tc.rng != "" {
				h["Range"] = tc.rng
			}
			rec := e.do("GET", "/v2/foo/blobs/"+d.String(), h, nil)
			if tc.status == 416 {
				wantError(t, rec, 416, "BLOB_UPLOAD_INVALID")
				wantHeader(t, rec, "Content-Range", tc.cr)
				return
			}
			wantStatus(t, rec, tc.status)
			wantHeader(t, rec, "Content-Range", tc.cr)
			if rec.Body.String() != string(blob[tc.from:tc.to]) {
				t.Fatalf("body is %d bytes, want [%d:%d]", rec.Body.Len(), tc.from, tc.to)
			}
			wantHeader(t, rec, "Content-Length", fmt.Sprint(tc.to-tc.from))
			wantHeader(t, rec, "Docker-Content-Digest", d.String())
		})
	}
	// As net/http does, a range on an empty blob is ignored.
	rec := e.do("GET", "/v2/foo/blobs/"+empty.String(), hdr{"Range": "bytes=0-10"}, nil)
	wantStatus(t, rec, 200)
	wantHeader(t, rec, "Content-Length", "0")
}

func TestBlobBytesServedAndObserve(t *testing.T) {
	var mu sync.Mutex
	var served int64
	type obs struct {
		route, method string
		status        int
	}
	var seen []obs
	e := newTestEnv(t, HandlerOptions{
		BytesServed: func(n int64) { mu.Lock(); served += n; mu.Unlock() },
		Observe: func(route, method string, status int, d time.Duration) {
			mu.Lock()
			seen = append(seen, obs{route, method, status})
			mu.Unlock()
		},
	})
	d := e.reg.addBlob("foo", []byte(strings.Repeat("x", 1000)), digest.SHA256)
	e.do("GET", "/v2/foo/blobs/"+d.String(), hdr{"Range": "bytes=0-99"}, nil)
	e.do("GET", "/v2/foo/blobs/"+d.String(), nil, nil)
	e.do("GET", "/v2/", nil, nil)
	e.do("GET", "/v2/foo/tags/list", nil, nil)
	e.do("POST", "/v2/foo/blobs/uploads/", nil, nil)
	e.do("GET", "/v2/_catalog", nil, nil)
	e.do("GET", "/v2/foo/referrers/"+d.String(), nil, nil)
	e.do("GET", "/v2/foo/manifests/x", nil, nil)
	e.do("GET", "/nope", nil, nil)
	e.do("GET", "/v2/%2e%2e/manifests/x", nil, nil)
	if served != 1100 {
		t.Fatalf("BytesServed total %d, want 1100", served)
	}
	want := []obs{
		{"blobs", "GET", 206}, {"blobs", "GET", 200}, {"base", "GET", 200}, {"tags", "GET", 200},
		{"uploads", "POST", 202}, {"catalog", "GET", 200}, {"referrers", "GET", 200},
		{"manifests", "GET", 404}, {"unknown", "GET", 404}, {"unknown", "GET", 400},
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("observed %v\nwant %v", seen, want)
	}
}

// A blob that fails while being served must break the response.
func TestBlobReadFailureAborts(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	body := []byte(strings.Repeat("y", 100000))
	d := e.reg.addBlob("foo", body, digest.SHA256)
	e.reg.broken[d] = true
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v2/foo/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("read %d bytes cleanly, want an error", len(got))
	}
	if len(got) >= len(body) {
		t.Fatal("got the whole blob")
	}
}

type panicRegistry struct{ *fakeRegistry }

func (panicRegistry) Tags(context.Context, Repo) ([]string, error) { panic("boom") }

func (panicRegistry) Catalog(context.Context) ([]string, error) {
	return nil, fmt.Errorf("disk on fire")
}

func TestInternalErrors(t *testing.T) {
	h := NewHandler(panicRegistry{newFakeRegistry()}, HandlerOptions{})
	for _, target := range []string{"/v2/foo/tags/list", "/v2/_catalog"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		wantError(t, rec, 500, "UNKNOWN")
		if strings.Contains(rec.Body.String(), "fire") {
			t.Fatal("internal error text leaked")
		}
	}
}

func TestOverHTTP(t *testing.T) {
	// Paths as a real client sends them, through a real server.
	e := newTestEnv(t, HandlerOptions{})
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	for _, p := range []string{"/v2/%2e%2e/foo/tags/list", "/v2/foo%2F..%2Fbar/tags/list", "/v2/foo/..%2f/tags/list"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%s: status %d", p, resp.StatusCode)
		}
		if code, err := ociErrorCode(resp.Header, b); err != nil || code != "NAME_INVALID" {
			t.Fatalf("%s: %v %s", p, err, b)
		}
	}
}

func TestTagsAndCatalogPagination(t *testing.T) {
	e := newTestEnv(t, HandlerOptions{})
	m := e.pushImage("foo", "a")
	for _, tag := range []string{"c", "a", "b", "d", "e"} {
		wantStatus(t, e.do("PUT", "/v2/foo/manifests/"+tag, hdr{"Content-Type": ocispec.MediaTypeImageManifest}, m), 201)
	}
	for _, r := range []string{"bar", "zed", "abc/def"} {
		e.pushImage(r, r)
	}
	type tagList struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	type catalog struct {
		Repositories []string `json:"repositories"`
	}
	tests := []struct {
		target string
		want   string
		link   string
	}{
		{"/v2/foo/tags/list", "a b c d e", ""},
		{"/v2/foo/tags/list?n=2", "a b", `</v2/foo/tags/list?last=b&n=2>; rel="next"`},
		{"/v2/foo/tags/list?n=2&last=b", "c d", `</v2/foo/tags/list?last=d&n=2>; rel="next"`},
		{"/v2/foo/tags/list?n=2&last=d", "e", ""},
		{"/v2/foo/tags/list?n=5", "a b c d e", ""},
		{"/v2/foo/tags/list?n=0", "", ""},
		{"/v2/foo/tags/list?last=bb", "c d e", ""},
		{"/v2/foo/tags/list?last=e", "", ""},
		{"/v2/foo/tags/list?n=1&last=a&ns=docker.io", "b", `</v2/foo/tags/list?last=b&n=1&ns=docker.io>; rel="next"`},
		{"/v2/_catalog", "abc/def bar foo zed", ""},
		{"/v2/_catalog?n=2", "abc/def bar", `</v2/_catalog?last=bar&n=2>; rel="next"`},
		{"/v2/_catalog?n=2&last=bar", "foo zed", ""},
		{"/v2/_catalog?n=0", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.target, func(t *testing.T) {
			rec := e.do("GET", tc.target, nil, nil)
			wantStatus(t, rec, 200)
			wantHeader(t, rec, "Content-Type", "application/json")
			wantHeader(t, rec, "Link", tc.link)
			var got []string
			if strings.HasPrefix(tc.target, "/v2/_catalog") {
				var c catalog
				if err := json.Unmarshal(rec.Body.Bytes(), &c); err != nil || c.Repositories == nil {
					t.Fatalf("body %s: %v", rec.Body, err)
				}
				got = c.Repositories
			} else {
				var tl tagList
				if err := json.Unmarshal(rec.Body.Bytes(), &tl); err != nil || tl.Tags == nil || tl.Name != "foo" {
					t.Fatalf("body %s: %v", rec.Body, err)
				}
				got = tl.Tags
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// ManifestServed hears of each manifest GET answered 200, with the
// reference asked for and the digest it resolved to; not of a HEAD, nor
// of a manifest that was not found.
func TestManifestServed(t *testing.T) {
	type pulled struct{ repo, ref, digest string }
	var mu sync.Mutex
	var seen []pulled
	e := newTestEnv(t, HandlerOptions{ManifestServed: func(_ *http.Request, repo Repo, ref, d string) {
		mu.Lock()
		seen = append(seen, pulled{repo.Name, ref, d})
		mu.Unlock()
	}})
	body := e.pushImage("foo", "a")
	e.do("PUT", "/v2/foo/manifests/latest", hdr{"Content-Type": ocispec.MediaTypeImageManifest}, body)
	d := digest.FromBytes(body).String()
	e.do("HEAD", "/v2/foo/manifests/latest", nil, nil)
	e.do("GET", "/v2/foo/manifests/latest", nil, nil)
	e.do("GET", "/v2/foo/manifests/"+d, nil, nil)
	e.do("GET", "/v2/foo/manifests/missing", nil, nil)
	want := []pulled{{"foo", "latest", d}, {"foo", d, d}}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("served %v, want %v", seen, want)
	}
}
