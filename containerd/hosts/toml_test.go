package hosts

import (
	"strconv"
	"strings"
	"testing"
)

func TestTOMLString(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"plain", `"plain"`},
		{`back\slash`, `"back\\slash"`},
		{`"quoted"`, `"\"quoted\""`},
		{"tab\tnl\ncr\r", `"tab\tnl\ncr\r"`},
		{"bs\b ff\f", `"bs\b ff\f"`},
		{"bell\a del\x7f nul\x00", `"bell\u0007 del\u007F nul\u0000"`},
		{"ünïcode ✓ 🐟", `"ünïcode ✓ 🐟"`},
	}
	for _, tt := range tests {
		q := tomlString(tt.in)
		if q != tt.want {
			t.Errorf("tomlString(%q) = %s, want %s", tt.in, q, tt.want)
		}
		if strings.ContainsAny(q[1:len(q)-1], "\n\r\t\x7f\a\x00") {
			t.Errorf("tomlString(%q) = %s leaves a control character unescaped", tt.in, q)
		}
		// TOML's basic-string escapes are a subset of Go's.
		if got, err := strconv.Unquote(q); err != nil || got != tt.in {
			t.Errorf("tomlString(%q) = %s, decodes to %q, %v", tt.in, q, got, err)
		}
	}
}

func TestTOMLStrings(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{nil, `[]`},
		{[]string{"pull"}, `["pull"]`},
		{[]string{"a, b", `c"d`}, `["a, b", "c\"d"]`},
	}
	for _, tt := range tests {
		if got := tomlStrings(tt.in); got != tt.want {
			t.Errorf("tomlStrings(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	const head = Marker + "\n# Pulls try the Shoal node first, then the upstream registry.\n"
	tests := []struct {
		name       string
		server     string
		caps, cas  []string
		skipVerify bool
		clientCert string
		clientKey  string
		want       string
	}{
		{
			name:   "server",
			server: "https://registry-1.docker.io",
			caps:   []string{"pull", "resolve"},
			want: head + `server = "https://registry-1.docker.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
`,
		},
		{
			name: "no server",
			caps: []string{"pull"},
			want: head + `
[host."http://127.0.0.1:5000"]
  capabilities = ["pull"]
`,
		},
		{
			name:       "one CA and skip_verify",
			server:     "https://ghcr.io",
			caps:       []string{"resolve"},
			cas:        []string{"/etc/shoal/ca.pem"},
			skipVerify: true,
			want: head + `server = "https://ghcr.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["resolve"]
  ca = "/etc/shoal/ca.pem"
  skip_verify = true
`,
		},
		{
			name:   "several CAs",
			server: "https://quay.io",
			caps:   []string{"pull", "resolve"},
			cas:    []string{"ca.pem", `odd "name".pem`},
			want: head + `server = "https://quay.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
  ca = ["ca.pem", "odd \"name\".pem"]
`,
		},
		{
			name:       "client certificate",
			server:     "https://quay.io",
			caps:       []string{"pull", "resolve"},
			cas:        []string{"ca.pem"},
			clientCert: "/etc/shoal/client.pem",
			clientKey:  "/etc/shoal/client.key",
			want: head + `server = "https://quay.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]
  ca = "ca.pem"
  client = [["/etc/shoal/client.pem", "/etc/shoal/client.key"]]
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(render(tt.server, "http://127.0.0.1:5000", tt.caps, tt.cas, tt.skipVerify, tt.clientCert, tt.clientKey))
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			if _, err := decodeHostsTOML([]byte(got)); err != nil {
				t.Errorf("does not decode: %v", err)
			}
		})
	}
}
