package upstream

import (
	"fmt"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/google/go-containerregistry/pkg/authn"
)

// KeychainFromFile loads upstream credentials from a file in docker's
// config.json form: "auths" entries keyed by registry host (or URL) with
// "auth" (base64 user:password), "username"/"password", "identitytoken" or
// "registrytoken". It is read with docker/cli's config loader, which
// go-containerregistry's authn already depends on.
//
// Only the static "auths" are used: "credsStore" and "credHelpers" are
// ignored, since they run external docker-credential-* programs. Docker Hub's
// names (docker.io, index.docker.io, registry-1.docker.io and the
// https://index.docker.io/v1/ key docker login writes) all find the same
// entry. A host with no entry resolves to authn.Anonymous.
func KeychainFromFile(path string) (authn.Keychain, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("upstream: credentials: %w", err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		return nil, fmt.Errorf("upstream: credentials %s: %w", path, err)
	}
	kc := fileKeychain{}
	for key, ac := range cf.AuthConfigs {
		cfg := authn.AuthConfig{
			Username:      ac.Username,
			Password:      ac.Password,
			Auth:          ac.Auth,
			IdentityToken: ac.IdentityToken,
			RegistryToken: ac.RegistryToken,
		}
		if cfg == (authn.AuthConfig{}) {
			continue
		}
		kc[hostKey(credentials.ConvertToHostname(key))] = cfg
	}
	return kc, nil
}

// fileKeychain maps a normalised registry host to its credentials.
type fileKeychain map[string]authn.AuthConfig

func (kc fileKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if cfg, ok := kc[hostKey(target.RegistryStr())]; ok {
		return authn.FromConfig(cfg), nil
	}
	return authn.Anonymous, nil
}

// hostKey folds Docker Hub's several host names into one.
func hostKey(host string) string {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "index.docker.io"
	}
	return host
}
