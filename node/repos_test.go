package node

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/oci"
)

func TestRepositoryRouting(t *testing.T) {
	n, err := New(Config{
		DataDir:         filepath.Join(t.TempDir(), "data"),
		Upstreams:       []string{"docker.io=https://registry-1.docker.io", "ghcr.io=https://ghcr.io", "127.0.0.1:5001=http://127.0.0.1:5001"},
		DefaultUpstream: "docker.io",
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.store.SetTag("myteam/app", true, "v1", "sha256:0000000000000000000000000000000000000000000000000000000000000000", time.Time{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		repo    oci.Repo
		write   bool
		want    repository
		wantErr error
	}{
		{name: "rule prefix", repo: oci.Repo{Name: "ghcr.io/org/img"}, want: repository{key: "ghcr.io/org/img", rule: "ghcr.io", path: "org/img"}},
		{name: "docker.io one-part name gets library/", repo: oci.Repo{Name: "docker.io/alpine"}, want: repository{key: "docker.io/library/alpine", rule: "docker.io", path: "library/alpine"}},
		{name: "docker.io two-part name kept", repo: oci.Repo{Name: "docker.io/bitnami/redis"}, want: repository{key: "docker.io/bitnami/redis", rule: "docker.io", path: "bitnami/redis"}},
		{name: "ns form", repo: oci.Repo{Name: "library/alpine", NS: "docker.io"}, want: repository{key: "docker.io/library/alpine", rule: "docker.io", path: "library/alpine"}},
		{name: "ns with port", repo: oci.Repo{Name: "test/img", NS: "127.0.0.1:5001"}, want: repository{key: "127.0.0.1:5001/test/img", rule: "127.0.0.1:5001", path: "test/img"}},
		{name: "unknown ns", repo: oci.Repo{Name: "x", NS: "quay.io"}, wantErr: oci.ErrNameUnknown},
		{name: "default upstream for reads", repo: oci.Repo{Name: "alpine"}, want: repository{key: "docker.io/library/alpine", rule: "docker.io", path: "library/alpine"}},
		{name: "local repository wins over default upstream", repo: oci.Repo{Name: "myteam/app"}, want: repository{key: "myteam/app"}},
		{name: "writes without a rule are local", repo: oci.Repo{Name: "alpine"}, write: true, want: repository{key: "alpine"}},
		{name: "writes with a rule prefix are mirrored", repo: oci.Repo{Name: "ghcr.io/org/img"}, write: true, want: repository{key: "ghcr.io/org/img", rule: "ghcr.io", path: "org/img"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := n.repository(tt.repo, tt.write)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("repository(%+v) = %+v, %v; want %+v", tt.repo, got, err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no data dir", Config{}},
		{"upstream without URL", Config{DataDir: dir, Upstreams: []string{"docker.io"}}},
		{"upstream with bad scheme", Config{DataDir: dir, Upstreams: []string{"x=ftp://host"}}},
		{"rule name with slash", Config{DataDir: dir, Upstreams: []string{"a/b=http://host"}}},
		{"duplicate rule", Config{DataDir: dir, Upstreams: []string{"a=http://h", "a=http://i"}}},
		{"default upstream without rule", Config{DataDir: dir, Upstreams: []string{"a=http://h"}, DefaultUpstream: "b"}},
		{"auth for unknown rule", Config{DataDir: dir, Upstreams: []string{"a=http://h"}, UpstreamAuth: []string{"b=/nonexistent"}}},
		{"tls cert without key", Config{DataDir: dir, TLSCert: "c.pem"}},
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
