package hosts

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestFilesDecode reads the generated files back and checks what
// containerd would see.
func TestFilesDecode(t *testing.T) {
	pullResolve := []string{"pull", "resolve"}
	tests := []struct {
		name string
		c    Config
		want map[string]map[string]any // registry -> decoded document
	}{
		{
			name: "defaults",
			c:    Config{Registries: []string{"docker.io", "ghcr.io", "localhost:5001"}, Mirror: "http://127.0.0.1:5000", Capabilities: pullResolve},
			want: map[string]map[string]any{
				"docker.io": {
					"server": "https://registry-1.docker.io",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": pullResolve}},
				},
				"ghcr.io": {
					"server": "https://ghcr.io",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": pullResolve}},
				},
				"localhost:5001": {
					"server": "https://localhost:5001",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": pullResolve}},
				},
			},
		},
		{
			name: "tls options and quoting",
			c: Config{
				Registries: []string{"registry.k8s.io"}, Mirror: "https://Node.Example:8443",
				Capabilities: []string{"resolve", "PULL", "pull"}, Servers: map[string]string{"registry.k8s.io": "https://mirror.example"},
				CA: []string{`C:\certs\"ca".pem`}, SkipVerify: true,
			},
			want: map[string]map[string]any{
				"registry.k8s.io": {
					"server": "https://mirror.example",
					"host": map[string]map[string]any{"https://node.example:8443": {
						"capabilities": pullResolve,
						"ca":           `C:\certs\"ca".pem`,
						"skip_verify":  true,
					}},
				},
			},
		},
		{
			name: "server keyed by the host as the registry was given",
			c: Config{
				Registries: []string{"127.0.0.1:5001", "Quay.IO"}, Mirror: "http://127.0.0.1:5000/", Capabilities: []string{"pull"},
				Servers: map[string]string{"127.0.0.1:5001": "http://127.0.0.1:5001/", "QUAY.io": "HTTPS://Quay.Example"},
			},
			want: map[string]map[string]any{
				"127.0.0.1:5001": {
					"server": "http://127.0.0.1:5001",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": []string{"pull"}}},
				},
				"quay.io": {
					"server": "https://quay.example",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": []string{"pull"}}},
				},
			},
		},
		{
			name: "_default has no server",
			c:    Config{Registries: []string{"_default"}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull"}},
			want: map[string]map[string]any{
				"_default": {"host": map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": []string{"pull"}}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := tt.c.Files()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]map[string]any{}
			for _, f := range files {
				doc, err := decodeHostsTOML(f.Body)
				if err != nil {
					t.Fatalf("%s: %v\n%s", f.Registry, err, f.Body)
				}
				if _, ok := doc["override_path"]; ok {
					t.Errorf("%s: override_path set", f.Registry)
				}
				got[f.Registry] = doc
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestFilesOrder(t *testing.T) {
	c := Config{Registries: []string{"quay.io", "docker.io", "_default", "ghcr.io"}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull"}}
	files, err := c.Files()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Registry)
	}
	if !reflect.DeepEqual(got, c.Registries) {
		t.Errorf("files for %v, want the order given, %v", got, c.Registries)
	}
	if p := files[1].Path("/x"); p != filepath.Join("/x", "docker.io", "hosts.toml") {
		t.Errorf("Path = %s", p)
	}
}

func TestFilesErrors(t *testing.T) {
	ok := Config{Registries: []string{"ghcr.io"}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull", "resolve"}}
	with := func(change func(*Config)) Config {
		c := ok
		change(&c)
		return c
	}
	tests := []struct {
		name  string
		c     Config
		input Input  // 0: not an InputError
		value string // InputError.Value
		want  string // the whole message
	}{
		{"no registry", with(func(c *Config) { c.Registries = nil }), 0, "", "no registry hosts given"},
		{"bad registry", with(func(c *Config) { c.Registries = []string{"ghcr.io", "ghcr.io/org"} }), RegistryHost, "ghcr.io/org",
			`registry host "ghcr.io/org": want a host or host:port, with no path (e.g. ghcr.io or 127.0.0.1:5001)`},
		{"duplicate registry", with(func(c *Config) { c.Registries = []string{"ghcr.io", "GHCR.io"} }), RegistryHost, "GHCR.io",
			`registry host "GHCR.io": ghcr.io is given twice`},
		{"mirror not a URL", with(func(c *Config) { c.Mirror = "127.0.0.1:5000" }), MirrorURL, "127.0.0.1:5000",
			`mirror URL "127.0.0.1:5000": want an http:// or https:// URL`},
		{"no mirror", with(func(c *Config) { c.Mirror = "" }), MirrorURL, "", `mirror URL "": want an http:// or https:// URL`},
		{"skip_verify on http", with(func(c *Config) { c.SkipVerify = true }), MirrorURL, "http://127.0.0.1:5000",
			`mirror URL "http://127.0.0.1:5000": CA files and skip_verify apply only to an https mirror`},
		{"CA on http", with(func(c *Config) { c.CA = []string{"/ca.pem"} }), MirrorURL, "http://127.0.0.1:5000",
			`mirror URL "http://127.0.0.1:5000": CA files and skip_verify apply only to an https mirror`},
		{"empty CA", with(func(c *Config) { c.Mirror, c.CA = "https://n", []string{"a.pem", " "} }), CAFile, " ", `CA file " ": empty file name`},
		{"client certificate without its key", with(func(c *Config) { c.Mirror, c.ClientCert = "https://n", "c.pem" }), ClientCertFile, "c.pem",
			`client certificate "c.pem": a client certificate and its key go together`},
		{"client certificate on http", with(func(c *Config) { c.ClientCert, c.ClientKey = "c.pem", "k.pem" }), MirrorURL, "http://127.0.0.1:5000",
			`mirror URL "http://127.0.0.1:5000": a client certificate applies only to an https mirror`},
		{"push", with(func(c *Config) { c.Capabilities = []string{"pull", " Push"} }), Capability, "push",
			`capability "push": not supported: a Shoal node refuses pushes into mirrored registries (push to the registry itself, or to a local repository on the node by its own name)`},
		{"unknown capability", with(func(c *Config) { c.Capabilities = []string{"Fetch"} }), Capability, "fetch", `capability "fetch": want pull and/or resolve`},
		{"no capability", with(func(c *Config) { c.Capabilities = []string{"", " "} }), Capability, ", ", `capability ", ": want pull and/or resolve`},
		{"server for a bad host", with(func(c *Config) { c.Servers = map[string]string{"ghcr.io/x": "https://a"} }), UpstreamServer, "ghcr.io/x",
			`upstream server for "ghcr.io/x": registry host "ghcr.io/x": want a host or host:port, with no path (e.g. ghcr.io or 127.0.0.1:5001)`},
		{"server for another registry", with(func(c *Config) { c.Servers = map[string]string{"quay.io": "https://quay.io"} }), UpstreamServer, "quay.io",
			`upstream server for "quay.io": quay.io is not one of the registry hosts`},
		{"server for _default", with(func(c *Config) {
			c.Registries = []string{"_default"}
			c.Servers = map[string]string{"_default": "https://a"}
		}), UpstreamServer, "_default", `upstream server for "_default": _default has no server of its own`},
		{"server twice", with(func(c *Config) { c.Servers = map[string]string{"ghcr.io": "https://a", "GHCR.IO": "https://b"} }), UpstreamServer, "ghcr.io",
			`upstream server for "ghcr.io": ghcr.io is given twice`},
		{"server not http", with(func(c *Config) { c.Servers = map[string]string{"ghcr.io": "ftp://ghcr.io"} }), UpstreamServer, "ghcr.io",
			`upstream server for "ghcr.io": want an http:// or https:// URL`},
		// The first problem in the order Files checks is the one reported.
		{"mirror before registries", with(func(c *Config) { c.Registries, c.Mirror = []string{"a/b"}, "x" }), MirrorURL, "x",
			`mirror URL "x": want an http:// or https:// URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := tt.c.Files()
			if err == nil {
				t.Fatalf("no error; files %v", files)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
			var ie *InputError
			switch {
			case !errors.As(err, &ie):
				if tt.input != 0 {
					t.Errorf("not an InputError: %#v", err)
				}
			case ie.Input != tt.input || ie.Value != tt.value:
				t.Errorf("InputError{%v, %q}, want {%v, %q}", ie.Input, ie.Value, tt.input, tt.value)
			}
			if files != nil {
				t.Errorf("files %v despite the error", files)
			}
		})
	}
}

func TestInputString(t *testing.T) {
	for _, in := range []Input{RegistryHost, MirrorURL, Capability, UpstreamServer, CAFile, ClientCertFile} {
		if s := in.String(); s == "" || strings.HasPrefix(s, "input ") || strings.Contains(s, "-") {
			t.Errorf("Input(%d).String() = %q", int(in), s)
		}
	}
	if s := Input(0).String(); s != "input 0" {
		t.Errorf("Input(0).String() = %q", s)
	}
}
