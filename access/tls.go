package access

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certPollInterval is how often --tls-cert and --tls-key are checked for
// changes.
const certPollInterval = 5 * time.Second

// serverTLSConfig is the TLS configuration of the registry endpoint: TLS
// 1.2 or later, with the current --tls-cert/--tls-key pair, which is
// reloaded when the files change (see certReloader). Each call returns a
// new config that the caller may extend (client certificates and the like
// are added by withClientCerts in auth.go); a config derived from it by
// Clone, or returned from GetConfigForClient, keeps GetCertificate and so
// keeps following reloads. It must only be called when TLS is configured.
func (c *Control) serverTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: c.certs.getCertificate,
	}
}

// certReloader holds the key pair loaded from a certificate and a key
// file, and replaces it when either file changes. A replacement that does
// not load (a half-written file, a key that does not match) is logged and
// the previous pair stays in use.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration

	cert atomic.Pointer[tls.Certificate]
	// seen identifies the files' versions last loaded or tried.
	seen [2]os.FileInfo
	// failures counts reloads that failed, for tests.
	failures atomic.Int64
	reloads  atomic.Int64
}

// newCertReloader loads the pair; it fails if the files do not load.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	c := &certReloader{certFile: certFile, keyFile: keyFile, log: log, interval: certPollInterval}
	seen, err := c.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	c.seen = seen
	c.cert.Store(&cert)
	return c, nil
}

func (c *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cert.Load(), nil
}

func (c *certReloader) stat() ([2]os.FileInfo, error) {
	var fis [2]os.FileInfo
	for i, p := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return fis, err
		}
		fis[i] = fi
	}
	return fis, nil
}

// changed reports whether a file is another file (replaced by a rename)
// or was rewritten since it was last seen.
func changed(old, cur os.FileInfo) bool {
	return !os.SameFile(old, cur) || !old.ModTime().Equal(cur.ModTime()) || old.Size() != cur.Size()
}

// check reloads the pair if either file changed since the last check.
// Only the watch goroutine calls it.
func (c *certReloader) check() {
	cur, err := c.stat()
	if err != nil {
		// A file is being replaced, or is gone: keep serving, try again.
		c.log.Debug("TLS key pair not readable; keeping the current one", "err", err)
		return
	}
	if !changed(c.seen[0], cur[0]) && !changed(c.seen[1], cur[1]) {
		return
	}
	// What was tried is not tried again until a file changes once more,
	// so a bad pair is logged once rather than every poll.
	c.seen = cur
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		c.failures.Add(1)
		c.log.Error("reloading the TLS key pair failed; still serving the previous one",
			"cert", c.certFile, "key", c.keyFile, "err", err)
		return
	}
	c.cert.Store(&cert)
	c.reloads.Add(1)
	attrs := []any{"cert", c.certFile}
	if cert.Leaf != nil {
		attrs = append(attrs, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
		if time.Now().After(cert.Leaf.NotAfter) {
			c.log.Warn("the reloaded TLS certificate has expired", attrs...)
		}
	}
	c.log.Info("reloaded the TLS key pair", attrs...)
}

// watch polls the files until the returned stop function is called.
func (c *certReloader) watch() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(c.interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c.check()
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// TLS says whether the node serves HTTPS.
func (c *Control) TLS() bool { return c.certs != nil }

// ServerTLSConfig is the registry endpoint's TLS configuration: the
// current key pair (reloaded when its files change) and client
// certificates checked against the policy in force at each handshake.
// Only valid when TLS says so.
func (c *Control) ServerTLSConfig() *tls.Config { return c.withClientCerts(c.serverTLSConfig()) }

// WatchCerts reloads the key pair when its files change, until stop is
// called.
func (c *Control) WatchCerts() (stop func()) {
	if c.certs == nil {
		return func() {}
	}
	return c.certs.watch()
}

// CheckKeyPair fails unless certFile and keyFile are both empty or name a
// key pair that loads, so that a node can refuse to start before it
// touches its data dir.
func CheckKeyPair(certFile, keyFile string) error {
	if err := pairGiven(certFile, keyFile); err != nil || certFile == "" {
		return err
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return fmt.Errorf("loading the TLS key pair: %w", err)
	}
	return nil
}

// pairGiven fails when only one of a certificate and its key is given.
func pairGiven(certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		return errors.New("a TLS certificate and its key go together")
	}
	return nil
}
