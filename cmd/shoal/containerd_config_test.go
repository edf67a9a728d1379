package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

var updateContainerdGolden = flag.Bool("update-containerd-golden", false, "rewrite testdata/containerd-config/*.golden")

func runContainerdConfig(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newContainerdConfigCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestContainerdConfigGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"default", []string{"--registry", "docker.io"}},
		{"several", []string{"--registry", "docker.io", "--registry", "ghcr.io", "--registry", "registry.k8s.io", "--registry", "quay.io"}},
		{"port-and-server-for", []string{"--registry", "127.0.0.1:5001", "--server-for", "127.0.0.1:5001=http://127.0.0.1:5001/", "--mirror", "http://127.0.0.1:5000/"}},
		{"https-mirror", []string{"--registry", "ghcr.io", "--mirror", "https://shoal.internal:5443", "--ca", "/etc/shoal/ca.pem", "--skip-verify", "--capabilities", "pull"}},
		{"several-cas", []string{"--registry", "Quay.IO", "--mirror", "https://[fd00::1]:5000", "--ca", "ca.pem", "--ca", "/etc/ssl/extra \"odd\".pem"}},
		{"default-dir", []string{"--registry", "_default", "--registry", "[fd00::2]:443"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runContainerdConfig(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "containerd-config", tt.name+".golden")
			if *updateContainerdGolden {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update-containerd-golden to create it)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, out, want)
			}
		})
	}
}

