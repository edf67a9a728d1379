package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The key pair's reloading and the client certificates are access's
// (access/tls_test.go); these check that a node serves with them.

// testPair returns a self-signed certificate for 127.0.0.1 named cn, and
// its key, both PEM.
func testPair(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// replaceFile swaps in new content by rename, as cert tooling does.
func replaceFile(t *testing.T, p string, b []byte) {
	t.Helper()
	tmp := p + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

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
	certA, keyA := testPair(t, "cert-a")
	certB, keyB := testPair(t, "cert-b")
	replaceFile(t, certFile, certA)
	replaceFile(t, keyFile, keyA)

	n, err := New(Config{
		DataDir:   filepath.Join(dir, "data"),
		Upstreams: rules(t, "docker.io=http://127.0.0.1:1"),
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
	replaceFile(t, certFile, certB)
	replaceFile(t, keyFile, keyB)
	eventually(t, "cert-b to be served", 20*time.Second, func() bool { return servedName(t, addr) == "cert-b" })
}

func TestTLSLoadFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, _ := testPair(t, "cert-a")
	_, keyB := testPair(t, "cert-b")
	replaceFile(t, certFile, certA)
	replaceFile(t, keyFile, keyB)
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
