package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/containerd/hosts"
	"github.com/spf13/cobra"
)

// containerdConfigFlags is what `shoal containerd-config` was asked to
// produce, as its flags give it.
type containerdConfigFlags struct {
	Registries   []string // registry hosts as containerd names them
	Mirror       string   // the Shoal node's base URL
	Capabilities []string // what containerd may ask the mirror for
	ServerFor    []string // HOST=URL overrides of the upstream server
	CA           []string // CA certificate files for an https mirror
	SkipVerify   bool     // do not verify an https mirror's certificate
	ClientCert   string   // a client certificate to present to an https mirror
	ClientKey    string   // its key
	Dir          string   // write files under Dir instead of printing them
}

func newContainerdConfigCommand() *cobra.Command {
	var c containerdConfigFlags
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
naming its path under ` + hosts.DefaultConfigPath + `. With --dir each is written to
DIR/<host>/hosts.toml (directories are created; the file is replaced
atomically, mode 0644) and what was written is reported on standard error.
A hosts.toml there that was not written by this command is first copied to
hosts.toml` + hosts.BackupSuffix + ` (once; an existing backup is kept).

containerd reads these files only when config_path points at the directory.
containerd 1.x (config version 2), for the CRI plugin (Kubernetes):

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "` + hosts.DefaultConfigPath + `"

containerd 2.x (config version 3), for the CRI plugin and the transfer
service:

  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "` + hosts.DefaultConfigPath + `"
  [plugins."io.containerd.transfer.v1.local"]
    config_path = "` + hosts.DefaultConfigPath + `"

Restart containerd after changing config_path; changes to the hosts.toml
files themselves are picked up on the next pull. ctr needs
--hosts-dir ` + hosts.DefaultConfigPath + `.`,
		Example: `  shoal containerd-config --registry docker.io --registry ghcr.io
  shoal containerd-config --registry docker.io --registry registry.k8s.io \
      --mirror http://127.0.0.1:5000 --dir /etc/containerd/certs.d
  shoal containerd-config --registry 127.0.0.1:5001 --server-for 127.0.0.1:5001=http://127.0.0.1:5001`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := c.files()
			if err != nil {
				return err
			}
			if c.Dir == "" {
				return hosts.Print(cmd.OutOrStdout(), files)
			}
			written, err := hosts.WriteFiles(c.Dir, files)
			for _, w := range written {
				fmt.Fprintln(cmd.ErrOrStderr(), w)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringArrayVar(&c.Registries, "registry", nil, "a registry host to send through the node, e.g. docker.io, ghcr.io or 127.0.0.1:5001 (repeatable; at least one)")
	f.StringVar(&c.Mirror, "mirror", "http://127.0.0.1:5000", "the Shoal node's URL as containerd reaches it (scheme and host only)")
	f.StringVar(&c.Dir, "dir", "", "write DIR/<host>/hosts.toml instead of printing (containerd's config_path, usually "+hosts.DefaultConfigPath+")")
	f.StringSliceVar(&c.Capabilities, "capabilities", []string{"pull", "resolve"}, "what containerd may ask the node for: pull (blobs and manifests by digest) and resolve (tags to digests)")
	f.StringArrayVar(&c.ServerFor, "server-for", nil, "HOST=URL: the upstream server for a --registry instead of the default (repeatable)")
	f.StringArrayVar(&c.CA, "ca", nil, "a CA certificate file (PEM) containerd trusts for an https --mirror; a relative path is relative to the host's directory (repeatable)")
	f.BoolVar(&c.SkipVerify, "skip-verify", false, "do not verify the certificate of an https --mirror")
	f.StringVar(&c.ClientCert, "client-cert", "", "a client certificate file (PEM) containerd presents to an https --mirror whose policy grants identities by certificate (with --client-key)")
	f.StringVar(&c.ClientKey, "client-key", "", "the key file (PEM) of --client-cert")
	return cmd
}

// files turns the flags into a hosts.Config and renders it, naming the
// flag at fault in any error.
func (c *containerdConfigFlags) files() ([]hosts.File, error) {
	if len(c.Registries) == 0 {
		return nil, errors.New("containerd-config: give at least one --registry (e.g. --registry docker.io)")
	}
	// serverFor keeps each --server-for as given, by the registry host it
	// names, to quote in errors about it.
	serverFor := map[string]string{}
	servers := map[string]string{}
	for _, v := range c.ServerFor {
		h, raw, ok := strings.Cut(v, "=")
		h, raw = strings.TrimSpace(h), strings.TrimSpace(raw)
		if !ok || h == "" || raw == "" {
			return nil, fmt.Errorf("--server-for %q: want HOST=URL", v)
		}
		if _, dup := servers[h]; dup {
			return nil, fmt.Errorf("--server-for %q: %s is given twice", v, h)
		}
		serverFor[h] = v
		servers[h] = raw
	}
	files, err := hosts.Config{
		Registries:   c.Registries,
		Mirror:       c.Mirror,
		Capabilities: c.Capabilities,
		Servers:      servers,
		CA:           c.CA,
		SkipVerify:   c.SkipVerify,
		ClientCert:   c.ClientCert,
		ClientKey:    c.ClientKey,
	}.Files()
	if err != nil {
		return nil, flagError(err, serverFor)
	}
	return files, nil
}

// flagError restates an error about a hosts.Config value in terms of the
// flag that gave the value. serverFor maps a --server-for registry host to
// the flag's whole value.
func flagError(err error, serverFor map[string]string) error {
	var ie *hosts.InputError
	if !errors.As(err, &ie) {
		return err
	}
	value := ie.Value
	var flag string
	switch ie.Input {
	case hosts.RegistryHost:
		flag = "--registry"
	case hosts.MirrorURL:
		flag = "--mirror"
	case hosts.Capability:
		flag = "--capabilities"
	case hosts.UpstreamServer:
		flag, value = "--server-for", serverFor[ie.Value]
	case hosts.CAFile:
		flag = "--ca"
	case hosts.ClientCertFile:
		flag = "--client-cert/--client-key"
	default:
		return err
	}
	return fmt.Errorf("%s %q: %w", flag, value, flagError(ie.Err, serverFor))
}
