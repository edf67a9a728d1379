package hosts

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Input is a kind of value in a Config, for InputError.
type Input int

// The kinds of value in a Config.
const (
	RegistryHost   Input = iota + 1 // an entry of Config.Registries
	MirrorURL                       // Config.Mirror
	Capability                      // an entry of Config.Capabilities
	UpstreamServer                  // an entry of Config.Servers, named by its registry host
	CAFile                          // an entry of Config.CA
	ClientCertFile                  // Config.ClientCert and Config.ClientKey
)

// String names the kind of value in words.
func (i Input) String() string {
	switch i {
	case RegistryHost:
		return "registry host"
	case MirrorURL:
		return "mirror URL"
	case Capability:
		return "capability"
	case UpstreamServer:
		return "upstream server"
	case CAFile:
		return "CA file"
	case ClientCertFile:
		return "client certificate"
	}
	return "input " + strconv.Itoa(int(i))
}

// InputError is a value in a Config that cannot be used. It says which
// value it is, so that a front end that takes the values under names of
// its own (a CLI's flags) can report it by those names.
type InputError struct {
	Input Input  // what kind of value
	Value string // the value as given; for UpstreamServer, the registry host it is keyed by
	Err   error  // what is wrong with it
}

func (e *InputError) Error() string {
	what := e.Input.String()
	if e.Input == UpstreamServer {
		what += " for"
	}
	return fmt.Sprintf("%s %q: %v", what, e.Value, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

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
		return "", &InputError{Input: RegistryHost, Value: s, Err: errors.New(why)}
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
		return nil, &InputError{Input: MirrorURL, Value: s, Err: err}
	}
	return u, nil
}

// parseBaseURL checks a mirror or upstream server URL and returns it
// normalised to scheme and lower-case host.
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
			return nil, &InputError{Input: Capability, Value: c, Err: errors.New("not supported: a Shoal node refuses pushes into mirrored registries (push to the registry itself, or to a local repository on the node by its own name)")}
		case "":
		default:
			return nil, &InputError{Input: Capability, Value: c, Err: errors.New("want pull and/or resolve")}
		}
	}
	var out []string
	for _, c := range []string{"pull", "resolve"} {
		if want[c] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, &InputError{Input: Capability, Value: strings.Join(list, ","), Err: errors.New("want pull and/or resolve")}
	}
	return out, nil
}
