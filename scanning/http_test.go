package scanning

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/repository"
)

// TestHTTP follows the scanning endpoints from a node without a
// database to a scan, and the errors each answers.
func TestHTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /shoal/v1/scan/db", e.s.HandlePutDB)
	mux.HandleFunc("GET /shoal/v1/scan/db", e.s.HandleGetDB)
	mux.HandleFunc("GET /shoal/v1/scans/{digest}", e.s.HandleGetScan)
	mux.HandleFunc("POST /shoal/v1/scans", e.s.HandlePostScan)
	img := e.putImage(t, repository.Local("team/app"), "v1", "busybox 1.0")
	dbBody := encodeFakeDB(t, time.Now().Add(-time.Hour), busyboxVuln)

	for _, step := range []struct {
		name, method, path string
		body               []byte
		wantStatus         int
		want               string // in the body
		check              func(t *testing.T, body []byte)
	}{
		{name: "no database yet", method: "GET", path: "/shoal/v1/scan/db", wantStatus: 404, want: "no vulnerability database is loaded"},
		{name: "a scan without a database", method: "POST", path: "/shoal/v1/scans?ref=team/app:v1", wantStatus: 409, want: "import one"},
		{name: "a ref that is no name", method: "POST", path: "/shoal/v1/scans?ref=Team/App:v1", wantStatus: 400, want: "NAME_INVALID"},
		{name: "a registry without a rule", method: "POST", path: "/shoal/v1/scans?ref=quay.io/team/app:v1", wantStatus: 400, want: "no upstream rule"},
		{name: "an empty database", method: "PUT", path: "/shoal/v1/scan/db", wantStatus: 400, want: "the body is empty"},
		{name: "no database", method: "PUT", path: "/shoal/v1/scan/db", body: []byte("junk"), wantStatus: 400, want: "not an encoded vulnerability database"},
		{name: "a database", method: "PUT", path: "/shoal/v1/scan/db", body: dbBody, wantStatus: 200, check: func(t *testing.T, b []byte) {
			var st adminapi.DBStatus
			if err := json.Unmarshal(b, &st); err != nil || st.Digest != digest.FromBytes(dbBody).String() || st.Records != 1 ||
				st.Signer != e.s.ID().String() || st.Size != int64(len(dbBody)) {
				t.Errorf("status = %s", b)
			}
		}},
		{name: "the database in use", method: "GET", path: "/shoal/v1/scan/db", wantStatus: 200, want: digest.FromBytes(dbBody).String()},
		{name: "a tag that is not there", method: "POST", path: "/shoal/v1/scans?ref=team/app:v2", wantStatus: 404, want: "MANIFEST_UNKNOWN"},
		{name: "a scan", method: "POST", path: "/shoal/v1/scans?ref=team/app:v1", wantStatus: 200, check: func(t *testing.T, b []byte) {
			var res adminapi.ScanResult
			if err := json.Unmarshal(b, &res); err != nil || res.Ref != "team/app:v1" || res.Digest != img.Digest.String() || len(res.Reports) != 1 {
				t.Fatalf("result = %s", b)
			}
			r := res.Reports[0]
			if r.Image != img.Digest || !r.Trusted || r.Envelope == "" || !strings.HasPrefix(r.DBAge, "1h0m") || len(r.Findings) != 1 {
				t.Errorf("report = %s", b)
			}
		}},
		{name: "the report", method: "GET", path: "/shoal/v1/scans/" + img.Digest.String(), wantStatus: 200, check: func(t *testing.T, b []byte) {
			var r adminapi.ReportView
			if err := json.Unmarshal(b, &r); err != nil || r.Report == nil || r.Image != img.Digest || !r.Trusted {
				t.Errorf("report = %s", b)
			}
		}},
		{name: "not a digest", method: "GET", path: "/shoal/v1/scans/latest", wantStatus: 400, want: "DIGEST_INVALID"},
		{name: "no report", method: "GET", path: "/shoal/v1/scans/" + digest.FromString("other").String(), wantStatus: 404, want: "no report on"},
	} {
		t.Run(step.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(step.method, step.path, bytes.NewReader(step.body)))
			b, _ := io.ReadAll(rec.Body)
			if rec.Code != step.wantStatus || !strings.Contains(string(b), step.want) {
				t.Fatalf("%s %s: %d %s; want %d with %q", step.method, step.path, rec.Code, b, step.wantStatus, step.want)
			}
			if step.check != nil {
				step.check(t, b)
			}
		})
	}
}
