// Package helm_test checks the Helm chart in deploy/helm/shoal: helm lint
// passes, and with its default values it renders the same objects as the
// kustomize manifests in deploy/kubernetes, so the two ways to deploy
// cannot drift apart.
package helm_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	chartDir     = "shoal"
	kustomizeDir = "../kubernetes"
)

// helmLabels are the labels the chart adds that kustomize does not.
var helmLabels = []string{"app.kubernetes.io/managed-by", "helm.sh/chart"}

// tool finds name on PATH or in GOPATH/bin (where .ci/run installs
// helm); a missing one skips the test, or fails it under CI=true.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p := filepath.Join(dir, "bin", name); isFile(p) {
				return p
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (CI=true, so this fails instead of skipping); .ci/run installs it", name)
	}
	t.Skipf("skipping: %s not found; .ci/run installs it", name)
	return ""
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// object is a Kubernetes object as JSON would decode it.
type object = map[string]any

// parseObjects splits a multi-document YAML stream into objects, by
// "Kind/namespace/name".
func parseObjects(t *testing.T, stream []byte) map[string]object {
	t.Helper()
	objs := map[string]object{}
	for _, doc := range strings.Split("\n"+string(stream), "\n---") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if o == nil {
			continue
		}
		// A ConfigMap's YAML files are compared as what they say, not
		// their comments.
		if data, ok := o["data"].(object); ok && o["kind"] == "ConfigMap" {
			for k, v := range data {
				if s, ok := v.(string); ok && strings.HasSuffix(k, ".yaml") {
					var parsed any
					if err := yaml.Unmarshal([]byte(s), &parsed); err != nil {
						t.Fatalf("%s: %v", k, err)
					}
					data[k] = parsed
				}
			}
		}
		meta, _ := o["metadata"].(object)
		key := fmt.Sprintf("%v/%v/%v", o["kind"], meta["namespace"], meta["name"])
		if _, dup := objs[key]; dup {
			t.Fatalf("%s twice", key)
		}
		objs[key] = o
	}
	return objs
}

// kustomizeObjects renders deploy/kubernetes the way kustomize does for
// the transformers its kustomization uses (namespace, and labels on
// metadata only), so the test needs no kustomize binary.
func kustomizeObjects(t *testing.T) map[string]object {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(kustomizeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		Labels     []struct {
			Pairs            map[string]string `json:"pairs"`
			IncludeSelectors bool              `json:"includeSelectors"`
			IncludeTemplates bool              `json:"includeTemplates"`
		} `json:"labels"`
	}
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml uses more than this test renders: %v", err)
	}
	var stream []byte
	for _, r := range k.Resources {
		b, err := os.ReadFile(filepath.Join(kustomizeDir, r))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(append(stream, "\n---\n"...), b...)
	}
	objs := map[string]object{}
	for _, o := range parseObjects(t, stream) {
		meta := o["metadata"].(object)
		if o["kind"] != "Namespace" {
			meta["namespace"] = k.Namespace
		}
		for _, l := range k.Labels {
			if l.IncludeSelectors || l.IncludeTemplates {
				t.Fatal("kustomization.yaml labels selectors or templates, which this test does not render")
			}
			labels, _ := meta["labels"].(object)
			if labels == nil {
				labels = object{}
				meta["labels"] = labels
			}
			for name, v := range l.Pairs {
				labels[name] = v
			}
		}
		objs[fmt.Sprintf("%v/%v/%v", o["kind"], meta["namespace"], meta["name"])] = o
	}
	return objs
}

// helmTemplate renders the chart as release "shoal" in namespace "shoal",
// with args (--set …) added.
func helmTemplate(t *testing.T, helm string, args ...string) map[string]object {
	t.Helper()
	out := run(t, helm, append([]string{"template", "shoal", chartDir, "--namespace", "shoal"}, args...)...)
	objs := parseObjects(t, out)
	for _, o := range objs {
		labels, _ := o["metadata"].(object)["labels"].(object)
		for _, l := range helmLabels {
			if labels[l] == nil {
				t.Errorf("%v %v lacks the label %s", o["kind"], o["metadata"].(object)["name"], l)
			}
			delete(labels, l)
		}
	}
	return objs
}

