package node

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
)

// The bytes of open upload sessions show in /shoal/v1/status and /metrics
// as part of the store's size, and past --cache-max-bytes a push is
// refused with DENIED (issue 10).
func TestUploadBytesInStatusAndMetrics(t *testing.T) {
	const limit = 1000
	n, err := New(Config{DataDir: filepath.Join(t.TempDir(), "data"), CacheMaxBytes: limit}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	do := func(method, path string, body []byte) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, "http://node.test"+path, bytes.NewReader(body))
		r.RemoteAddr = "192.0.2.10:40000"
		w := httptest.NewRecorder()
		n.Handler().ServeHTTP(w, r)
		return w
	}
	w := do(http.MethodPost, "/v2/team/app/blobs/uploads/", nil)
	if w.Code != http.StatusAccepted {
		t.Fatalf("start upload: %d %s", w.Code, w.Body)
	}
	loc := strings.TrimPrefix(w.Header().Get("Location"), "http://node.test")
	first := bytes.Repeat([]byte("a"), 600)

	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		wantStatus int
		wantCode   string // the OCI error code, if any
		// what status and metrics say afterwards
		wantBytes, wantUploadBytes int64
		wantUploads                int
	}{
		{name: "a chunk counts", method: http.MethodPatch, path: loc, body: first,
			wantStatus: http.StatusAccepted, wantBytes: 600, wantUploadBytes: 600, wantUploads: 1},
		{name: "a chunk past the limit is refused", method: http.MethodPatch, path: loc, body: bytes.Repeat([]byte("b"), 600),
			wantStatus: http.StatusForbidden, wantCode: "DENIED", wantBytes: 600, wantUploadBytes: 600, wantUploads: 1},
		{name: "a commit counts the blob once", method: http.MethodPut, path: loc + "?digest=" + digest.FromBytes(first).String(),
			wantStatus: http.StatusCreated, wantBytes: 600, wantUploadBytes: 0, wantUploads: 0},
	}
	for _, tt := range tests {
		w := do(tt.method, tt.path, tt.body)
		if w.Code != tt.wantStatus || errCode(w) != tt.wantCode {
			t.Fatalf("%s: %d %s, want %d %s", tt.name, w.Code, w.Body, tt.wantStatus, tt.wantCode)
		}
		if tt.wantCode == "DENIED" && !strings.Contains(w.Body.String(), "store full") {
			t.Errorf("%s: the refusal does not say the store is full: %s", tt.name, w.Body)
		}
		var st adminapi.Status
		if err := json.Unmarshal(do(http.MethodGet, "/shoal/v1/status", nil).Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		want := adminapi.CacheStatus{Bytes: tt.wantBytes, Blobs: st.Cache.Blobs, MaxBytes: limit, UploadBytes: tt.wantUploadBytes, Uploads: tt.wantUploads,
			State: adminapi.CacheOK, Filesystem: st.Cache.Filesystem}
		if st.Cache != want {
			t.Errorf("%s: status cache %+v, want %+v", tt.name, st.Cache, want)
		}
		for series, v := range map[string]float64{
			"shoal_cache_bytes":        float64(tt.wantBytes),
			"shoal_cache_limit_bytes":  float64(limit),
			"shoal_cache_upload_bytes": float64(tt.wantUploadBytes),
			"shoal_cache_uploads":      float64(tt.wantUploads),
		} {
			if got := metricValue(t, n, series); got != v {
				t.Errorf("%s: %s = %v, want %v", tt.name, series, got, v)
			}
		}
	}
}
