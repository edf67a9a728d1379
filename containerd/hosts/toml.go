package hosts

import (
	"bytes"
	"fmt"
	"strings"
)

// Marker starts every file this package renders, so that a later run (and
// an operator cleaning up) can tell Shoal's files from ones written by
// hand.
const Marker = "# Written by `shoal containerd-config`."

// render is the text of one hosts.toml. override_path is never set: the
// node takes the registry from containerd's ?ns= parameter, so
// containerd's usual /v2/<repo> paths are right.
func render(server, mirror string, caps, cas []string, skipVerify bool, clientCert, clientKey string) []byte {
	var b bytes.Buffer
	b.WriteString(Marker + "\n")
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
	if clientCert != "" {
		fmt.Fprintf(&b, "  client = [%s]\n", tomlStrings([]string{clientCert, clientKey}))
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

// tomlStrings writes list as a TOML array of basic strings.
func tomlStrings(list []string) string {
	quoted := make([]string, len(list))
	for i, s := range list {
		quoted[i] = tomlString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