func TestHelmLint(t *testing.T) {
	helm := tool(t, "helm")
	run(t, helm, "lint", "--strict", chartDir)
}

// TestHelmTemplateMatchesKustomize: the chart's default values give the
// kustomize objects, field for field (YAML comments aside).
func TestHelmTemplateMatchesKustomize(t *testing.T) {
	helm := tool(t, "helm")
	want := kustomizeObjects(t)
	got := helmTemplate(t, helm)
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if want[k] == nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !reflect.DeepEqual(got[k], want[k]) {
			g, _ := json.MarshalIndent(got[k], "", "  ")
			w, _ := json.MarshalIndent(want[k], "", "  ")
			t.Errorf("%s: helm template renders\n%s\nkustomize\n%s", k, g, w)
		}
	}
}

// TestKustomizeRendering holds this test's rendering of deploy/kubernetes
// to kustomize's own, where kubectl is at hand.
func TestKustomizeRendering(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("skipping: no kubectl to compare with")
	}
	want := parseObjects(t, run(t, kubectl, "kustomize", kustomizeDir))
	if got := kustomizeObjects(t); !reflect.DeepEqual(got, want) {
		t.Errorf("this test renders deploy/kubernetes as\n%v\nkubectl kustomize as\n%v", got, want)
	}
}

// TestHelmValues renders the settings the chart adds to the manifests:
// a swarm key from a Secret, policy roots and a starting policy, the
// registries containerd sends through the node, and other upstreams.
func TestHelmValues(t *testing.T) {
	helm := tool(t, "helm")
	values := filepath.Join(t.TempDir(), "values.yaml")
	os.WriteFile(values, []byte(`
image: {repository: registry.example.com/shoal, tag: v1.2.3}
upstreams: [{name: docker.io, url: https://mirror.example.com}, {name: ghcr.io, url: https://ghcr.io}]
cacheMaxBytes: 5GiB
containerd: {registries: [docker.io]}
policy:
  roots: ["-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"]
  signed: '{"payloadType":"application/vnd.shoal.policy+yaml"}'
swarmKey: {secretName: fleet-key}
extraConfig: {tag-ttl: 5m}
tolerations: []
resources: {limits: {memory: 1Gi}}
`), 0o644)
	objs := helmTemplate(t, helm, "--values", values)
	flags, _ := objs["ConfigMap/shoal/shoal"]["data"].(object)["config.yaml"].(object)
	for k, v := range map[string]any{
		"upstream":        []any{"docker.io=https://mirror.example.com", "ghcr.io=https://ghcr.io"},
		"cache-max-bytes": "5GiB",
		"policy-root":     []any{"/etc/shoal/policy/root-0.pem"},
		"policy":          "/etc/shoal/policy/policy.signed",
		"swarm-key":       "/etc/shoal/swarm/swarm.key",
		"tag-ttl":         "5m",
		"bootstrap-dns":   "shoal.shoal.svc.cluster.local",
	} {
		if !reflect.DeepEqual(flags[k], v) {
			t.Errorf("config.yaml %s = %#v, want %#v", k, flags[k], v)
		}
	}
	policy := objs["ConfigMap/shoal/shoal-policy"]["data"].(object)
	if !strings.HasPrefix(policy["root-0.pem"].(string), "-----BEGIN PUBLIC KEY-----\nMFkw\n") || !strings.Contains(policy["policy.signed"].(string), "vnd.shoal.policy") {
		t.Errorf("policy ConfigMap %v", policy)
	}
	ds, _ := json.Marshal(objs["DaemonSet/shoal/shoal"])
	for _, want := range []string{
		`"image":"registry.example.com/shoal:v1.2.3"`,
		`"args":["containerd-config","--registry","docker.io","--mirror"`,
		`{"name":"swarm-key","secret":{"defaultMode":256,"secretName":"fleet-key"}}`,
		`{"configMap":{"name":"shoal-policy"},"name":"policy"}`,
		`"resources":{"limits":{"memory":"1Gi"},"requests":{"cpu":"100m","memory":"128Mi"}}`,
	} {
		if !strings.Contains(string(ds), want) {
			t.Errorf("the DaemonSet lacks %s:\n%s", want, ds)
		}
	}
	if strings.Contains(string(ds), "tolerations") {
		t.Errorf("tolerations: [] still renders tolerations")
	}
}
