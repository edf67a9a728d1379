package node

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Config is everything a node is started with. cmd/shoal fills it from
// flags, the environment and a YAML file.
type Config struct {
	Listen  string
	DataDir string

	// Upstreams are the mirroring rules, in the form NAME=URL.
	Upstreams       []string
	DefaultUpstream string
	// UpstreamAuth maps a rule name to a docker config.json with its
	// credentials, in the form NAME=FILE.
	UpstreamAuth []string
	// DockerConfig is read for credentials of rules without UpstreamAuth,
	// when it exists ("" to skip).
	DockerConfig string
	TagTTL       time.Duration

	P2PListen    []string
	Bootstrap    []string
	BootstrapDNS string
	MDNS         bool
	SwarmKey     string
	// P2PTags lets the node ask peers for a tag's last digest when
	// upstream cannot be reached.
	P2PTags bool

	CacheMaxBytes    int64
	MaxManifestBytes int64
	// EncryptionKeyFile holds the key that encrypts the store at rest
	// (see cache.ParseKey); "" for no encryption.
	EncryptionKeyFile string

	TLSCert, TLSKey string

	PolicyRoots []string
	Policy      string
	// PolicyNetwork pins the policy network ("" = the first accepted
	// policy's); PolicyGrace is how long cached content stays served after
	// the policy expires (0 = DefaultPolicyGrace).
	PolicyNetwork string
	PolicyGrace   time.Duration
	// clock replaces time.Now for the policy's expiry (tests).
	clock func() time.Time

	// ScanOnPull queues a background vulnerability scan of each image
	// manifest the node stores for the first time, while a vulnerability
	// database is loaded.
	ScanOnPull bool

	// ShutdownTimeout bounds how long requests in flight may take to
	// finish after the node is told to stop.
	ShutdownTimeout time.Duration

	Logger *slog.Logger
}

// upstreamRule is one parsed --upstream value.
type upstreamRule struct {
	name string
	url  *url.URL
}

func parseUpstreams(values []string) ([]upstreamRule, error) {
	seen := map[string]bool{}
	var rules []upstreamRule
	for _, v := range values {
		name, raw, ok := strings.Cut(v, "=")
		name = strings.TrimSpace(name)
		raw = strings.TrimSpace(raw)
		if !ok || name == "" || raw == "" {
			return nil, fmt.Errorf("upstream %q: want NAME=URL", v)
		}
		if strings.ContainsAny(name, "/ ") {
			return nil, fmt.Errorf("upstream %q: the name may not contain '/' or spaces", v)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("upstream %q: want an http or https URL", v)
		}
		if seen[name] {
			return nil, fmt.Errorf("upstream %q: rule %s is given twice", v, name)
		}
		seen[name] = true
		u.Path = strings.TrimSuffix(u.Path, "/")
		rules = append(rules, upstreamRule{name: name, url: u})
	}
	return rules, nil
}

func parsePairs(flag string, values []string) (map[string]string, error) {
	m := map[string]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" || val == "" {
			return nil, fmt.Errorf("%s %q: want NAME=VALUE", flag, v)
		}
		m[k] = val
	}
	return m, nil
}
