package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// defaultCertsDir is where containerd installations conventionally keep
// per-registry hosts.toml files (containerd's config_path).
const defaultCertsDir = "/etc/containerd/certs.d"

// hostsTOMLMarker starts every file containerd-config writes, so that a
// later run (and an operator cleaning up) can tell Shoal's files from ones
// written by hand.
const hostsTOMLMarker = "# Written by `shoal containerd-config`."

// backupSuffix names the copy kept of a hand-written hosts.toml that
// containerd-config replaces.
const backupSuffix = ".shoal-backup"

// containerdConfig is what `shoal containerd-config` was asked to produce.
type containerdConfig struct {
	Registries   []string // registry hosts as containerd names them
	Mirror       string   // the Shoal node's base URL
	Capabilities []string // what containerd may ask the mirror for
	ServerFor    []string // HOST=URL overrides of the upstream server
	CA           []string // CA certificate files for an https mirror
	SkipVerify   bool     // do not verify an https mirror's certificate
	Dir          string   // write files under Dir instead of printing them
}

// hostsFile is one generated hosts.toml.
type hostsFile struct {
	Registry string // directory name under config_path
	Body     []byte
}

func newContainerdConfigCommand() *cobra.Command {
	var c containerdConfig
	cmd := &cobra.Command{
		Use:   "containerd-config --registry HOST... [--mirror URL] [--dir DIR]",
		Short: "Print or write containerd hosts.toml files that pull through a Shoal node",
		Long: `Print or write containerd hosts.toml files that send image pulls for each
--registry to a Shoal node first, falling back to the registry itself.

For every registry host (docker.io, ghcr.io, registry.k8s.io,
127.0.0.1:5001...) one file is produced:

  server = "<upstream URL>"          # docker.io: https://registry-1.docker.io,
                                     # others: https://<host>, or --server-for
  [host."<--mirror URL>"]
    capabilities = ["pull", "resolve"]

containerd tells the mirror which registry a request is for with ?ns=<host>,
so one node serves every registry it has an --upstream rule for; the rule
name must equal the registry host. If the node answers with an error or is
down, containerd falls back to server. The special registry name _default
applies to every registry without a directory of its own (it has no server
line, so containerd falls back to the registry itself).

Without --dir each file is printed to standard output after a comment line
naming its path under ` + defaultCertsDir + `. With --dir each is written to
DIR/<host>/hosts.toml (directories are created; the file is replaced
atomically, mode 0644) and what was written is reported on standard error.
A hosts.toml there that was not written by this command is first copied to
hosts.toml` + backupSuffix + ` (once; an existing backup is kept).

containerd reads these files only when config_path points at the directory.
containerd 1.x (config version 2), for the CRI plugin (Kubernetes):

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "` + defaultCertsDir + `"

containerd 2.x (config version 3), for the CRI plugin and the transfer
service:

  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "` + defaultCertsDir + `"
  [plugins."io.containerd.transfer.v1.local"]
    config_path = "` + defaultCertsDir + `"

Restart containerd after changing config_path; changes to the hosts.toml
files themselves are picked up on the next pull. ctr needs
--hosts-dir ` + defaultCertsDir + `.`,
		Example: `  shoal containerd-config --registry docker.io --registry ghcr.io
  shoal containerd-config --registry docker.io --registry registry.k8s.io \
      --mirror http://127.0.0.1:5000 --dir /etc/containerd/certs.d
  shoal containerd-config --registry 127.0.0.1:5001 --server-for 127.0.0.1:5001=http://127.0.0.1:5001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := c.render()
			if err != nil {
				return err
			}
			if c.Dir == "" {
				return printHostsFiles(cmd.OutOrStdout(), files)
			}
			return writeHostsFiles(c.Dir, files, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringArrayVar(&c.Registries, "registry", nil, "a registry host to send through the node, e.g. docker.io, ghcr.io or 127.0.0.1:5001 (repeatable; at least one)")
	f.StringVar(&c.Mirror, "mirror", "http://127.0.0.1:5000", "the Shoal node's URL as containerd reaches it (scheme and host only)")
	f.StringVar(&c.Dir, "dir", "", "write DIR/<host>/hosts.toml instead of printing (containerd's config_path, usually "+defaultCertsDir+")")
	f.StringSliceVar(&c.Capabilities, "capabilities", []string{"pull", "resolve"}, "what containerd may ask the node for: pull (blobs and manifests by digest) and resolve (tags to digests)")
	f.StringArrayVar(&c.ServerFor, "server-for", nil, "HOST=URL: the upstream server for a --registry instead of the default (repeatable)")
	f.StringArrayVar(&c.CA, "ca", nil, "a CA certificate file (PEM) containerd trusts for an https --mirror; a relative path is relative to the host's directory (repeatable)")
	f.BoolVar(&c.SkipVerify, "skip-verify", false, "do not verify the certificate of an https --mirror")
	return cmd
}

// render validates c and builds one hosts.toml per registry, in the order
// the registries were given.
func (c *containerdConfig) render() ([]hostsFile, error) {
	if len(c.Registries) == 0 {
		return nil, errors.New("containerd-config: give at least one --registry (e.g. --registry docker.io)")
	}
	mirror, err := parseMirrorURL(c.Mirror)
	if err != nil {
		return nil, err
	}
	if (c.SkipVerify || len(c.CA) > 0) && mirror.Scheme != "https" {
		return nil, fmt.Errorf("--mirror %s: --ca and --skip-verify apply only to an https mirror", c.Mirror)
	}
	for _, ca := range c.CA {
		if strings.TrimSpace(ca) == "" {
			return nil, errors.New("--ca: empty file name")
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
			return nil, fmt.Errorf("--registry %s is given twice", host)
		}
		seen[host] = true
		registries = append(registries, host)
	}

	servers := map[string]string{}
	for _, v := range c.ServerFor {
		h, raw, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(h) == "" || strings.TrimSpace(raw) == "" {
			return nil, fmt.Errorf("--server-for %q: want HOST=URL", v)
		}
		host, err := parseRegistryHost(strings.TrimSpace(h))
		if err != nil {
			return nil, fmt.Errorf("--server-for %q: %w", v, err)
		}
		if !seen[host] {
			return nil, fmt.Errorf("--server-for %q: %s is not one of the --registry hosts", v, host)
		}
		if host == "_default" {
			return nil, fmt.Errorf("--server-for %q: _default has no server of its own", v)
		}
		if _, dup := servers[host]; dup {
			return nil, fmt.Errorf("--server-for %q: %s is given twice", v, host)
		}
		u, err := parseServerURL(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("--server-for %q: %w", v, err)
		}
		servers[host] = u
	}

	files := make([]hostsFile, 0, len(registries))
	for _, host := range registries {
		server, ok := servers[host]
		if !ok {
			server = defaultServer(host)
		}
		files = append(files, hostsFile{
			Registry: host,
			Body:     hostsTOML(server, mirror.String(), caps, c.CA, c.SkipVerify),
		})
	}
	return files, nil
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

// hostsTOML is the text of one hosts.toml. override_path is never set:
// the node takes the registry from containerd's ?ns= parameter, so
// containerd's usual /v2/<repo> paths are right.
func hostsTOML(server, mirror string, caps, cas []string, skipVerify bool) []byte {
	var b bytes.Buffer
	b.WriteString(hostsTOMLMarker + "\n")
	b.WriteString("# Pulls try the Shoal node first, then the upstream registry.\n")
	if server != "" {
		fmt.Fprintf(&b, "server = %s\n", tomlString(server))
	}
	fmt.Fprintf(&b, "\n[host.%s]\n", tomlString(mirror))
	fmt.Fprintf(&b, "  capabilities = %s\n", tomlStrings(caps))
	switch len(cas) {
	case 0:
	case 1:
		fmt.Fprintf(&b, "  ca = %s\n", tomlString(cas[0]))
	default:
		fmt.Fprintf(&b, "  ca = %s\n", tomlStrings(cas))
	}
	if skipVerify {
		b.WriteString("  skip_verify = true\n")
	}
	return b.Bytes()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(list []string) string {
	quoted := make([]string, len(list))
	for i, s := range list {
		quoted[i] = tomlString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// dnsName matches a DNS name: dot-separated labels of letters, digits and
// inner hyphens.
var dnsName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// parseRegistryHost checks a registry host the way it appears in an image
// reference (host, host:port, or [ipv6]:port) and returns it in the form
// containerd uses as the directory name.
func parseRegistryHost(s string) (string, error) {
	if s == "_default" {
		return s, nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("--registry %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if strings.Contains(s, "://") {
		return bad("give the registry host as it appears in image names (e.g. ghcr.io), not a URL")
	}
	if strings.ContainsAny(s, "/?#@ \t") {
		return bad("want a host or host:port, with no path (e.g. ghcr.io or 127.0.0.1:5001)")
	}
	host := strings.ToLower(s)
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		end := strings.Index(host, "]")
		if end < 0 {
			return bad("unclosed [ in an IPv6 address")
		}
		name, port = host[1:end], host[end+1:]
		if port != "" && !strings.HasPrefix(port, ":") {
			return bad("want [ipv6] or [ipv6]:port")
		}
		port = strings.TrimPrefix(port, ":")
		if ip := net.ParseIP(name); ip == nil || ip.To4() != nil {
			return bad("not an IPv6 address between [ ]")
		}
	} else {
		if i := strings.LastIndex(host, ":"); i >= 0 {
			name, port = host[:i], host[i+1:]
			if strings.Contains(name, ":") {
				return bad("an IPv6 address must be written in brackets, e.g. [fd00::1]:5000")
			}
		}
		if net.ParseIP(name) == nil && (len(name) > 253 || !dnsName.MatchString(name)) {
			return bad("not a valid host name or IP address")
		}
	}
	if port != "" || strings.HasSuffix(host, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
			return bad("the port must be a number from 1 to 65535")
		}
	}
	return host, nil
}

// parseMirrorURL checks the node's URL. Its path must be empty: containerd
// appends /v2/... itself and names the registry with ?ns=.
func parseMirrorURL(s string) (*url.URL, error) {
	u, err := parseBaseURL(s)
	if err != nil {
		return nil, fmt.Errorf("--mirror %q: %w", s, err)
	}
	return u, nil
}

// parseServerURL checks an upstream server URL and returns it normalised.
func parseServerURL(s string) (string, error) {
	u, err := parseBaseURL(s)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func parseBaseURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		return nil, errors.New("want an http:// or https:// URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("want an http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("the URL has no host")
	}
	if u.User != nil {
		return nil, errors.New("credentials do not belong in the URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, errors.New("the URL may not have a query or fragment")
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("want scheme and host only: containerd adds /v2/ itself")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("the port must be a number from 1 to 65535")
		}
	}
	return &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}, nil
}

// parseCapabilities accepts pull and resolve, in that order. push is
// refused: the node does not accept pushes into mirrored namespaces.
func parseCapabilities(list []string) ([]string, error) {
	want := map[string]bool{}
	for _, c := range list {
		c = strings.ToLower(strings.TrimSpace(c))
		switch c {
		case "pull", "resolve":
			want[c] = true
		case "push":
			return nil, errors.New("--capabilities: push is not supported: a Shoal node refuses pushes into mirrored registries (push to the registry itself, or to a local repository on the node by its own name)")
		case "":
		default:
			return nil, fmt.Errorf("--capabilities %q: want pull and/or resolve", c)
		}
	}
	var out []string
	for _, c := range []string{"pull", "resolve"} {
		if want[c] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--capabilities: want pull and/or resolve")
	}
	return out, nil
}

// printHostsFiles writes each file to w after a comment naming its path
// under the conventional config_path.
func printHostsFiles(w io.Writer, files []hostsFile) error {
	for i, f := range files {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "# %s\n%s", filepath.Join(defaultCertsDir, f.Registry, "hosts.toml"), f.Body); err != nil {
			return err
		}
	}
	return nil
}

// writeHostsFiles writes dir/<registry>/hosts.toml for each file and
// reports each on log.
func writeHostsFiles(dir string, files []hostsFile, log io.Writer) error {
	for _, f := range files {
		path := filepath.Join(dir, f.Registry, "hosts.toml")
		status, err := writeHostsFile(path, f.Body)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "%s %s\n", status, path)
	}
	return nil
}

// writeHostsFile replaces path with body atomically (temporary file in the
// same directory, fsync, rename, fsync of the directory), so containerd
// never reads a half-written file. A file with the same content is left
// alone. A hand-written file is backed up first. It returns what it did.
func writeHostsFile(path string, body []byte) (string, error) {
	d := filepath.Dir(path)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", d, err)
	}
	status := "wrote"
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("reading %s: %w", path, err)
	case bytes.Equal(old, body):
		return "unchanged", nil
	case !bytes.HasPrefix(old, []byte(hostsTOMLMarker)):
		backup := path + backupSuffix
		if _, err := os.Stat(backup); errors.Is(err, fs.ErrNotExist) {
			if err := atomicWrite(backup, old); err != nil {
				return "", fmt.Errorf("backing up %s: %w", path, err)
			}
			status = "wrote (previous file kept as " + backup + ")"
		} else {
			status = "wrote (replacing a hand-written file; " + backup + " already exists and was kept)"
		}
	}
	if err := atomicWrite(path, body); err != nil {
		return "", err
	}
	return status, nil
}

func atomicWrite(path string, body []byte) (err error) {
	d := filepath.Dir(path)
	tmp, err := os.CreateTemp(d, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(body); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; containerd and operators read it.
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// The rename is durable only once the directory is synced; a failure
	// here is not worth failing the write for on filesystems that refuse it.
	if dh, derr := os.Open(d); derr == nil {
		_ = dh.Sync()
		_ = dh.Close()
	}
	return nil
}
