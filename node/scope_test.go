package node

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushBlob uploads b into repo with a monolithic upload.
func pushBlob(t *testing.T, base, repo string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	req, _ := http.NewRequest(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("pushing a blob into %s: %s", repo, resp.Status)
	}
	return d
}

func putManifest(t *testing.T, base, repo, ref string, m ocispec.Manifest) int {
	t.Helper()
	body, _ := json.Marshal(m)
	return putManifestBody(t, base, repo, ref, ocispec.MediaTypeImageManifest, body)
}

// putManifestBody puts a manifest of any media type as these bytes.
func putManifestBody(t *testing.T, base, repo, ref, mediaType string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, base+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getStatus(t *testing.T, method, url string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A manifest pushed into a repository links only the blobs that
// repository already holds: listing another repository's blob as a
// non-distributable layer (which the push does not check for) used to
// link it in and make it readable (issue 10, finding 3).
func TestPushedManifestTakesNoOtherRepositorysBlobs(t *testing.T) {
	n, err := New(Config{DataDir: filepath.Join(t.TempDir(), "data")}, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })

	secret := pushBlob(t, srv.URL, "private/app", []byte("a private layer"))
	cfg := pushBlob(t, srv.URL, "team/app", []byte("{}"))
	for _, mt := range []string{
		ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // the exemption under test
		ocispec.MediaTypeImageLayerGzip,
	} {
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfg, Size: 2},
			Layers:    []ocispec.Descriptor{{MediaType: mt, Digest: secret, Size: int64(len("a private layer"))}},
		}
		status := putManifest(t, srv.URL, "team/app", "v1", m)
		if mt == ocispec.MediaTypeImageLayerGzip && status != http.StatusBadRequest {
			t.Fatalf("a manifest listing another repository's blob as a layer: %d, want 400 MANIFEST_BLOB_UNKNOWN", status)
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if got := getStatus(t, method, srv.URL+"/v2/team/app/blobs/"+secret.String()); got != http.StatusNotFound {
				t.Fatalf("%s of private/app's blob through team/app after pushing a manifest listing it (%s): %d, want 404", method, mt, got)
			}
		}
	}
	if got := getStatus(t, http.MethodGet, srv.URL+"/v2/private/app/blobs/"+secret.String()); got != http.StatusOK {
		t.Fatalf("the blob through its own repository: %d", got)
	}
}
