package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/node"
)

// testClient is an admin API client of the node at base.
func testClient(t *testing.T, base *url.URL) *adminapi.Client {
	t.Helper()
	c, err := adminapi.New(base.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// runShoal runs the CLI with args and returns its output and error.
func runShoal(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(""))
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// TestNodeFlag checks that every command talking to a node refuses a bad
// --node the same way, saying what is wrong with it.
func TestNodeFlag(t *testing.T) {
	dir := t.TempDir()
	signed := filepath.Join(dir, "p.signed")
	os.WriteFile(signed, []byte("{}"), 0o644)
	for _, tt := range []struct{ node, reason string }{
		{"127.0.0.1:5000", "it has no scheme: start it with http:// or https://"},
		{"http://host/v2", "it has the path /v2; give only the scheme and host"},
		{"ftp://host", "the scheme is ftp, not http or https"},
	} {
		for _, args := range [][]string{
			{"import", "x.tar"},
			{"preload", "a:1"},
			{"scan", "a:1"},
			{"scan", "db", "import", dir},
			{"policy", "apply", signed},
			{"export", "--out", "-", "a:1"},
			{"status"},
		} {
			_, _, err := runShoal(t, append(args, "--node", tt.node)...)
			want := `--node "` + tt.node + `": want the node's base URL, e.g. http://127.0.0.1:5000 (` + tt.reason
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("%s --node %s: %v\nwant %s…)", strings.Join(args, " "), tt.node, err, want)
			}
		}
	}
}

// TestNodeCallErrors checks how the commands word a node that cannot be
// reached and a server that has no such endpoint.
func TestNodeCallErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	dir := t.TempDir()
	archive := filepath.Join(dir, "a.tar")
	os.WriteFile(archive, []byte("not really a tar"), 0o644)
	secdb := filepath.Join("..", "..", "node", "testdata", "vulndata", "alpine-secdb")

	for _, tt := range []struct {
		name string
		args []string
		node string
		want string
	}{
		{"import, no endpoint", []string{"import", archive}, srv.URL,
			"import: the node answered 404 Not Found to POST /shoal/v1/import: is it a shoal node that has this endpoint?"},
		{"import, unreachable", []string{"import", archive}, goneURL,
			"sending " + archive + " to " + goneURL + ": Post "},
		{"preload, no endpoint", []string{"preload", "a:1"}, srv.URL,
			"preload: the node answered 404 Not Found to POST /shoal/v1/preload: is it a shoal node that has this endpoint?"},
		{"preload, unreachable", []string{"preload", "a:1"}, goneURL,
			"preload: Post "},
		{"scan, no endpoint", []string{"scan", "a:1"}, srv.URL,
			"scan: the node answered 404 Not Found to POST /shoal/v1/scans: is it a shoal node that has this endpoint?"},
		{"scan, unreachable", []string{"scan", "a:1"}, goneURL,
			"asking " + goneURL + " to scan a:1: Post "},
		{"status, no endpoint", []string{"status"}, srv.URL,
			"status: the node answered 404 Not Found to GET /shoal/v1/status: is it a shoal node that has this endpoint?"},
		{"status, unreachable", []string{"status"}, goneURL,
			"reading " + goneURL + "/shoal/v1/status: Get "},
		{"scan db import, no endpoint", []string{"scan", "db", "import", secdb}, srv.URL,
			"scan db import: the node answered 404 Not Found to PUT /shoal/v1/scan/db: is it a shoal node that has this endpoint?"},
		{"scan db import, unreachable", []string{"scan", "db", "import", secdb}, goneURL,
			"sending the database to " + goneURL + ": Put "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runShoal(t, append(tt.args, "--node", tt.node)...)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %s…", err, tt.want)
			}
		})
	}
}

// TestPreload runs preload against a node that fetches one ref and fails
// another.
func TestPreload(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/shoal/v1/preload" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request shape", http.StatusTeapot)
			return
		}
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"blob":"sha256:0123456789abcdef","bytes":10,"total":20}
{"ref":"docker.io/library/alpine:3.20","digest":"sha256:aaa"}
{"warning":"a layer is not distributable"}
{"ref":"docker.io/library/nope:1","error":"manifest unknown"}
{"preloaded":[{"ref":"docker.io/library/alpine:3.20","repo":"docker.io/library/alpine","digest":"sha256:aaa"}],"error":"1 of 2 refs failed"}
`)
	}))
	t.Cleanup(srv.Close)
	stdout, stderr, err := runShoal(t, "preload", "--node", srv.URL, "docker.io/library/alpine:3.20", "docker.io/library/nope:1")
	if err == nil || err.Error() != "preload: 1 of 2 refs failed" {
		t.Fatalf("err = %v, want the node's summary", err)
	}
	if string(body) != `{"refs":["docker.io/library/alpine:3.20","docker.io/library/nope:1"]}` {
		t.Errorf("the node received %s", body)
	}
	if stdout != "docker.io/library/alpine:3.20 sha256:aaa\n" {
		t.Errorf("stdout %q", stdout)
	}
	for _, want := range []string{
		"preload: sha256:0123456789ab… 10 B/20 B\n",
		"warning: a layer is not distributable\n",
		"preload: docker.io/library/nope:1: manifest unknown\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "image(s) in") {
		t.Errorf("a failed preload printed a summary:\n%s", stderr)
	}
}

// TestPreloadFromNode preloads through a real node: a ref its upstream
// has, and one it has not.
func TestPreloadFromNode(t *testing.T) {
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL)
	img, _ := random.Image(4096, 2)
	if err := remote.Write(testRef(t, upURL, "library/alpine:3.20"), img); err != nil {
		t.Fatal(err)
	}
	site := testNode(t, node.Config{Upstreams: rules(t, "docker.io="+up.URL), TagTTL: time.Minute})
	var stdout, stderr bytes.Buffer
	err := runPreload(context.Background(), testClient(t, site), []string{"docker.io/library/alpine:3.20", "docker.io/library/nope:1"}, &stdout, &stderr)
	if err == nil || !strings.HasPrefix(err.Error(), "preload: ") {
		t.Fatalf("err = %v, want the node's summary of the failed ref", err)
	}
	if want := "docker.io/library/alpine:3.20 " + hashOf(t, img) + "\n"; stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "preload: docker.io/library/nope:1: ") {
		t.Errorf("stderr does not name the failed ref:\n%s", stderr.String())
	}
	got, err := remote.Image(testRef(t, site, "docker.io/library/alpine:3.20"))
	if err != nil || hashOf(t, got) != hashOf(t, img) {
		t.Fatalf("the node does not serve the preloaded image: %v", err)
	}
}
