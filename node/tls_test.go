package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testcert"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// The key pair's reloading and the client certificates are access's
// (access/tls_test.go); these check that a node serves with them.

// servedName dials addr and returns the common name of the certificate
// the server presents.
func servedName(t *testing.T, addr string) string {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test reads the certificate
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
}

// eventually polls cond until timeout.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestTLSServe: Serve answers HTTPS with the configured key pair, and
// follows it when the files change (the reloader polls every 5s).
func TestTLSServe(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := testcert.Pair(t, "cert-a")
	certB, keyB := testcert.Pair(t, "cert-b")
	testcert.ReplaceFile(t, certFile, certA)
	testcert.ReplaceFile(t, keyFile, keyA)

	n, err := New(Config{
		DataDir:   filepath.Join(dir, "data"),
		Upstreams: upstreamtest.Rules(t, "docker.io=http://127.0.0.1:1"),
		TLSCert:   certFile,
		TLSKey:    keyFile,
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if n.URLScheme() != "https" {
		t.Errorf("URLScheme %q with TLS", n.URLScheme())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- n.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	addr := l.Addr().String()

	if got := servedName(t, addr); got != "cert-a" {
		t.Fatalf("serving %q, want cert-a", got)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certA)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over HTTPS: %v", err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET /healthz over HTTPS: %d, TLS %+v", resp.StatusCode, resp.TLS)
	}

	if testing.Short() {
		return
	}
	testcert.ReplaceFile(t, certFile, certB)
	testcert.ReplaceFile(t, keyFile, keyB)
	eventually(t, "cert-b to be served", 20*time.Second, func() bool { return servedName(t, addr) == "cert-b" })
}

func TestTLSLoadFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, _ := testcert.Pair(t, "cert-a")
	_, keyB := testcert.Pair(t, "cert-b")
	testcert.ReplaceFile(t, certFile, certA)
	testcert.ReplaceFile(t, keyFile, keyB)
	for _, tt := range []struct {
		name      string
		cert, key string
	}{
		{"key of another certificate", certFile, keyFile},
		{"certificate without a key", certFile, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			n, err := New(Config{DataDir: data, TLSCert: tt.cert, TLSKey: tt.key}, "test")
			if err == nil {
				n.Close()
				t.Fatal("New accepted the key pair")
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Fatalf("the data dir was touched before the key pair was checked: %v", err)
			}
		})
	}
}
