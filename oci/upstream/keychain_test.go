package upstream

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestKeychainFromFile(t *testing.T) {
	cfg := `{
	  "auths": {
	    "https://index.docker.io/v1/": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("hubuser:hubpass")) + `"},
	    "ghcr.io": {"username": "gh", "password": "ghpass"},
	    "http://127.0.0.1:5000": {"identitytoken": "refresh-me"},
	    "empty.example": {}
	  },
	  "credsStore": "desktop"
	}`
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	kc, err := KeychainFromFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		registry string
		want     authn.AuthConfig // zero: anonymous
	}{
		{"registry-1.docker.io", authn.AuthConfig{Username: "hubuser", Password: "hubpass"}},
		{"index.docker.io", authn.AuthConfig{Username: "hubuser", Password: "hubpass"}},
		{"ghcr.io", authn.AuthConfig{Username: "gh", Password: "ghpass"}},
		{"127.0.0.1:5000", authn.AuthConfig{IdentityToken: "refresh-me"}},
		{"127.0.0.1:5001", authn.AuthConfig{}},
		{"quay.io", authn.AuthConfig{}},
		{"empty.example", authn.AuthConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.registry, func(t *testing.T) {
			reg, err := name.NewRegistry(tt.registry)
			if err != nil {
				t.Fatal(err)
			}
			a, err := kc.Resolve(reg.Repo("library/app"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == (authn.AuthConfig{}) {
				if a != authn.Anonymous {
					t.Errorf("got %v, want anonymous", a)
				}
				return
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestKeychainFromFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"auths": {"x": {"auth": "not base64!"}}}`), 0o600)
	garbage := filepath.Join(dir, "garbage.json")
	os.WriteFile(garbage, []byte(`{`), 0o600)
	for _, p := range []string{filepath.Join(dir, "missing.json"), bad, garbage} {
		if _, err := KeychainFromFile(p); err == nil {
			t.Errorf("KeychainFromFile(%s) succeeded", filepath.Base(p))
		}
	}
}
