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
	"os"
	"path/filepath"
	"testing"
	"time"
)

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

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := testPair(t, "cert-a")
	certB, keyB := testPair(t, "cert-b")
	replaceFile(t, certFile, certA)
	replaceFile(t, keyFile, keyA)

	n, err := New(Config{
		DataDir:   filepath.Join(dir, "data"),
		Upstreams: []string{"docker.io=http://127.0.0.1:1"},
		TLSCert:   certFile,
		TLSKey:    keyFile,
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	n.certs.interval = 10 * time.Millisecond
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
	replaceFile(t, certFile, certB)
	replaceFile(t, keyFile, keyB)
	eventually(t, "cert-b to be served", func() bool { return servedName(t, addr) == "cert-b" })

	// Broken replacements: each is tried once, fails, and cert-b stays.
	for _, tt := range []struct {
		name      string
		cert, key []byte
	}{
		{"garbage certificate", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), keyB},
		{"key of another certificate", certA, keyB},
		{"empty key", certB, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := n.certs.failures.Load()
			replaceFile(t, certFile, tt.cert)
			replaceFile(t, keyFile, tt.key)
			eventually(t, "the reload to fail", func() bool { return n.certs.failures.Load() > before })
			if got := servedName(t, addr); got != "cert-b" {
				t.Fatalf("after a bad reload serving %q, want cert-b", got)
			}
		})
	}

	// A good pair again is picked up.
	replaceFile(t, certFile, certA)
	replaceFile(t, keyFile, keyA)
	eventually(t, "cert-a to be served again", func() bool { return servedName(t, addr) == "cert-a" })
}

func TestTLSLoadFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, _ := testPair(t, "cert-a")
	_, keyB := testPair(t, "cert-b")
	replaceFile(t, certFile, certA)
	replaceFile(t, keyFile, keyB)
	_, err := New(Config{DataDir: filepath.Join(dir, "data"), TLSCert: certFile, TLSKey: keyFile}, "test")
	if err == nil {
		t.Fatal("New accepted a certificate with another certificate's key")
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Fatalf("the data dir was touched before the key pair was checked: %v", err)
	}
}
