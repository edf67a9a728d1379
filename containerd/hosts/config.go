// Package hosts generates containerd's per-registry hosts.toml files that
// send image pulls to a Shoal node first and fall back to the registry
// itself. `shoal containerd-config` is its command-line front end; the
// integration tests write their files with it too, so they run the
// generator that ships.
package hosts

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultConfigPath is where containerd installations conventionally keep
// per-registry hosts.toml files (containerd's config_path).
const DefaultConfigPath = "/etc/containerd/certs.d"

// FileName is the name containerd reads in each registry's directory.
const FileName = "hosts.toml"

// Config is what to generate: one hosts.toml per registry, each sending
// the registry's pulls to the same mirror.
type Config struct {
	Registries   []string          // registry hosts as image references name them: docker.io, 127.0.0.1:5001, [fd00::1]:5000, or _default
	Mirror       string            // the Shoal node's base URL as containerd reaches it (scheme and host only)
	Capabilities []string          // what containerd may ask the mirror for: pull and/or resolve
	Servers      map[string]string // upstream server URL by registry host, where it is not the one containerd would use
	CA           []string          // CA certificate files for an https mirror; relative to the host's directory if relative
	SkipVerify   bool              // do not verify an https mirror's certificate
	// ClientCert and ClientKey are a client certificate and its key that
	// containerd presents to an https mirror (a node whose policy grants
	// identities by certificate); both or neither.
	ClientCert, ClientKey string
}

// File is one generated hosts.toml.
type File struct {
	Registry string // directory name under config_path
	Body     []byte
}

// Path is where f goes under the config_path directory dir.
func (f File) Path(dir string) string {
	return filepath.Join(dir, f.Registry, FileName)
}

// Files validates c and builds one hosts.toml per registry, in the order
// the registries were given. A value that is not valid is reported as an
// *InputError naming it; no registries at all, as a plain error.
func (c Config) Files() ([]File, error) {
	if len(c.Registries) == 0 {
		return nil, errors.New("no registry hosts given")
	}
	mirror, err := parseMirrorURL(c.Mirror)
	if err != nil {
		return nil, err
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return nil, &InputError{Input: ClientCertFile, Value: c.ClientCert + c.ClientKey, Err: errors.New("a client certificate and its key go together")}
	}
	if c.ClientCert != "" && mirror.Scheme != "https" {
		return nil, &InputError{Input: MirrorURL, Value: c.Mirror, Err: errors.New("a client certificate applies only to an https mirror")}
	}
	if (c.SkipVerify || len(c.CA) > 0) && mirror.Scheme != "https" {
		return nil, &InputError{Input: MirrorURL, Value: c.Mirror, Err: errors.New("CA files and skip_verify apply only to an https mirror")}
	}
	for _, ca := range c.CA {
		if strings.TrimSpace(ca) == "" {
			return nil, &InputError{Input: CAFile, Value: ca, Err: errors.New("empty file name")}
		}
	}
	caps, err := parseCapabilities(c.Capabilities)
	if err != nil {
		return nil, err
	}

	var registries []string
	seen := map[string]bool{}
	for _, r := range c.Registries {
		host, err := parseRegistryHost(r)
		if err != nil {
			return nil, err
		}
		if seen[host] {
			return nil, &InputError{Input: RegistryHost, Value: r, Err: fmt.Errorf("%s is given twice", host)}
		}
		seen[host] = true
		registries = append(registries, host)
	}

	servers, err := c.servers(seen)
	if err != nil {
		return nil, err
	}

	files := make([]File, 0, len(registries))
	for _, host := range registries {
		server, ok := servers[host]
		if !ok {
			server = defaultServer(host)
		}
		files = append(files, File{
			Registry: host,
			Body:     render(server, mirror.String(), caps, c.CA, c.SkipVerify, c.ClientCert, c.ClientKey),
		})
	}
	return files, nil
}

// servers checks c.Servers against the registries (by their normalised
// host) and returns the normalised server URLs by normalised host. Keys
// are checked in sorted order so that the error reported is always the
// same.
func (c Config) servers(registries map[string]bool) (map[string]string, error) {
	keys := make([]string, 0, len(c.Servers))
	for k := range c.Servers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	servers := map[string]string{}
	for _, k := range keys {
		bad := func(err error) (map[string]string, error) {
			return nil, &InputError{Input: UpstreamServer, Value: k, Err: err}
		}
		host, err := parseRegistryHost(k)
		if err != nil {
			return bad(err)
		}
		if !registries[host] {
			return bad(fmt.Errorf("%s is not one of the registry hosts", host))
		}
		if host == "_default" {
			return bad(errors.New("_default has no server of its own"))
		}
		if _, dup := servers[host]; dup {
			return bad(fmt.Errorf("%s is given twice", host))
		}
		u, err := parseBaseURL(c.Servers[k])
		if err != nil {
			return bad(err)
		}
		servers[host] = u.String()
	}
	return servers, nil
}

// defaultServer is the upstream containerd itself would use for host;
// "" for _default, which has none.
func defaultServer(host string) string {
	switch host {
	case "_default":
		return ""
	case "docker.io":
		return "https://registry-1.docker.io"
	}
	return "https://" + host
}
