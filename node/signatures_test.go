package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/policy"
	"github.com/shoal-dev/shoal/signature"
	"github.com/shoal-dev/shoal/signature/signaturetest"
)

// sigTestNode is a node under a policy with signature rules, serving the
// registry API over loopback.
type sigTestNode struct {
	n   *Node
	url string
}

// newSigTestNode starts a node whose policy, signed by a root key it
// trusts, lets anyone do anything and has these signature rules.
func newSigTestNode(t *testing.T, rules []policy.SignatureRule) *sigTestNode {
	t.Helper()
	dir := t.TempDir()
	pub, priv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.WriteKeyPair(dir, pub, priv); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	doc, err := json.Marshal(policy.Document{
		Version: 1, Network: "test", Issued: now.Add(-time.Hour), Expires: now.Add(24 * time.Hour),
		Identities: []policy.Identity{{Name: "anyone", Anonymous: true}},
		Rules:      []policy.Rule{{Identities: []string{"anyone"}, Actions: []policy.Action{"*"}, Repositories: []string{"**"}}},
		Signatures: rules,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: doc}
	env.Sign(priv)
	envFile := filepath.Join(dir, "policy.signed")
	if err := os.WriteFile(envFile, env.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{DataDir: filepath.Join(dir, "data"), PolicyRoots: rootKeys(t, filepath.Join(dir, "policy.pub")), Policy: readFile(t, envFile)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if n.access.Current() == nil {
		t.Fatal("the policy was not applied")
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	return &sigTestNode{n: n, url: srv.URL}
}

func (tn *sigTestNode) do(t *testing.T, method, path, contentType string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, tn.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", strings.Join([]string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (tn *sigTestNode) pushBlob(t *testing.T, repo string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := digest.FromBytes(b)
	resp := tn.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting an upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	loc = strings.TrimPrefix(loc, tn.url)
	resp = tn.do(t, http.MethodPut, loc+sep+"digest="+d.String(), "application/octet-stream", b)
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("uploading %s: %d %s", d, resp.StatusCode, body)
	}
	return ocispec.Descriptor{Digest: d, Size: int64(len(b))}
}

func (tn *sigTestNode) pushManifest(t *testing.T, repo, ref string, m ocispec.Manifest) ocispec.Descriptor {
	t.Helper()
	m.Versioned = specs.Versioned{SchemaVersion: 2}
	m.MediaType = ocispec.MediaTypeImageManifest
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if ref == "" {
		ref = d.String()
	}
	resp := tn.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, ocispec.MediaTypeImageManifest, b)
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("pushing manifest %s:%s: %d %s", repo, ref, resp.StatusCode, body)
	}
	return ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(b))}
}

