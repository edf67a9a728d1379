package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/oci/upstream"
)

func TestNodeFilesRejectBadValues(t *testing.T) {
	dir := t.TempDir()
	notAKey := filepath.Join(dir, "not-a-key")
	if err := os.WriteFile(notAKey, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		files   nodeFiles
		cfg     node.Config
		wantErr string
	}{
		{"upstream without URL", nodeFiles{upstreams: []string{"docker.io"}}, node.Config{}, "--upstream"},
		{"upstream with bad scheme", nodeFiles{upstreams: []string{"x=ftp://host"}}, node.Config{}, "--upstream"},
		{"rule name with slash", nodeFiles{upstreams: []string{"a/b=http://host"}}, node.Config{}, "'/'"},
		{"duplicate rule", nodeFiles{upstreams: []string{"a=http://h", "a=http://i"}}, node.Config{}, "twice"},
		{"default upstream without rule", nodeFiles{upstreams: []string{"a=http://h"}}, node.Config{DefaultUpstream: "b"}, "--default-upstream b"},
		{"auth for unknown rule", nodeFiles{upstreams: []string{"a=http://h"}, upstreamAuth: []string{"b=/nonexistent"}}, node.Config{}, "--upstream-auth b"},
		{"auth without file", nodeFiles{upstreams: []string{"a=http://h"}, upstreamAuth: []string{"a"}}, node.Config{}, "NAME=FILE"},
		{"policy without root", nodeFiles{policy: notAKey}, node.Config{}, "--policy-root"},
		{"root that is no key", nodeFiles{policyRoots: []string{notAKey}}, node.Config{}, "--policy-root " + notAKey},
		{"encryption key that is no key", nodeFiles{encryptionKey: notAKey}, node.Config{}, "--encryption-key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := tt.files.apply(&cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("apply = %v, want an error naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestNodeFilesRules(t *testing.T) {
	var cfg node.Config
	f := nodeFiles{upstreams: []string{"docker.io=https://registry-1.docker.io/", " ghcr.io = https://ghcr.io"}}
	if err := f.apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Upstreams) != 2 || cfg.Upstreams[0].Name != "docker.io" || cfg.Upstreams[0].URL.String() != "https://registry-1.docker.io" || cfg.Upstreams[1].Name != "ghcr.io" {
		t.Fatalf("rules = %+v", cfg.Upstreams)
	}
}

// rules are upstream rules from NAME=URL specs, parsed as --upstream is.
func rules(t testing.TB, specs ...string) []upstream.Rule {
	t.Helper()
	r, err := nodeFiles{upstreams: specs}.rules()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheckWatermarks(t *testing.T) {
	for _, tt := range []struct {
		high, low float64
		ok        bool
	}{
		{85, 80, true},
		{0, 0, true},
		{100, 99, true},
		{80, 85, false},
		{85, 85, false},
		{101, 80, false},
		{85, 0, false},
		{0, 80, false},
		{-1, -2, false},
	} {
		err := checkWatermarks(tt.high, tt.low)
		if (err == nil) != tt.ok {
			t.Errorf("checkWatermarks(%v, %v) = %v, want ok %v", tt.high, tt.low, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--cache-high-watermark") {
			t.Errorf("the error does not name the flags: %v", err)
		}
	}
}
