package hosts

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseRegistryHost(t *testing.T) {
	tests := []struct {
		in, want string // want "" with a wantErr
		wantErr  string // a substring of the error
	}{
		{in: "docker.io", want: "docker.io"},
		{in: "GHCR.IO", want: "ghcr.io"},
		{in: "127.0.0.1:5001", want: "127.0.0.1:5001"},
		{in: "localhost", want: "localhost"},
		{in: "[fd00::1]:5000", want: "[fd00::1]:5000"},
		{in: "[FD00::1]", want: "[fd00::1]"},
		{in: "_default", want: "_default"},
		{in: "a-b.example:65535", want: "a-b.example:65535"},
		{in: "", wantErr: "empty"},
		{in: "https://ghcr.io", wantErr: "not a URL"},
		{in: "ghcr.io/org", wantErr: "no path"},
		{in: "user@ghcr.io", wantErr: "no path"},
		{in: "ghcr io", wantErr: "no path"},
		{in: "-bad-.io", wantErr: "not a valid host name"},
		{in: "a..b", wantErr: "not a valid host name"},
		{in: "..", wantErr: "not a valid host name"},
		{in: "_DEFAULT", wantErr: "not a valid host name"},
		{in: strings.Repeat("a", 64) + ".io", wantErr: "not a valid host name"},
		{in: "ghcr.io:99999", wantErr: "port must be"},
		{in: "ghcr.io:0", wantErr: "port must be"},
		{in: "ghcr.io:05", wantErr: "port must be"},
		{in: "ghcr.io:", wantErr: "port must be"},
		{in: "fd00::1", wantErr: "brackets"},
		{in: "[10.0.0.1]:5000", wantErr: "not an IPv6"},
		{in: "[fd00::1", wantErr: "unclosed ["},
		{in: "[fd00::1]x", wantErr: "want [ipv6] or [ipv6]:port"},
		{in: "[fd00::1]:", wantErr: "port must be"},
	}
	for _, tt := range tests {
		got, err := parseRegistryHost(tt.in)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("parseRegistryHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		var ie *InputError
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parseRegistryHost(%q) = %q, %v; want an error mentioning %q", tt.in, got, err, tt.wantErr)
		} else if !errors.As(err, &ie) || ie.Input != RegistryHost || ie.Value != tt.in {
			t.Errorf("parseRegistryHost(%q): %#v is not a RegistryHost InputError for the value", tt.in, err)
		}
	}
}

func TestParseMirrorURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  string
	}{
		{in: "http://127.0.0.1:5000", want: "http://127.0.0.1:5000"},
		{in: "http://127.0.0.1:5000/", want: "http://127.0.0.1:5000"},
		{in: "HTTPS://Node.Example:8443", want: "https://node.example:8443"},
		{in: "https://[FD00::1]:5000", want: "https://[fd00::1]:5000"},
		{in: "http://shoal", want: "http://shoal"},
		{in: "127.0.0.1:5000", wantErr: "http:// or https://"},
		{in: "", wantErr: "http:// or https://"},
		{in: "ftp://h", wantErr: "http:// or https://"},
		{in: "http://h%zz", wantErr: "not a URL"},
		{in: "http://127.0.0.1:5000/v2/docker.io", wantErr: "containerd adds /v2/"},
		{in: "http://127.0.0.1:5000?ns=x", wantErr: "query"},
		{in: "http://127.0.0.1:5000?", wantErr: "query"},
		{in: "http://127.0.0.1:5000#top", wantErr: "fragment"},
		{in: "http://u:p@127.0.0.1:5000", wantErr: "credentials"},
		{in: "http://:5000", wantErr: "no host"},
		{in: "http://h:99999", wantErr: "port must be"},
		{in: "http://h:0", wantErr: "port must be"},
	}
	for _, tt := range tests {
		u, err := parseMirrorURL(tt.in)
		if tt.wantErr == "" {
			if err != nil || u.String() != tt.want {
				t.Errorf("parseMirrorURL(%q) = %v, %v; want %s", tt.in, u, err, tt.want)
			}
			continue
		}
		var ie *InputError
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parseMirrorURL(%q) = %v, %v; want an error mentioning %q", tt.in, u, err, tt.wantErr)
		} else if !errors.As(err, &ie) || ie.Input != MirrorURL || ie.Value != tt.in {
			t.Errorf("parseMirrorURL(%q): %#v is not a MirrorURL InputError for the value", tt.in, err)
		}
	}
}

