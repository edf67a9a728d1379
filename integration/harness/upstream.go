package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Upstream is Debian's docker-registry (distribution 2.8) serving from a
// directory on a loopback port, with no auth.
type Upstream struct {
	*Proc
	// Addr is host:port, e.g. 127.0.0.1:40123.
	Addr string
	Port int
	Dir  string
}

// URL is the upstream's base URL.
func (u *Upstream) URL() string { return "http://" + u.Addr }

// upstreamConfig is a docker-registry config: the packaged default listens on
// all interfaces and points htpasswd at a directory, so it can't be used.
const upstreamConfig = `version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:%d
  secret: shoal-integration-test
`

// StartUpstream starts docker-registry storing under dir/storage on port, or
// on a free port when port is 0, and waits until it answers /v2/. Starting
// again with the same dir and port serves the same content.
func StartUpstream(ctx context.Context, dir string, port int) (*Upstream, error) {
	if port == 0 {
		var err error
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, upstreamConfig, storage, port), 0o644); err != nil {
		return nil, err
	}
	p, err := StartProc("docker-registry", filepath.Join(dir, fmt.Sprintf("registry-%d.log", time.Now().UnixNano())), "serve", cfg)
	if err != nil {
		return nil, err
	}
	u := &Upstream{Proc: p, Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: dir}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, p, u.URL()+"/v2/", 200); err != nil {
		p.Kill()
		return nil, err
	}
	return u, nil
}
