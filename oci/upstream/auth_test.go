package upstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// tokenRegistry is a registry that wants a bearer token from its own /token
// endpoint (go-containerregistry refuses a loopback realm on another host),
// which checks Basic credentials and counts the tokens it hands out.
type tokenRegistry struct {
	srv            *httptest.Server
	user, pass     string
	tokenRequests  atomic.Int64
	generation     atomic.Int64 // bumped to expire every token issued so far
	manifest       []byte
	mu             sync.Mutex
	blobAuthHeader []string // Authorization seen by the registry's blob endpoint
	redirectTo     string   // blob GETs redirect here when set
}

func newTokenRegistry(t *testing.T, user, pass string) *tokenRegistry {
	t.Helper()
	tr := &tokenRegistry{user: user, pass: pass, manifest: []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)}
	tr.srv = httptest.NewServer(http.HandlerFunc(tr.serve))
	t.Cleanup(tr.srv.Close)
	return tr
}

func (tr *tokenRegistry) token() string { return fmt.Sprintf("tok-%d", tr.generation.Load()) }

func (tr *tokenRegistry) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		u, p, ok := r.BasicAuth()
		if !ok || u != tr.user || p != tr.pass {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`)
			return
		}
		if r.URL.Query().Get("scope") != "repository:library/app:pull" || r.URL.Query().Get("service") != "test" {
			http.Error(w, "bad scope "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		tr.tokenRequests.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"token": tr.token(), "expires_in": 300})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+tr.token() {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="test",scope="repository:library/app:pull"`, tr.srv.URL+"/token"))
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	switch {
	case r.URL.Path == "/v2/":
	case r.URL.Path == "/v2/library/app/manifests/v1":
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", digest.FromBytes(tr.manifest).String())
		w.Write(tr.manifest)
	case r.URL.Path == "/v2/library/app/blobs/"+digest.FromString("blob").String():
		tr.mu.Lock()
		tr.blobAuthHeader = append(tr.blobAuthHeader, r.Header.Get("Authorization"))
		tr.mu.Unlock()
		if tr.redirectTo != "" {
			http.Redirect(w, r, tr.redirectTo, http.StatusTemporaryRedirect)
			return
		}
		io.WriteString(w, "blob")
	default:
		http.NotFound(w, r)
	}
}

// writeDockerConfig writes a docker config.json with creds for host.
func writeDockerConfig(t *testing.T, host string, entry map[string]string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: entry}})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBearerTokenFetchedOnce(t *testing.T) {
	tr := newTokenRegistry(t, "alice", "s3cret")
	host := tr.srv.Listener.Addr().String()
	kc, err := KeychainFromFile(writeDockerConfig(t, host, map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte("alice:s3cret")),
	}))
	if err != nil {
		t.Fatal(err)
	}
	rule := ruleFor(t, "auth", tr.srv)
	rule.Auth = kc
	c := newTestClient(t, Options{Rules: []Rule{rule}})
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 20 {
		wg.Go(func() {
			_, body, _, err := c.Manifest(ctx, repository.Name{Rule: "auth", Path: "library/app"}, "v1")
			if err == nil && string(body) != string(tr.manifest) {
				err = errors.New("wrong body")
			}
			errs <- err
		})
		wg.Go(func() {
			_, err := c.Resolve(ctx, repository.Name{Rule: "auth", Path: "library/app"}, "v1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.tokenRequests.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1 for 40 requests", n)
	}

	// An expired token draws a 401 challenge; ggcr's bearer transport
	// refreshes it once and the request still succeeds.
	tr.generation.Add(1)
	for range 5 {
		if _, _, _, err := c.Manifest(ctx, repository.Name{Rule: "auth", Path: "library/app"}, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.tokenRequests.Load(); n != 2 {
		t.Errorf("token requests after expiry = %d, want 2", n)
	}
}

func TestBearerTokenRefused(t *testing.T) {
	tr := newTokenRegistry(t, "alice", "s3cret")
	host := tr.srv.Listener.Addr().String()
	wrong, err := KeychainFromFile(writeDockerConfig(t, host, map[string]string{"username": "alice", "password": "nope"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kc   authn.Keychain
	}{
		{"wrong password", wrong},
		{"anonymous", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := ruleFor(t, "auth", tr.srv)
			rule.Auth = tt.kc
			c := newTestClient(t, Options{Rules: []Rule{rule}})
			_, _, _, err := c.Manifest(context.Background(), repository.Name{Rule: "auth", Path: "library/app"}, "v1")
			var se *StatusError
			if !errors.As(err, &se) || se.Status != http.StatusUnauthorized || se.Code != "UNAUTHORIZED" {
				t.Fatalf("err = %v, want a 401 StatusError", err)
			}
			if IsUnavailable(err) {
				t.Error("a refused login counted as unavailable")
			}
		})
	}
}

func TestBlobRedirectDropsAuthorization(t *testing.T) {
	var storageAuth []string
	var mu sync.Mutex
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storageAuth = append(storageAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, "blob")
	}))
	defer storage.Close()

	tr := newTokenRegistry(t, "alice", "s3cret")
	tr.redirectTo = storage.URL + "/bucket/object?sig=x"
	host := tr.srv.Listener.Addr().String()
	kc, err := KeychainFromFile(writeDockerConfig(t, host, map[string]string{"username": "alice", "password": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	rule := ruleFor(t, "auth", tr.srv)
	rule.Auth = kc
	c := newTestClient(t, Options{Rules: []Rule{rule}})

	rc, _, err := c.Blob(context.Background(), repository.Name{Rule: "auth", Path: "library/app"}, digest.FromString("blob"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "blob" {
		t.Errorf("body = %q", b)
	}
	if len(tr.blobAuthHeader) == 0 || tr.blobAuthHeader[len(tr.blobAuthHeader)-1] != "Bearer "+tr.token() {
		t.Errorf("registry saw Authorization %q, want the bearer token", tr.blobAuthHeader)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(storageAuth) != 1 || storageAuth[0] != "" {
		t.Errorf("storage host saw Authorization %q, want none", storageAuth)
	}
}
