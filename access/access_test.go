package access

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/p2p"
	"github.com/shoal-dev/shoal/policy"
)

// rootKey is a policy root key pair: the public half for Config.Roots,
// the private half to sign test policies.
type rootKey struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newRootKey(t *testing.T) rootKey {
	t.Helper()
	pub, priv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return rootKey{pub, priv}
}

// sign is the envelope of doc signed by k, and its announcement.
func (k rootKey) sign(t *testing.T, doc *policy.Document) (p2p.PolicyAnnouncement, []byte) {
	t.Helper()
	payload, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: payload}
	env.Sign(k.priv)
	return p2p.PolicyAnnouncement{Version: doc.Version, Digest: digest.FromBytes(payload)}, env.Marshal()
}

// envelope is doc signed by k.
func (k rootKey) envelope(t *testing.T, doc *policy.Document) []byte {
	t.Helper()
	_, env := k.sign(t, doc)
	return env
}

// open is a Control on a fresh data dir with cfg; it is closed when the
// test ends.
func open(t *testing.T, cfg Config) *Control {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// logBuffer is a logger whose output a test can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// forge re-signs nothing: it swaps the claims of a good token.
func forge(tok string) string {
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	claims = bytes.Replace(claims, []byte(`"alice"`), []byte(`"admin"`), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(claims)
	return strings.Join(parts, ".")
}

// fixedClock is a settable Config.Now.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