func TestParseCapabilities(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: []string{"pull", "resolve"}, want: []string{"pull", "resolve"}},
		{in: []string{"resolve", "pull"}, want: []string{"pull", "resolve"}},
		{in: []string{" PULL ", "pull", ""}, want: []string{"pull"}},
		{in: []string{"resolve"}, want: []string{"resolve"}},
		{in: nil, wantErr: "want pull and/or resolve"},
		{in: []string{""}, wantErr: "want pull and/or resolve"},
		{in: []string{"pull", "fetch"}, wantErr: `"fetch": want pull and/or resolve`},
		{in: []string{"pull", "push"}, wantErr: `"push": not supported`},
	}
	for _, tt := range tests {
		got, err := parseCapabilities(tt.in)
		if tt.wantErr == "" {
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseCapabilities(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		var ie *InputError
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parseCapabilities(%q) = %q, %v; want an error mentioning %q", tt.in, got, err, tt.wantErr)
		} else if !errors.As(err, &ie) || ie.Input != Capability {
			t.Errorf("parseCapabilities(%q): %#v is not a Capability InputError", tt.in, err)
		}
	}
}

// FuzzParseRegistryHost checks that an accepted host is always one safe
// directory name, is already in the form it is normalised to, and yields
// a file that decodes.
func FuzzParseRegistryHost(f *testing.F) {
	for _, s := range []string{"docker.io", "127.0.0.1:5001", "[fd00::1]:5000", "_default", "..", "a/../b", "GHCR.IO", "x:0", "[::1", "host\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, err := parseRegistryHost(s)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Input != RegistryHost || ie.Value != s {
				t.Fatalf("parseRegistryHost(%q): %#v is not a RegistryHost InputError for the value", s, err)
			}
			return
		}
		if host == "" || host == "." || host == ".." || strings.ContainsAny(host, `/\`) || filepath.Base(host) != host {
			t.Fatalf("parseRegistryHost(%q) = %q: not a single directory name", s, host)
		}
		if again, err := parseRegistryHost(host); err != nil || again != host {
			t.Fatalf("parseRegistryHost(%q) = %q, but that parses as %q, %v", s, host, again, err)
		}
		c := Config{Registries: []string{s}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull"}}
		files, err := c.Files()
		if err != nil {
			t.Fatalf("Files for %q: %v", s, err)
		}
		if _, err := decodeHostsTOML(files[0].Body); err != nil {
			t.Fatalf("file for %q does not decode: %v\n%s", s, err, files[0].Body)
		}
	})
}

// FuzzParseMirrorURL checks that an accepted mirror URL is normalised to
// scheme and host, that the normalised form is accepted unchanged, and
// that a file naming it decodes to the same URL.
func FuzzParseMirrorURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:5000", "HTTPS://Node.Example:8443/", "https://[fd00::1]:5000", "http://h%zz", "http://u@h", "http://h?", "http://h:0", `http://"h"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseMirrorURL(s)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Input != MirrorURL || ie.Value != s {
				t.Fatalf("parseMirrorURL(%q): %#v is not a MirrorURL InputError for the value", s, err)
			}
			return
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			t.Fatalf("parseMirrorURL(%q) = %#v: not scheme and host only", s, u)
		}
		mirror := u.String()
		if again, err := parseMirrorURL(mirror); err != nil || again.String() != mirror {
			t.Fatalf("parseMirrorURL(%q) = %s, but that parses as %v, %v", s, mirror, again, err)
		}
		files, err := Config{Registries: []string{"docker.io"}, Mirror: s, Capabilities: []string{"pull"}}.Files()
		if err != nil {
			t.Fatalf("Files with mirror %q: %v", s, err)
		}
		doc, err := decodeHostsTOML(files[0].Body)
		if err != nil {
			t.Fatalf("file with mirror %q does not decode: %v\n%s", s, err, files[0].Body)
		}
		if _, ok := doc["host"].(map[string]map[string]any)[mirror]; !ok {
			t.Fatalf("file with mirror %q has no [host.%q] table:\n%s", s, mirror, files[0].Body)
		}
	})
}