// TestContainerdConfigParsesBack reads the generated files with a decoder
// for the TOML subset they use and checks what containerd would see.
func TestContainerdConfigParsesBack(t *testing.T) {
	tests := []struct {
		name string
		c    containerdConfig
		want map[string]map[string]any // registry -> decoded document
	}{
		{
			name: "defaults",
			c:    containerdConfig{Registries: []string{"docker.io", "ghcr.io", "localhost:5001"}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull", "resolve"}},
			want: map[string]map[string]any{
				"docker.io": {
					"server": "https://registry-1.docker.io",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": []string{"pull", "resolve"}}},
				},
				"ghcr.io": {
					"server": "https://ghcr.io",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": []string{"pull", "resolve"}}},
				},
				"localhost:5001": {
					"server": "https://localhost:5001",
					"host":   map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": []string{"pull", "resolve"}}},
				},
			},
		},
		{
			name: "tls options and quoting",
			c: containerdConfig{
				Registries: []string{"registry.k8s.io"}, Mirror: "https://Node.Example:8443",
				Capabilities: []string{"resolve", "PULL", "pull"}, ServerFor: []string{"registry.k8s.io=https://mirror.example"},
				CA: []string{`C:\certs\"ca".pem`}, SkipVerify: true,
			},
			want: map[string]map[string]any{
				"registry.k8s.io": {
					"server": "https://mirror.example",
					"host": map[string]map[string]any{"https://node.example:8443": {
						"capabilities": []string{"pull", "resolve"},
						"ca":           `C:\certs\"ca".pem`,
						"skip_verify":  true,
					}},
				},
			},
		},
		{
			name: "_default has no server",
			c:    containerdConfig{Registries: []string{"_default"}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull"}},
			want: map[string]map[string]any{
				"_default": {"host": map[string]map[string]any{"http://127.0.0.1:5000": {"capabilities": []string{"pull"}}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := tt.c.render()
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

// decodeHostsTOML decodes the TOML subset hostsTOML writes: comments,
// top-level keys, [host."URL"] tables, and values that are basic strings,
// booleans or arrays of basic strings. TOML's basic-string escapes are a
// subset of Go's, so strconv.Unquote decodes them.
func decodeHostsTOML(body []byte) (map[string]any, error) {
	doc := map[string]any{}
	hosts := map[string]map[string]any{}
	var table map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if strings.HasPrefix(text, "[") {
			inner, ok := strings.CutPrefix(text, "[host.")
			if !ok || !strings.HasSuffix(inner, "]") {
				return nil, errorf(line, "unexpected table %s", text)
			}
			name, err := strconv.Unquote(strings.TrimSuffix(inner, "]"))
			if err != nil {
				return nil, errorf(line, "table name %s: %v", text, err)
			}
			if _, dup := hosts[name]; dup {
				return nil, errorf(line, "table %s twice", name)
			}
			table = map[string]any{}
			hosts[name] = table
			continue
		}
		key, raw, ok := strings.Cut(text, " = ")
		if !ok {
			return nil, errorf(line, "not key = value: %s", text)
		}
		var v any
		switch {
		case raw == "true" || raw == "false":
			v = raw == "true"
		case strings.HasPrefix(raw, `"`):
			s, err := strconv.Unquote(raw)
			if err != nil {
				return nil, errorf(line, "%s: %v", key, err)
			}
			v = s
		case strings.HasPrefix(raw, "[") && strings.HasSuffix(raw, "]"):
			var list []string
			for _, e := range splitTOMLArray(strings.TrimSuffix(strings.TrimPrefix(raw, "["), "]")) {
				s, err := strconv.Unquote(e)
				if err != nil {
					return nil, errorf(line, "%s element %s: %v", key, e, err)
				}
				list = append(list, s)
			}
			v = list
		default:
			return nil, errorf(line, "%s: unexpected value %s", key, raw)
		}
		dst := doc
		if table != nil {
			dst = table
		}
		if _, dup := dst[key]; dup {
			return nil, errorf(line, "key %s twice", key)
		}
		dst[key] = v
	}
	if len(hosts) > 0 {
		doc["host"] = hosts
	}
	return doc, sc.Err()
}

// splitTOMLArray splits the inside of an array of basic strings on the
// commas between elements.
func splitTOMLArray(s string) []string {
	var out []string
	var cur strings.Builder
	inString, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case inString && r == '\\':
			escaped = true
		case r == '"':
			inString = !inString
		case !inString && r == ',':
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if t := strings.TrimSpace(cur.String()); t != "" {
		out = append(out, t)
	}
	return out
}

func errorf(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

func TestTOMLStringRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `back\slash`, `"quoted"`, "tab\tnl\ncr\r", "bell\a del\x7f", "ünïcode ✓ 🐟"} {
		q := tomlString(s)
		if strings.ContainsAny(q[1:len(q)-1], "\n\r\t\x7f\a") {
			t.Errorf("tomlString(%q) = %s leaves a control character unescaped", s, q)
		}
		got, err := strconv.Unquote(q)
		if err != nil || got != s {
			t.Errorf("tomlString(%q) = %s, decodes to %q, %v", s, q, got, err)
		}
	}
}

func TestContainerdConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // a substring of the error
	}{
		{"no registry", nil, "at least one --registry"},
		{"URL as registry", []string{"--registry", "https://ghcr.io"}, "not a URL"},
		{"path in registry", []string{"--registry", "ghcr.io/org"}, "no path"},
		{"bad host", []string{"--registry", "-bad-.io"}, "not a valid host name"},
		{"bad port", []string{"--registry", "ghcr.io:99999"}, "port must be"},
		{"empty port", []string{"--registry", "ghcr.io:"}, "port must be"},
		{"bare ipv6", []string{"--registry", "fd00::1"}, "brackets"},
		{"ipv4 in brackets", []string{"--registry", "[10.0.0.1]:5000"}, "not an IPv6"},
		{"duplicate registry", []string{"--registry", "ghcr.io", "--registry", "GHCR.io"}, "given twice"},
		{"mirror not a URL", []string{"--registry", "ghcr.io", "--mirror", "127.0.0.1:5000"}, "http:// or https://"},
		{"mirror with path", []string{"--registry", "ghcr.io", "--mirror", "http://127.0.0.1:5000/v2/docker.io"}, "containerd adds /v2/"},
		{"mirror with query", []string{"--registry", "ghcr.io", "--mirror", "http://127.0.0.1:5000?ns=x"}, "query"},
		{"mirror with user", []string{"--registry", "ghcr.io", "--mirror", "http://u:p@127.0.0.1:5000"}, "credentials"},
		{"mirror without host", []string{"--registry", "ghcr.io", "--mirror", "http://:5000"}, "no host"},
		{"skip-verify on http", []string{"--registry", "ghcr.io", "--skip-verify"}, "only to an https mirror"},
		{"ca on http", []string{"--registry", "ghcr.io", "--ca", "/ca.pem"}, "only to an https mirror"},
		{"push capability", []string{"--registry", "ghcr.io", "--capabilities", "pull,push"}, "push is not supported"},
		{"unknown capability", []string{"--registry", "ghcr.io", "--capabilities", "fetch"}, "want pull and/or resolve"},
		{"no capability", []string{"--registry", "ghcr.io", "--capabilities", ""}, "want pull and/or resolve"},
		{"server-for shape", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io"}, "want HOST=URL"},
		{"server-for unknown host", []string{"--registry", "ghcr.io", "--server-for", "quay.io=https://quay.io"}, "not one of the --registry hosts"},
		{"server-for bad URL", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io=ftp://ghcr.io"}, "http:// or https://"},
		{"server-for twice", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io=https://a", "--server-for", "ghcr.io=https://b"}, "given twice"},
		{"server-for _default", []string{"--registry", "_default", "--server-for", "_default=https://a"}, "no server of its own"},
		{"arguments", []string{"--registry", "ghcr.io", "docker.io"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runContainerdConfig(t, tt.args...)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if out != "" {
				t.Errorf("printed output despite the error:\n%s", out)
			}
		})
	}
}

func TestContainerdConfigHelp(t *testing.T) {
	out, _, err := runContainerdConfig(t, "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`[plugins."io.containerd.grpc.v1.cri".registry]`,
		`[plugins."io.containerd.cri.v1.images".registry]`,
		`config_path = "/etc/containerd/certs.d"`,
		"--registry", "--mirror", "--dir", "--capabilities", "--server-for", "--ca", "--skip-verify",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
	t.Log(out)
}

func TestContainerdConfigWritesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs.d")
	args := []string{"--registry", "docker.io", "--registry", "127.0.0.1:5001", "--dir", dir}

	_, stderr, err := runContainerdConfig(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"docker.io", "127.0.0.1:5001"} {
		path := filepath.Join(dir, host, "hosts.toml")
		if !strings.Contains(stderr, "wrote "+path+"\n") {
			t.Errorf("stderr does not report %s:\n%s", path, stderr)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s mode %v, want 0644", path, fi.Mode().Perm())
		}
	}
	printed, _, err := runContainerdConfig(t, args[:4]...)
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(filepath.Join(dir, "docker.io", "hosts.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(printed, "# /etc/containerd/certs.d/docker.io/hosts.toml\n"+string(written)) {
		t.Errorf("written file differs from the printed one:\n%s\nprinted:\n%s", written, printed)
	}

	// A second run changes nothing.
	_, stderr, err = runContainerdConfig(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(stderr, "unchanged ") != 2 {
		t.Errorf("second run should leave both files alone:\n%s", stderr)
	}

	// A hand-written file is backed up once, then replaced.
	ghcr := filepath.Join(dir, "ghcr.io", "hosts.toml")
	if err := os.MkdirAll(filepath.Dir(ghcr), 0o755); err != nil {
		t.Fatal(err)
	}
	mine := []byte("server = \"https://ghcr.io\"\n")
	if err := os.WriteFile(ghcr, mine, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err = runContainerdConfig(t, "--registry", "ghcr.io", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "previous file kept as "+ghcr+backupSuffix) {
		t.Errorf("backup not reported:\n%s", stderr)
	}
	if b, err := os.ReadFile(ghcr + backupSuffix); err != nil || !bytes.Equal(b, mine) {
		t.Errorf("backup = %q, %v; want the hand-written file", b, err)
	}
	if b, _ := os.ReadFile(ghcr); !bytes.HasPrefix(b, []byte(hostsTOMLMarker)) {
		t.Errorf("ghcr.io/hosts.toml not replaced:\n%s", b)
	}
	// Our own earlier output is replaced without a backup.
	_, stderr, err = runContainerdConfig(t, "--registry", "ghcr.io", "--dir", dir, "--capabilities", "pull")
	if err != nil {
		t.Fatal(err)
	}
	if stderr != "wrote "+ghcr+"\n" {
		t.Errorf("stderr = %q", stderr)
	}
	if b, _ := os.ReadFile(ghcr + backupSuffix); !bytes.Equal(b, mine) {
		t.Errorf("the backup was overwritten: %q", b)
	}

	// No temporary files are left behind.
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestContainerdConfigDirError(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := runContainerdConfig(t, "--registry", "docker.io", "--dir", blocker)
	if err == nil || !strings.Contains(err.Error(), "creating "+filepath.Join(blocker, "docker.io")) {
		t.Errorf("err = %v, want a clear error naming the directory", err)
	}
}

// FuzzParseRegistryHost checks that an accepted host is always one safe
// directory name and yields a file that decodes.
func FuzzParseRegistryHost(f *testing.F) {
	for _, s := range []string{"docker.io", "127.0.0.1:5001", "[fd00::1]:5000", "_default", "..", "a/../b", "GHCR.IO", "x:0", "[::1", "host\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, err := parseRegistryHost(s)
		if err != nil {
			return
		}
		if host == "" || host == "." || host == ".." || strings.ContainsAny(host, `/\`) || filepath.Base(host) != host {
			t.Fatalf("parseRegistryHost(%q) = %q: not a single directory name", s, host)
		}
		c := containerdConfig{Registries: []string{s}, Mirror: "http://127.0.0.1:5000", Capabilities: []string{"pull"}}
		files, err := c.render()
		if err != nil {
			t.Fatalf("render(%q): %v", s, err)
		}
		if _, err := decodeHostsTOML(files[0].Body); err != nil {
			t.Fatalf("render(%q) does not decode: %v\n%s", s, err, files[0].Body)
		}
	})
}

// The Kubernetes manifests in deploy/kubernetes run this command in their
// init container; these tests keep them and the commands in step.
const kubernetesDir = "../../deploy/kubernetes"

// loadManifest reads one single-document manifest from deploy/kubernetes.
func loadManifest(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(kubernetesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "\n---") {
		t.Fatalf("%s: one document per file, please", name)
	}
	var doc map[string]any
	if err := yaml.UnmarshalStrict(raw, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// dig walks doc along keys (string keys for maps, int indexes for lists).
func dig(t *testing.T, doc any, path ...any) any {
	t.Helper()
	cur := doc
	for i, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map", path[:i])
			}
			if cur, ok = m[k]; !ok {
				t.Fatalf("%v: no key %q", path[:i], k)
			}
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no element %d", path[:i], k)
			}
			cur = l[k]
		}
	}
	return cur
}

func stringList(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%v: not a list", v)
	}
	out := make([]string, len(l))
	for i, e := range l {
		s, ok := e.(string)
		if !ok {
			t.Fatalf("%v: element %d is not a string", v, i)
		}
		out[i] = s
	}
	return out
}

func TestKubernetesManifestsParse(t *testing.T) {
	want := map[string][2]string{ // file -> apiVersion, kind
		"namespace.yaml":     {"v1", "Namespace"},
		"configmap.yaml":     {"v1", "ConfigMap"},
		"service.yaml":       {"v1", "Service"},
		"daemonset.yaml":     {"apps/v1", "DaemonSet"},
		"kustomization.yaml": {"kustomize.config.k8s.io/v1beta1", "Kustomization"},
	}
	entries, err := os.ReadDir(kubernetesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok {
			t.Errorf("%s: a file this test does not know; add it to the table", e.Name())
		}
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			doc := loadManifest(t, name)
			if doc["apiVersion"] != w[0] || doc["kind"] != w[1] {
				t.Errorf("apiVersion %v kind %v, want %s %s", doc["apiVersion"], doc["kind"], w[0], w[1])
			}
			if name == "kustomization.yaml" {
				return
			}
			if got := dig(t, doc, "metadata", "name"); got != "shoal" {
				t.Errorf("metadata.name %v, want shoal", got)
			}
			if name != "namespace.yaml" {
				if got := dig(t, doc, "metadata", "namespace"); got != "shoal" {
					t.Errorf("metadata.namespace %v, want shoal", got)
				}
			}
		})
	}
	// The kustomization lists every manifest.
	resources := stringList(t, dig(t, loadManifest(t, "kustomization.yaml"), "resources"))
	for name := range want {
		if name != "kustomization.yaml" && !slices.Contains(resources, name) {
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}
}

// parseArgs parses args (after the subcommand name) with cmd's flags.
func parseArgs(t *testing.T, cmd *cobra.Command, args []string) {
	t.Helper()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("%s %v: %v", cmd.Name(), args, err)
	}
	if rest := cmd.Flags().Args(); len(rest) > 0 {
		t.Fatalf("%s %v: unexpected arguments %v", cmd.Name(), args, rest)
	}
}

func TestKubernetesDaemonSetMatchesCommands(t *testing.T) {
	ds := loadManifest(t, "daemonset.yaml")
	spec := dig(t, ds, "spec", "template", "spec")

	// The node container runs `shoal node` with flags that exist.
	node := dig(t, spec, "containers", 0)
	if cmd := stringList(t, dig(t, node, "command")); !slices.Equal(cmd, []string{"/shoal"}) {
		t.Errorf("node container command %v, want [/shoal]", cmd)
	}
	args := stringList(t, dig(t, node, "args"))
	if len(args) == 0 || args[0] != "node" {
		t.Fatalf("node container args %v, want node ...", args)
	}
	nodeCmd := newNodeCommand()
	parseArgs(t, nodeCmd, args[1:])
	configFile := nodeCmd.Flags().Lookup("config").Value.String()
	if configFile == "" {
		t.Fatal("the node container is not given --config")
	}

	// The config file it names is the ConfigMap's, mounted there, and
	// every key in it is a node flag with a valid value.
	cm := loadManifest(t, "configmap.yaml")
	key := filepath.Base(configFile)
	body, ok := dig(t, cm, "data").(map[string]any)[key].(string)
	if !ok {
		t.Fatalf("configmap.yaml has no data key %s (the file --config names)", key)
	}
	mounted := false
	for _, m := range dig(t, node, "volumeMounts").([]any) {
		m := m.(map[string]any)
		if m["mountPath"] == filepath.Dir(configFile) {
			vol := volumeByName(t, spec, m["name"].(string))
			mounted = dig(t, vol, "configMap", "name") == "shoal"
		}
	}
	if !mounted {
		t.Errorf("ConfigMap shoal is not mounted at %s", filepath.Dir(configFile))
	}
	file := filepath.Join(t.TempDir(), key)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	nodeCmd = newNodeCommand()
	if err := applyConfig(nodeCmd.Flags(), file, func(string) string { return "" }); err != nil {
		t.Fatalf("configmap.yaml config: %v", err)
	}
	flagValue := func(name string) string { return nodeCmd.Flags().Lookup(name).Value.String() }

	// The data dir is the hostPath volume.
	dataDir := flagValue("data-dir")
	var dataVolume string
	for _, m := range dig(t, node, "volumeMounts").([]any) {
		if m := m.(map[string]any); m["mountPath"] == dataDir {
			dataVolume = m["name"].(string)
		}
	}
	if dataVolume == "" {
		t.Fatalf("data-dir %s is not a volume mount", dataDir)
	}
	if got := dig(t, volumeByName(t, spec, dataVolume), "hostPath", "type"); got != "DirectoryOrCreate" {
		t.Errorf("data volume hostPath type %v", got)
	}

	// bootstrap-dns names the headless Service, which publishes the ports
	// the node listens on.
	svc := loadManifest(t, "service.yaml")
	wantDNS := dig(t, svc, "metadata", "name").(string) + "." + dig(t, svc, "metadata", "namespace").(string) + ".svc.cluster.local"
	if got := flagValue("bootstrap-dns"); got != wantDNS {
		t.Errorf("bootstrap-dns %q, want the Service's name %q", got, wantDNS)
	}
	if dig(t, svc, "spec", "clusterIP") != "None" || dig(t, svc, "spec", "publishNotReadyAddresses") != true {
		t.Error("the Service must be headless and publish pods that are not ready")
	}
	containerPorts := map[string]float64{}
	for _, p := range dig(t, node, "ports").([]any) {
		p := p.(map[string]any)
		containerPorts[p["name"].(string)] = p["containerPort"].(float64)
	}
	if !strings.HasSuffix(flagValue("listen"), ":5000") || containerPorts["registry"] != 5000 {
		t.Errorf("listen %s, registry containerPort %v: want 5000 for both", flagValue("listen"), containerPorts["registry"])
	}
	if !strings.Contains(flagValue("p2p-listen"), "/tcp/5001") || containerPorts["p2p"] != 5001 {
		t.Errorf("p2p-listen %s, p2p containerPort %v: want 5001 for both", flagValue("p2p-listen"), containerPorts["p2p"])
	}
	for _, p := range dig(t, svc, "spec", "ports").([]any) {
		p := p.(map[string]any)
		if containerPorts[p["targetPort"].(string)] != p["port"].(float64) {
			t.Errorf("Service port %v does not match container port %v", p["name"], p["targetPort"])
		}
	}

	// The init container runs containerd-config with flags that exist,
	// into the hostPath mounted at --dir, for every upstream rule.
	initC := dig(t, spec, "initContainers", 0)
	if dig(t, initC, "image") != dig(t, node, "image") {
		t.Error("the init container should use the node's image")
	}
	initArgs := append(stringList(t, dig(t, initC, "command")), stringList(t, dig(t, initC, "args"))...)
	if len(initArgs) < 2 || initArgs[0] != "/shoal" || initArgs[1] != "containerd-config" {
		t.Fatalf("init container runs %v, want /shoal containerd-config ...", initArgs)
	}
	ccCmd := newContainerdConfigCommand()
	parseArgs(t, ccCmd, initArgs[2:])
	var cc containerdConfig
	cc.Registries, _ = ccCmd.Flags().GetStringArray("registry")
	cc.Mirror, _ = ccCmd.Flags().GetString("mirror")
	cc.Capabilities, _ = ccCmd.Flags().GetStringSlice("capabilities")
	cc.Dir, _ = ccCmd.Flags().GetString("dir")
	if _, err := cc.render(); err != nil {
		t.Fatalf("init container arguments: %v", err)
	}
	var rules []string
	for _, r := range nodeCmd.Flags().Lookup("upstream").Value.(interface{ GetSlice() []string }).GetSlice() {
		name, _, _ := strings.Cut(r, "=")
		rules = append(rules, name)
	}
	if !slices.Equal(cc.Registries, rules) {
		t.Errorf("containerd-config registries %v differ from the node's upstream rules %v", cc.Registries, rules)
	}
	if cc.Mirror != "http://127.0.0.1"+flagValue("listen") {
		t.Errorf("--mirror %s does not reach listen %s on loopback", cc.Mirror, flagValue("listen"))
	}
	var certsVolume string
	for _, m := range dig(t, initC, "volumeMounts").([]any) {
		if m := m.(map[string]any); m["mountPath"] == cc.Dir {
			certsVolume = m["name"].(string)
		}
	}
	if certsVolume == "" {
		t.Fatalf("--dir %s is not a volume mount of the init container", cc.Dir)
	}
	if got := dig(t, volumeByName(t, spec, certsVolume), "hostPath", "path"); got != defaultCertsDir {
		t.Errorf("--dir is host path %v, want %s", got, defaultCertsDir)
	}

	// What the brief for a node-level mirror asks of the pod.
	if dig(t, spec, "hostNetwork") != true || dig(t, spec, "dnsPolicy") != "ClusterFirstWithHostNet" {
		t.Error("want hostNetwork with dnsPolicy ClusterFirstWithHostNet")
	}
	shutdown, err := nodeCmd.Flags().GetDuration("shutdown-timeout")
	if err != nil {
		t.Fatal(err)
	}
	if got := dig(t, spec, "terminationGracePeriodSeconds").(float64); got < shutdown.Seconds()+10 {
		t.Errorf("terminationGracePeriodSeconds %v leaves too little room for shutdown-timeout %v", got, shutdown)
	}
	if dig(t, node, "readinessProbe", "httpGet", "path") != "/readyz" || dig(t, node, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Error("want readiness on /readyz and liveness on /healthz")
	}
	for _, c := range []any{initC, node} {
		sc := dig(t, c, "securityContext")
		if dig(t, sc, "readOnlyRootFilesystem") != true || dig(t, sc, "allowPrivilegeEscalation") != false {
			t.Errorf("%v: want a read-only root filesystem and no privilege escalation", dig(t, c, "name"))
		}
		if dig(t, c, "resources", "limits", "memory") == nil {
			t.Errorf("%v: no memory limit", dig(t, c, "name"))
		}
	}
}

func volumeByName(t *testing.T, podSpec any, name string) any {
	t.Helper()
	for _, v := range dig(t, podSpec, "volumes").([]any) {
		if v.(map[string]any)["name"] == name {
			return v
		}
	}
	t.Fatalf("no volume %q", name)
	return nil
}