// pushImage pushes a one-layer image as repo:tag.
func (tn *sigTestNode) pushImage(t *testing.T, repo, tag string) ocispec.Descriptor {
	t.Helper()
	cfg := tn.pushBlob(t, repo, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	layer := tn.pushBlob(t, repo, []byte("layer of "+repo+":"+tag))
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	return tn.pushManifest(t, repo, tag, ocispec.Manifest{Config: cfg, Layers: []ocispec.Descriptor{layer}})
}

func (tn *sigTestNode) emptyConfig(t *testing.T, repo string) ocispec.Descriptor {
	d := tn.pushBlob(t, repo, []byte("{}"))
	d.MediaType = "application/vnd.oci.empty.v1+json"
	return d
}

// signTag pushes a legacy cosign signature of image under its .sig tag.
func (tn *sigTestNode) signTag(t *testing.T, repo string, image digest.Digest, by signaturetest.Signer) {
	t.Helper()
	payload := signaturetest.SimpleSigning("node/"+repo, image)
	l := tn.pushBlob(t, repo, payload)
	l.MediaType = signature.MediaTypeSimpleSigning
	l.Annotations = map[string]string{signature.AnnotationSignature: base64.StdEncoding.EncodeToString(by.Sign(payload))}
	tn.pushManifest(t, repo, signature.SignatureTag(image), ocispec.Manifest{Config: tn.emptyConfig(t, repo), Layers: []ocispec.Descriptor{l}})
}

// signBundle pushes a cosign v3 signature of image: a referrer holding a
// sigstore bundle with a DSSE envelope.
func (tn *sigTestNode) signBundle(t *testing.T, repo string, subject ocispec.Descriptor, by signaturetest.Signer) {
	t.Helper()
	bundle := signaturetest.Bundle(t, "node/"+repo, subject.Digest, by)
	l := tn.pushBlob(t, repo, bundle)
	l.MediaType = signature.MediaTypeBundle
	tn.pushManifest(t, repo, "", ocispec.Manifest{
		ArtifactType: signature.MediaTypeBundle, Config: tn.emptyConfig(t, repo), Layers: []ocispec.Descriptor{l},
		Subject: &subject,
	})
}

// pull GETs repo:ref and returns the status and the OCI error, if any.
func (tn *sigTestNode) pull(t *testing.T, repo, ref string) (int, *oci.Error) {
	t.Helper()
	resp := tn.do(t, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, "", nil)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, nil
	}
	var e struct {
		Errors []*oci.Error `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("status %d without an OCI error (%v)", resp.StatusCode, err)
	}
	return resp.StatusCode, e.Errors[0]
}

func TestSignatureRules(t *testing.T) {
	ec, ed, stranger := signaturetest.NewECDSA(t), signaturetest.NewEd25519(t), signaturetest.NewECDSA(t)
	tn := newSigTestNode(t, []policy.SignatureRule{
		{Repositories: []string{"signed/**"}, Mode: "enforce", Keys: []string{ec.PEM(t), ed.PEM(t)}},
		{Repositories: []string{"warned/**"}, Mode: "warn", Keys: []string{ec.PEM(t)}},
	})

	legacy := tn.pushImage(t, "signed/legacy", "v1")
	tn.signTag(t, "signed/legacy", legacy.Digest, ec)
	bundled := tn.pushImage(t, "signed/team/bundled", "v1")
	tn.signBundle(t, "signed/team/bundled", bundled, ed)
	tn.pushImage(t, "signed/unsigned", "v1")
	wrongKey := tn.pushImage(t, "signed/wrongkey", "v1")
	tn.signTag(t, "signed/wrongkey", wrongKey.Digest, stranger)
	tn.pushImage(t, "free/app", "v1")
	tn.pushImage(t, "warned/app", "v1")
	// A runnable image under a cosign-like tag is still an image.
	tn.pushImage(t, "signed/disguised", signature.SignatureTag(digest.FromString("x")))

	tests := []struct {
		name, repo, ref string
		wantStatus      int
		wantMessage     []string
	}{
		{name: "legacy signature by tag", repo: "signed/legacy", ref: "v1", wantStatus: 200},
		{name: "legacy signature by digest", repo: "signed/legacy", ref: legacy.Digest.String(), wantStatus: 200},
		{name: "the signature manifest itself", repo: "signed/legacy", ref: signature.SignatureTag(legacy.Digest), wantStatus: 200},
		{name: "bundle referrer", repo: "signed/team/bundled", ref: "v1", wantStatus: 200},
		{name: "unsigned", repo: "signed/unsigned", ref: "v1", wantStatus: 403, wantMessage: []string{`"signed/**"`, "no signature found"}},
		{name: "signed by an unknown key", repo: "signed/wrongkey", ref: "v1", wantStatus: 403, wantMessage: []string{`"signed/**"`, "not signed by a trusted key"}},
		{name: "runnable image under a .sig tag", repo: "signed/disguised", ref: signature.SignatureTag(digest.FromString("x")), wantStatus: 403},
		{name: "no rule", repo: "free/app", ref: "v1", wantStatus: 200},
		{name: "warn rule", repo: "warned/app", ref: "v1", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e := tn.pull(t, tt.repo, tt.ref)
			if status != tt.wantStatus {
				t.Fatalf("status %d (%v), want %d", status, e, tt.wantStatus)
			}
			if tt.wantStatus == 403 && e.Code != "DENIED" {
				t.Errorf("code %s, want DENIED", e.Code)
			}
			for _, s := range tt.wantMessage {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not say %q", e.Message, s)
				}
			}
		})
	}
	if got := signatureFailures(t, tn.n, "warn"); got != 1 {
		t.Errorf("warn failures = %v, want 1", got)
	}
	if got := signatureFailures(t, tn.n, "enforce"); got != 3 {
		t.Errorf("enforce failures = %v, want 3", got)
	}
}

// signatureFailures reads shoal_signature_failures_total{mode} as the
// metrics endpoint would.
func signatureFailures(t *testing.T, n *Node, mode string) float64 {
	t.Helper()
	mfs, err := n.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "shoal_signature_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "mode" && l.GetValue() == mode {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no shoal_signature_failures_total{mode=%q}", mode)
	return 0
}

// GET /shoal/v1/signatures/<digest> says what the node found when it
// last checked an image: verified by which rule, unsigned, or nothing
// when no rule applies.
func TestSignatureChecksShown(t *testing.T) {
	ec := signaturetest.NewECDSA(t)
	tn := newSigTestNode(t, []policy.SignatureRule{{Repositories: []string{"signed/**"}, Mode: "enforce", Keys: []string{ec.PEM(t)}}})
	good := tn.pushImage(t, "signed/good", "v1")
	tn.signTag(t, "signed/good", good.Digest, ec)
	bare := tn.pushImage(t, "signed/bare", "v1")
	free := tn.pushImage(t, "free/app", "v1")
	for _, repo := range []string{"signed/good", "signed/bare", "free/app"} {
		tn.pull(t, repo, "v1")
	}
	tests := []struct {
		name  string
		image digest.Digest
		want  string // "repository state rule mode", or "" for none
	}{
		{"signed", good.Digest, "signed/good verified signed/** "},
		{"unsigned", bare.Digest, "signed/bare unsigned signed/** enforce"},
		{"no rule", free.Digest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := tn.do(t, http.MethodGet, "/shoal/v1/signatures/"+tt.image.String(), "", nil)
			var doc adminapi.SignatureChecks
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, c := range doc.Checks {
				got += c.Repository + " " + c.State + " " + c.Rule + " " + c.Mode
			}
			if got != tt.want || doc.Digest != tt.image.String() {
				t.Errorf("checks of %s: %q, want %q", doc.Digest, got, tt.want)
			}
		})
	}
}
