package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/shoal-dev/shoal/containerd/hosts"
	"github.com/shoal-dev/shoal/integration/harness"
	"github.com/shoal-dev/shoal/policy"
)

// authFixture is an upstream holding auth/app and auth/secret, and a
// signed policy that lets alice (basic) and the ops client certificate
// pull auth/app, and nobody anything else.
type authFixture struct {
	up       *harness.Upstream
	rootPub  string
	policy   string
	ca       *testCA
	dir      string
	upstream []string
}

const alicePassword = "alice-secret-pw"

func newAuthFixture(t *testing.T, ctx context.Context) *authFixture {
	t.Helper()
	f := &authFixture{dir: t.TempDir()}
	f.up = startUpstream(t, ctx)
	pushTestImage(t, f.up, "auth/app:v1", 11, linuxAMD64, 256<<10)
	pushTestImage(t, f.up, "auth/secret:v1", 12, linuxAMD64, 256<<10)
	// "up" for crane and skopeo; the upstream's host:port for containerd,
	// which sends it as ?ns=.
	f.upstream = []string{"up=" + f.up.URL(), f.up.Addr + "=" + f.up.URL()}
	f.ca = newTestCA(t, "shoal test client CA")

	pub, priv, err := policy.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(f.dir, "keys")
	if err := policy.WriteKeyPair(keys, pub, priv); err != nil {
		t.Fatal(err)
	}
	f.rootPub = filepath.Join(keys, "policy.pub")
	hash, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	doc := policy.Document{
		Version: 1, Network: "it", Issued: now.Add(-time.Minute), Expires: now.Add(24 * time.Hour),
		Identities: []policy.Identity{
			{Name: "alice", Username: "alice", PasswordHash: string(hash)},
			{Name: "ops", CertSubject: "ops"},
		},
		ClientCAs: []string{string(f.ca.certPEM)},
		Rules: []policy.Rule{
			{Identities: []string{"alice", "ops"}, Actions: []policy.Action{policy.Pull}, Repositories: []string{"**/auth/app"}},
		},
	}
	payload, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	env := &policy.Envelope{PayloadType: policy.PayloadType, Payload: payload}
	env.Sign(priv)
	f.policy = filepath.Join(f.dir, "policy.signed")
	if err := os.WriteFile(f.policy, env.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *authFixture) nodeArgs() []string {
	return []string{"--policy-root", f.rootPub, "--policy", f.policy}
}

// dockerConfig writes a docker config.json holding basic credentials for
// host and returns its directory, for DOCKER_CONFIG.
func dockerConfig(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	auths := map[string]any{}
	if user != "" {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	}
	b, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runToolEnv runs a tool with extra environment.
func runToolEnv(ctx context.Context, env []string, path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestCraneTokenFlow(t *testing.T) {
	tools := requireTool(t, "crane")
	ctx := testContext(t, 4*time.Minute)
	f := newAuthFixture(t, ctx)
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: f.upstream, Args: f.nodeArgs()})

	crane := func(user, pass string, args ...string) (string, error) {
		cfg := dockerConfig(t, node.Addr, user, pass)
		return runToolEnv(ctx, []string{"DOCKER_CONFIG=" + cfg, "HOME=" + t.TempDir()}, tools["crane"], args...)
	}
	app := node.Addr + "/up/auth/app:v1"
	secret := node.Addr + "/up/auth/secret:v1"
	if o, err := crane("alice", alicePassword, "pull", "--insecure", app, filepath.Join(t.TempDir(), "app.tar")); err != nil {
		t.Fatalf("crane pull %s as alice: %v\n%s", app, err, o)
	}
	tests := []struct {
		name, user, pass, ref, want string
	}{
		{"denied repository", "alice", alicePassword, secret, "DENIED"},
		{"no credentials", "", "", app, "UNAUTHORIZED"},
		{"wrong password", "alice", "wrong", app, "UNAUTHORIZED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := crane(tt.user, tt.pass, "digest", "--insecure", tt.ref)
			if err == nil || !strings.Contains(o, tt.want) {
				t.Errorf("crane digest %s: err=%v, want an error with %s:\n%s", tt.ref, err, tt.want, o)
			}
		})
	}
	m, err := node.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if harness.Series(m, "shoal_access_denied_total", `action="pull"`) < 1 || harness.Series(m, "shoal_policy_version", "") != 1 {
		t.Errorf("metrics: denied{pull}=%v policy_version=%v", harness.Series(m, "shoal_access_denied_total", `action="pull"`), harness.Series(m, "shoal_policy_version", ""))
	}
}

