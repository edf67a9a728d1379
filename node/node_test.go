package node

import (
	"net/url"
	"testing"

	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// The flags' own checks (rule syntax, files) are cmd/shoal's; New
// refuses what no parsed configuration can make work.
func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no data dir", Config{}},
		{"duplicate rule", Config{DataDir: dir, Upstreams: upstreamtest.Rules(t, "a=http://h", "a=http://i")}},
		{"rule without URL", Config{DataDir: dir, Upstreams: []upstream.Rule{{Name: "a", URL: &url.URL{}}}}},
		{"default upstream without rule", Config{DataDir: dir, Upstreams: upstreamtest.Rules(t, "a=http://h"), DefaultUpstream: "b"}},
		{"tls cert without key", Config{DataDir: dir, TLSCert: "c.pem"}},
		{"tls files that do not exist", Config{DataDir: dir, TLSCert: "c.pem", TLSKey: "k.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.cfg, "test")
			if err == nil {
				n.Close()
				t.Fatal("want an error")
			}
		})
	}
}
