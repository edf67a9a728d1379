package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/containerd/hosts"
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

// TestContainerdConfigErrors checks that errors name the flag and the
// value as the user gave them; containerd/hosts tests the checks.
func TestContainerdConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // the whole error
	}{
		{"no registry", nil, "containerd-config: give at least one --registry (e.g. --registry docker.io)"},
		{"URL as registry", []string{"--registry", "https://ghcr.io"}, `--registry "https://ghcr.io": give the registry host as it appears in image names (e.g. ghcr.io), not a URL`},
		{"bad port", []string{"--registry", "ghcr.io:99999"}, `--registry "ghcr.io:99999": the port must be a number from 1 to 65535`},
		{"duplicate registry", []string{"--registry", "ghcr.io", "--registry", "GHCR.io"}, `--registry "GHCR.io": ghcr.io is given twice`},
		{"mirror with path", []string{"--registry", "ghcr.io", "--mirror", "http://127.0.0.1:5000/v2/docker.io"}, `--mirror "http://127.0.0.1:5000/v2/docker.io": want scheme and host only: containerd adds /v2/ itself`},
		{"skip-verify on http", []string{"--registry", "ghcr.io", "--skip-verify"}, `--mirror "http://127.0.0.1:5000": CA files and skip_verify apply only to an https mirror`},
		{"empty ca", []string{"--registry", "ghcr.io", "--mirror", "https://n", "--ca", ""}, `--ca "": empty file name`},
		{"push capability", []string{"--registry", "ghcr.io", "--capabilities", "pull,push"}, `--capabilities "push": not supported: a Shoal node refuses pushes into mirrored registries (push to the registry itself, or to a local repository on the node by its own name)`},
		{"no capability", []string{"--registry", "ghcr.io", "--capabilities", ""}, `--capabilities "": want pull and/or resolve`},
		{"server-for shape", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io"}, `--server-for "ghcr.io": want HOST=URL`},
		{"server-for empty URL", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io= "}, `--server-for "ghcr.io= ": want HOST=URL`},
		{"server-for bad host", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io/x=https://a"}, `--server-for "ghcr.io/x=https://a": --registry "ghcr.io/x": want a host or host:port, with no path (e.g. ghcr.io or 127.0.0.1:5001)`},
		{"server-for unknown host", []string{"--registry", "ghcr.io", "--server-for", " quay.io = https://quay.io"}, `--server-for " quay.io = https://quay.io": quay.io is not one of the registry hosts`},
		{"server-for bad URL", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io=ftp://ghcr.io"}, `--server-for "ghcr.io=ftp://ghcr.io": want an http:// or https:// URL`},
		{"server-for twice", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io=https://a", "--server-for", "ghcr.io=https://b"}, `--server-for "ghcr.io=https://b": ghcr.io is given twice`},
		{"server-for twice, spelt differently", []string{"--registry", "ghcr.io", "--server-for", "ghcr.io=https://a", "--server-for", "GHCR.io=https://b"}, `--server-for "ghcr.io=https://a": ghcr.io is given twice`},
		{"server-for _default", []string{"--registry", "_default", "--server-for", "_default=https://a"}, `--server-for "_default=https://a": _default has no server of its own`},
		{"arguments", []string{"--registry", "ghcr.io", "docker.io"}, `unknown command "docker.io" for "containerd-config"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runContainerdConfig(t, tt.args...)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
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

// TestContainerdConfigWritesDir checks what --dir reports on standard
// error; containerd/hosts tests the writing itself.
func TestContainerdConfigWritesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs.d")
	args := []string{"--registry", "docker.io", "--registry", "127.0.0.1:5001", "--dir", dir}
	docker := filepath.Join(dir, "docker.io", "hosts.toml")
	local := filepath.Join(dir, "127.0.0.1:5001", "hosts.toml")
	ghcr := filepath.Join(dir, "ghcr.io", "hosts.toml")
	mine := []byte("server = \"https://ghcr.io\"\n")
	steps := []struct {
		name        string
		handWritten []byte // write this to ghcr.io/hosts.toml first
		args        []string
		wantStderr  string
	}{
		{"new", nil, args, "wrote " + docker + "\nwrote " + local + "\n"},
		{"same again", nil, args, "unchanged " + docker + "\nunchanged " + local + "\n"},
		{"hand-written", mine, []string{"--registry", "ghcr.io", "--dir", dir}, "wrote (previous file kept as " + ghcr + hosts.BackupSuffix + ") " + ghcr + "\n"},
		{"our own", nil, []string{"--registry", "ghcr.io", "--dir", dir, "--capabilities", "pull"}, "wrote " + ghcr + "\n"},
		{"hand-written again", mine, []string{"--registry", "ghcr.io", "--dir", dir},
			"wrote (replacing a hand-written file; " + ghcr + hosts.BackupSuffix + " already exists and was kept) " + ghcr + "\n"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.handWritten != nil {
				if err := os.MkdirAll(filepath.Dir(ghcr), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(ghcr, step.handWritten, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, err := runContainerdConfig(t, step.args...)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != "" {
				t.Errorf("printed to standard output with --dir:\n%s", stdout)
			}
			if stderr != step.wantStderr {
				t.Errorf("stderr\n%s\nwant\n%s", stderr, step.wantStderr)
			}
		})
	}

	// What --dir writes is what is printed without it.
	printed, _, err := runContainerdConfig(t, args[:4]...)
	if err != nil {
		t.Fatal(err)
	}
	written, err := os.ReadFile(docker)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(printed, "# /etc/containerd/certs.d/docker.io/hosts.toml\n"+string(written)) {
		t.Errorf("written file differs from the printed one:\n%s\nprinted:\n%s", written, printed)
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
	var cc containerdConfigFlags
	cc.Registries, _ = ccCmd.Flags().GetStringArray("registry")
	cc.Mirror, _ = ccCmd.Flags().GetString("mirror")
	cc.Capabilities, _ = ccCmd.Flags().GetStringSlice("capabilities")
	cc.Dir, _ = ccCmd.Flags().GetString("dir")
	if _, err := cc.files(); err != nil {
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
	if got := dig(t, volumeByName(t, spec, certsVolume), "hostPath", "path"); got != hosts.DefaultConfigPath {
		t.Errorf("--dir is host path %v, want %s", got, hosts.DefaultConfigPath)
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
