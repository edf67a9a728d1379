package access

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/testcert"
)

// serveTLS completes TLS handshakes on a loopback listener with cfg
// until the test ends, and returns its address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(l, cfg)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			})
		}
	})
	t.Cleanup(func() {
		tl.Close()
		wg.Wait()
	})
	return l.Addr().String()
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
	certA, keyA := testcert.Pair(t, "cert-a")
	certB, keyB := testcert.Pair(t, "cert-b")
	testcert.ReplaceFile(t, certFile, certA)
	testcert.ReplaceFile(t, keyFile, keyA)

	c := open(t, Config{TLSCert: certFile, TLSKey: keyFile})
	if !c.TLS() {
		t.Fatal("TLS() is false with a key pair configured")
	}
	c.certs.interval = 10 * time.Millisecond
	stop := c.WatchCerts()
	t.Cleanup(stop)
	cfg := c.ServerTLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	addr := serveTLS(t, cfg)

	if got := servedName(t, addr); got != "cert-a" {
		t.Fatalf("serving %q, want cert-a", got)
	}
	testcert.ReplaceFile(t, certFile, certB)
	testcert.ReplaceFile(t, keyFile, keyB)
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
			before := c.certs.failures.Load()
			testcert.ReplaceFile(t, certFile, tt.cert)
			testcert.ReplaceFile(t, keyFile, tt.key)
			eventually(t, "the reload to fail", func() bool { return c.certs.failures.Load() > before })
			if got := servedName(t, addr); got != "cert-b" {
				t.Fatalf("after a bad reload serving %q, want cert-b", got)
			}
		})
	}

	// A good pair again is picked up.
	testcert.ReplaceFile(t, certFile, certA)
	testcert.ReplaceFile(t, keyFile, keyA)
	eventually(t, "cert-a to be served again", func() bool { return servedName(t, addr) == "cert-a" })

	// Once stopped, changes are no longer picked up; stopping twice is fine.
	stop()
	stop()
	reloads := c.certs.reloads.Load()
	testcert.ReplaceFile(t, certFile, certB)
	testcert.ReplaceFile(t, keyFile, keyB)
	time.Sleep(5 * c.certs.interval)
	if got := servedName(t, addr); got != "cert-a" || c.certs.reloads.Load() != reloads {
		t.Errorf("after stop: serving %q, reloads %d → %d", got, reloads, c.certs.reloads.Load())
	}
}

// TestCertReloaderCheck drives the reloader's check by hand, one step at
// a time: what it loads, what it refuses, and that it tries a pair once.
func TestCertReloaderCheck(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := testcert.Pair(t, "cert-a")
	certB, keyB := testcert.Pair(t, "cert-b")
	testcert.ReplaceFile(t, certFile, certA)
	testcert.ReplaceFile(t, keyFile, keyA)
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if r.interval != certPollInterval {
		t.Errorf("poll interval %v, want %v", r.interval, certPollInterval)
	}
	served := func() string {
		cert, _ := r.getCertificate(nil)
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	steps := []struct {
		name string
		// cert and key replace the files when not nil; remove removes the
		// key file.
		cert, key []byte
		remove    bool
		// want is the certificate served after the check, and the reloads
		// and failures counted so far.
		want              string
		reloads, failures int64
	}{
		{name: "unchanged", want: "cert-a"},
		{name: "new pair", cert: certB, key: keyB, want: "cert-b", reloads: 1},
		{name: "unchanged again", want: "cert-b", reloads: 1},
		{name: "the same bytes rewritten", cert: certB, key: keyB, want: "cert-b", reloads: 2},
		{name: "key of another certificate", cert: certA, want: "cert-b", reloads: 2, failures: 1},
		{name: "the bad pair is not tried again", want: "cert-b", reloads: 2, failures: 1},
		{name: "garbage key", key: []byte("garbage"), want: "cert-b", reloads: 2, failures: 2},
		{name: "key file gone: kept, not counted", remove: true, want: "cert-b", reloads: 2, failures: 2},
		{name: "good pair again", cert: certA, key: keyA, want: "cert-a", reloads: 3, failures: 2},
	}
	for _, st := range steps {
		if st.cert != nil {
			testcert.ReplaceFile(t, certFile, st.cert)
		}
		if st.key != nil {
			testcert.ReplaceFile(t, keyFile, st.key)
		}
		if st.remove {
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
		}
		r.check()
		if got := served(); got != st.want || r.reloads.Load() != st.reloads || r.failures.Load() != st.failures {
			t.Fatalf("%s: serving %s, %d reloads, %d failures; want %s, %d, %d",
				st.name, got, r.reloads.Load(), r.failures.Load(), st.want, st.reloads, st.failures)
		}
	}
}

// A config taken from ServerTLSConfig, and one derived from it by Clone
// or GetConfigForClient, follow reloads.
func TestTLSConfigFollowsReloads(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, keyA := testcert.Pair(t, "cert-a")
	certB, keyB := testcert.Pair(t, "cert-b")
	testcert.ReplaceFile(t, certFile, certA)
	testcert.ReplaceFile(t, keyFile, keyA)
	c := open(t, Config{TLSCert: certFile, TLSKey: keyFile})
	cfg := c.ServerTLSConfig()
	perClient, err := cfg.GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	name := func(cfg *tls.Config) string {
		cert, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.Subject.CommonName
	}
	// Without a policy, a client certificate is asked for but not checked.
	if perClient.ClientAuth != tls.RequestClientCert || perClient.ClientCAs != nil {
		t.Errorf("without client CAs: ClientAuth %v, ClientCAs %v", perClient.ClientAuth, perClient.ClientCAs)
	}
	testcert.ReplaceFile(t, certFile, certB)
	testcert.ReplaceFile(t, keyFile, keyB)
	c.certs.check()
	for what, cfg := range map[string]*tls.Config{"config": cfg, "clone": cfg.Clone(), "per-client config": perClient} {
		if got := name(cfg); got != "cert-b" {
			t.Errorf("%s serves %q after the reload, want cert-b", what, got)
		}
	}
}

func TestTLSLoadFailsAtStart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	certA, _ := testcert.Pair(t, "cert-a")
	_, keyB := testcert.Pair(t, "cert-b")
	testcert.ReplaceFile(t, certFile, certA)
	testcert.ReplaceFile(t, keyFile, keyB)
	tests := []struct {
		name      string
		cert, key string
	}{
		{"key of another certificate", certFile, keyFile},
		{"certificate without a key", certFile, ""},
		{"key without a certificate", "", keyFile},
		{"no such certificate file", filepath.Join(dir, "missing.crt"), keyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			c, err := Open(Config{DataDir: data, TLSCert: tt.cert, TLSKey: tt.key})
			if err == nil {
				c.Close()
				t.Fatal("Open accepted the key pair")
			}
			// The key pair is checked before anything is written.
			if entries, err := os.ReadDir(data); err != nil || len(entries) > 0 {
				t.Fatalf("the data dir was touched before the key pair was checked: %v %v", entries, err)
			}
		})
	}
}

func TestNoTLS(t *testing.T) {
	c := open(t, Config{})
	if c.TLS() {
		t.Error("TLS() is true without a key pair")
	}
	// Watching nothing is a no-op, and so is stopping it.
	stop := c.WatchCerts()
	stop()
	stop()
}
