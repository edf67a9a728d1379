package main

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/policy"
)

// nodeFiles are the `shoal node` flags that name rules and files, which
// the CLI parses and reads so that node.Config holds values and errors
// here can name the flag at fault.
type nodeFiles struct {
	upstreams     []string // --upstream NAME=URL
	upstreamAuth  []string // --upstream-auth NAME=FILE
	dockerConfig  string   // ~/.docker/config.json, for rules without --upstream-auth ("" to skip)
	encryptionKey string   // --encryption-key FILE
	policyRoots   []string // --policy-root FILE
	policy        string   // --policy FILE
}

// apply parses and reads f into cfg.
func (f nodeFiles) apply(cfg *node.Config) error {
	rules, err := f.rules()
	if err != nil {
		return err
	}
	cfg.Upstreams = rules
	if cfg.DefaultUpstream != "" && !hasRule(rules, cfg.DefaultUpstream) {
		return fmt.Errorf("--default-upstream %s: no --upstream rule has that name", cfg.DefaultUpstream)
	}
	if f.encryptionKey != "" {
		if cfg.EncryptionKey, err = cache.ReadKeyFile(f.encryptionKey); err != nil {
			return fmt.Errorf("--encryption-key: %w", err)
		}
	}
	for _, file := range f.policyRoots {
		pub, err := policy.ReadPublicKey(file)
		if err != nil {
			return fmt.Errorf("--policy-root %s: %w", file, err)
		}
		cfg.PolicyRoots = append(cfg.PolicyRoots, pub)
	}
	if f.policy != "" {
		if len(cfg.PolicyRoots) == 0 {
			return errors.New("--policy needs at least one --policy-root to verify it against")
		}
		if cfg.Policy, err = os.ReadFile(f.policy); err != nil {
			return fmt.Errorf("--policy: %w", err)
		}
	}
	return nil
}

func hasRule(rules []upstream.Rule, name string) bool {
	for _, r := range rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

// rules parses --upstream and gives each rule its credentials:
// --upstream-auth's file, else the docker config where it exists.
func (f nodeFiles) rules() ([]upstream.Rule, error) {
	authFiles := map[string]string{}
	for _, v := range f.upstreamAuth {
		k, file, ok := strings.Cut(v, "=")
		if !ok || k == "" || file == "" {
			return nil, fmt.Errorf("--upstream-auth %q: want NAME=FILE", v)
		}
		authFiles[k] = file
	}
	var fallback authn.Keychain
	if f.dockerConfig != "" {
		if _, err := os.Stat(f.dockerConfig); err == nil {
			if fallback, err = upstream.KeychainFromFile(f.dockerConfig); err != nil {
				return nil, fmt.Errorf("reading %s: %w", f.dockerConfig, err)
			}
		}
	}
	seen := map[string]bool{}
	var rules []upstream.Rule
	for _, v := range f.upstreams {
		name, raw, ok := strings.Cut(v, "=")
		name = strings.TrimSpace(name)
		raw = strings.TrimSpace(raw)
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("--upstream %q: want NAME=URL", v)
		}
		if strings.ContainsAny(name, "/ ") {
			return nil, fmt.Errorf("--upstream %q: the name may not contain '/' or spaces", v)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--upstream %q: want an http or https URL", v)
		}
		if seen[name] {
			return nil, fmt.Errorf("--upstream %q: rule %s is given twice", v, name)
		}
		seen[name] = true
		u.Path = strings.TrimSuffix(u.Path, "/")
		rule := upstream.Rule{Name: name, URL: u, Auth: fallback}
		if file, ok := authFiles[name]; ok {
			kc, err := upstream.KeychainFromFile(file)
			if err != nil {
				return nil, fmt.Errorf("--upstream-auth %s: %w", name, err)
			}
			rule.Auth = kc
			delete(authFiles, name)
		}
		rules = append(rules, rule)
	}
	for name := range authFiles {
		return nil, fmt.Errorf("--upstream-auth %s: no --upstream rule has that name", name)
	}
	return rules, nil
}