func TestSkopeoCredentials(t *testing.T) {
	tools := requireTool(t, "skopeo")
	ctx := testContext(t, 4*time.Minute)
	f := newAuthFixture(t, ctx)
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: f.upstream, Args: f.nodeArgs()})

	copyAs := func(creds, repo string) (string, error) {
		args := []string{"--insecure-policy", "copy", "--src-tls-verify=false"}
		if creds != "" {
			args = append(args, "--src-creds", creds)
		} else {
			args = append(args, "--src-no-creds")
		}
		args = append(args, "docker://"+node.Addr+"/up/"+repo, "dir:"+filepath.Join(t.TempDir(), "out"))
		return runToolEnv(ctx, []string{"HOME=" + t.TempDir(), "REGISTRY_AUTH_FILE=" + filepath.Join(t.TempDir(), "auth.json")}, tools["skopeo"], args...)
	}
	if o, err := copyAs("alice:"+alicePassword, "auth/app:v1"); err != nil {
		t.Fatalf("skopeo copy as alice: %v\n%s", err, o)
	}
	tests := []struct {
		name, creds, repo string
		want              []string
	}{
		{"denied repository", "alice:" + alicePassword, "auth/secret:v1", []string{"denied"}},
		{"wrong password", "alice:wrong", "auth/app:v1", []string{"unauthorized", "authentication required", "invalid username or password"}},
		{"no credentials", "", "auth/app:v1", []string{"unauthorized", "authentication required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := copyAs(tt.creds, tt.repo)
			low := strings.ToLower(o)
			found := false
			for _, w := range tt.want {
				found = found || strings.Contains(low, w)
			}
			if err == nil || !found {
				t.Errorf("skopeo copy %s: err=%v, want an error with one of %q:\n%s", tt.repo, err, tt.want, o)
			}
		})
	}
}

func TestContainerdClientCertificate(t *testing.T) {
	requireRoot(t)
	requireTool(t, "containerd", "ctr")
	ctx := testContext(t, 5*time.Minute)
	f := newAuthFixture(t, ctx)

	certs := t.TempDir()
	serverCert, serverKey := f.ca.issue(t, certs, "server", "127.0.0.1", false)
	opsCert, opsKey := f.ca.issue(t, certs, "ops", "", true)
	stranger := newTestCA(t, "someone else's CA")
	strangerCert, strangerKey := stranger.issue(t, certs, "ops-impostor", "", true)
	caFile := filepath.Join(certs, "ca.pem")
	if err := os.WriteFile(caFile, f.ca.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	node := startTLSNode(t, ctx, f, serverCert, serverKey)

	dir, err := os.MkdirTemp("/tmp", "ctd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctd, err := harness.StartContainerd(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	cleanupProc(t, ctd.Proc)

	// The server entry is a dead address, so a pull can only succeed
	// through the node, and a refusal is not hidden by a fallback.
	pull := func(t *testing.T, name, cert, key, ref string) (string, error) {
		hostsDir := filepath.Join(dir, "hosts-"+name)
		files, err := hosts.Config{
			Registries:   []string{f.up.Addr},
			Mirror:       node,
			Capabilities: []string{"pull", "resolve"},
			Servers:      map[string]string{f.up.Addr: "http://127.0.0.1:1"},
			CA:           []string{caFile},
			ClientCert:   cert,
			ClientKey:    key,
		}.Files()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hosts.WriteFiles(hostsDir, files); err != nil {
			t.Fatal(err)
		}
		return ctd.Ctr(ctx, "images", "pull", "--hosts-dir", hostsDir, "--snapshotter", "native", ref)
	}
	app := f.up.Addr + "/auth/app:v1"
	if o, err := pull(t, "ops", opsCert, opsKey, app); err != nil {
		t.Fatalf("ctr pull %s with the ops certificate: %v\n%s", app, err, o)
	}
	tests := []struct {
		name, cert, key, ref string
		want                 []string
	}{
		{"ops may not pull secret", opsCert, opsKey, f.up.Addr + "/auth/secret:v1", []string{"403", "denied"}},
		{"no certificate", "", "", app, []string{"401", "unauthorized"}},
		// The node names its policy's CAs in the handshake, so a client
		// holding only a certificate from another CA sends none and is
		// anonymous; one that sent it anyway would fail the handshake.
		{"certificate from another CA", strangerCert, strangerKey, app, []string{"401", "unauthorized", "certificate", "tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := pull(t, strings.ReplaceAll(tt.name, " ", "-"), tt.cert, tt.key, tt.ref)
			low := strings.ToLower(o)
			found := false
			for _, w := range tt.want {
				found = found || strings.Contains(low, w)
			}
			if err == nil || !found {
				t.Errorf("ctr pull %s: err=%v, want a failure mentioning one of %q:\n%s", tt.ref, err, tt.want, o)
			}
		})
	}
}

// startTLSNode starts a node serving HTTPS with the fixture's policy and
// returns its base URL once /readyz answers.
func startTLSNode(t *testing.T, ctx context.Context, f *authFixture, cert, key string) string {
	t.Helper()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p2pPort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"node", "--listen", addr, "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p2pPort), "--log-level", "debug",
		"--tls-cert", cert, "--tls-key", key}
	for _, u := range f.upstream {
		args = append(args, "--upstream", u)
	}
	args = append(args, f.nodeArgs()...)
	p, err := harness.StartProc(shoalBin, filepath.Join(t.TempDir(), "shoal-tls.log"), args...)
	if err != nil {
		t.Fatal(err)
	}
	cleanupProc(t, p)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.ca.certPEM)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + addr
	for i := 0; i < 300; i++ {
		resp, err := hc.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if p.Exited() || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("TLS node did not become ready:\n%s", p.LogTail(4000))
	return ""
}

// testCA is a throwaway certificate authority.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a leaf certificate and key under dir: a server certificate
// for ip, or a client certificate with common name cn.
func (ca *testCA) issue(t *testing.T, dir, cn, ip string, client bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if ip != "" {
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, cn+".pem")
	keyFile = filepath.Join(dir, cn+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
