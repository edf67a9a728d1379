package ingest_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/shoal-dev/shoal/adminapi"
	"github.com/shoal-dev/shoal/internal/testimage"
	"github.com/shoal-dev/shoal/node"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/upstream/upstreamtest"
)

// imageTestNode is a node served over loopback HTTP.
type imageTestNode struct {
	n    *node.Node
	srv  *httptest.Server
	host string
}

func newImageTestNode(t *testing.T, cfg node.Config) *imageTestNode {
	t.Helper()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	n, err := node.New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	return &imageTestNode{n: n, srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}

// post sends body to path and returns the status, the OCI error code (for
// an error answer) and the JSON lines of a stream.
func (tn *imageTestNode) post(t *testing.T, path string, body io.Reader) (int, string, []adminapi.ImageStreamLine) {
	t.Helper()
	resp, err := http.Post(tn.srv.URL+path, "application/x-tar", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Errors []oci.Error `json:"errors"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || len(e.Errors) == 0 {
			t.Fatalf("status %d without an OCI error body (%v)", resp.StatusCode, err)
		}
		return resp.StatusCode, e.Errors[0].Code, nil
	}
	var lines []adminapi.ImageStreamLine
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l adminapi.ImageStreamLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 || !lines[len(lines)-1].Final() {
		t.Fatalf("stream does not end with a final line: %+v", lines)
	}
	for _, l := range lines[:len(lines)-1] {
		if l.Final() {
			t.Fatalf("final line before the end: %+v", lines)
		}
	}
	return resp.StatusCode, "", lines
}

func (tn *imageTestNode) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(tn.host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// corruptBlob flips one byte of blob d in an OCI layout directory.
func corruptBlob(t *testing.T, dir string, d v1.Hash) {
	t.Helper()
	p := filepath.Join(dir, "blobs", d.Algorithm, d.Hex)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerSave writes a docker save tarball as docker itself does: plain
// (uncompressed) layer tars, a config file and manifest.json. Layer
// corruptLayer (if not -1) has one byte changed.
func dockerSave(t *testing.T, img v1.Image, repoTags []string, corruptLayer int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfgName := fmt.Sprintf("%x.json", sha256.Sum256(cfg))
	add(cfgName, cfg)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	entry := tarball.Descriptor{Config: cfgName, RepoTags: repoTags}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if i == corruptLayer {
			b[len(b)/2] ^= 0xff
		}
		diffID, _ := l.DiffID()
		name := diffID.Hex + "/layer.tar"
		add(name, b)
		entry.Layers = append(entry.Layers, name)
	}
	// A second name for the first layer, as docker save writes for
	// repeated layers.
	if err := tw.WriteHeader(&tar.Header{Name: "alias/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../" + entry.Layers[0]}); err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(tarball.Manifest{entry})
	add("manifest.json", m)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// checkImage pulls ref from the node and checks it is want: same config
// and layers, all content valid.
func checkImage(t *testing.T, tn *imageTestNode, ref string, want v1.Image, wantDigest string) {
	t.Helper()
	got, err := remote.Image(tn.ref(t, ref))
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	if wantDigest != "" && testimage.Digest(t, got) != wantDigest {
		t.Fatalf("%s: digest %s, want %s", ref, testimage.Digest(t, got), wantDigest)
	}
	gotCfg, _ := got.ConfigName()
	wantCfg, _ := want.ConfigName()
	if gotCfg != wantCfg {
		t.Fatalf("%s: config %s, want %s", ref, gotCfg, wantCfg)
	}
	gl, _ := got.Layers()
	wl, _ := want.Layers()
	if len(gl) != len(wl) {
		t.Fatalf("%s: %d layers, want %d", ref, len(gl), len(wl))
	}
	for i := range gl {
		g, _ := gl[i].DiffID()
		w, _ := wl[i].DiffID()
		if g != w {
			t.Fatalf("%s: layer %d has diff_id %s, want %s", ref, i, g, w)
		}
	}
}

func TestImport(t *testing.T) {
	tn := newImageTestNode(t, node.Config{Upstreams: upstreamtest.Rules(t, "docker.io=http://127.0.0.1:1"), TagTTL: time.Minute})

	img := testimage.Random(t)
	idx := testimage.RandomIndex(t)
	savedImg := testimage.Random(t)

	tests := []struct {
		name  string
		query string
		body  func(t *testing.T) []byte
		// for a refused import
		wantStatus int
		wantCode   string
		// wantError is a substring of the stream's error line
		wantError string
		// noTags are repositories that must hold no tag afterwards
		noTags []string
		check  func(t *testing.T, imported []adminapi.ImportedImage)
	}{
		{
			name: "OCI layout with a full ref.name",
			body: func(t *testing.T) []byte {
				return testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img, Annotations: map[string]string{"org.opencontainers.image.ref.name": "myteam/app:1.0"}}), "")
			},
			check: func(t *testing.T, imported []adminapi.ImportedImage) {
				wantImported(t, imported, adminapi.ImportedImage{Repo: "myteam/app", Tag: "1.0", Digest: testimage.Digest(t, img)})
				checkImage(t, tn, "myteam/app:1.0", img, testimage.Digest(t, img))
			},
		},
		{
			name: "OCI layout with a multi-arch index, gzipped, under a directory",
			body: func(t *testing.T) []byte {
				dir := testimage.LayoutDir(t, testimage.LayoutEntry{Index: idx, Annotations: map[string]string{"io.containerd.image.name": "myteam/multi:2", "org.opencontainers.image.ref.name": "2"}})
				return gzipBytes(t, testimage.TarDir(t, dir, "multi/"))
			},
			check: func(t *testing.T, imported []adminapi.ImportedImage) {
				wantImported(t, imported, adminapi.ImportedImage{Repo: "myteam/multi", Tag: "2", Digest: testimage.Digest(t, idx)})
				got, err := remote.Index(tn.ref(t, "myteam/multi:2"))
				if err != nil {
					t.Fatal(err)
				}
				if err := validate.Index(got); err != nil {
					t.Fatal(err)
				}
				if testimage.Digest(t, got) != testimage.Digest(t, idx) {
					t.Fatalf("index digest %s, want %s", testimage.Digest(t, got), testimage.Digest(t, idx))
				}
			},
		},
		{
			name:  "?repo= names an image without a name",
			query: "?repo=team/renamed:7",
			body: func(t *testing.T) []byte {
				return testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img}), "")
			},
			check: func(t *testing.T, imported []adminapi.ImportedImage) {
				wantImported(t, imported, adminapi.ImportedImage{Repo: "team/renamed", Tag: "7", Digest: testimage.Digest(t, img)})
				checkImage(t, tn, "team/renamed:7", img, testimage.Digest(t, img))
			},
		},
		{
			name:  "?repo= without a tag keeps a bare ref.name tag",
			query: "?repo=team/tagged",
			body: func(t *testing.T) []byte {
				return testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img, Annotations: map[string]string{"org.opencontainers.image.ref.name": "v3"}}), "")
			},
			check: func(t *testing.T, imported []adminapi.ImportedImage) {
				wantImported(t, imported, adminapi.ImportedImage{Repo: "team/tagged", Tag: "v3", Digest: testimage.Digest(t, img)})
			},
		},
		{
			name: "docker save tarball written by go-containerregistry",
			body: func(t *testing.T) []byte {
				tag, _ := name.NewTag("myteam/saved:v1")
				var buf bytes.Buffer
				if err := tarball.Write(tag, savedImg, &buf); err != nil {
					t.Fatal(err)
				}
				return buf.Bytes()
			},
			check: func(t *testing.T, imported []adminapi.ImportedImage) {
				if len(imported) != 1 || imported[0].Repo != "myteam/saved" || imported[0].Tag != "v1" {
					t.Fatalf("imported %+v", imported)
				}
				checkImage(t, tn, "myteam/saved:v1", savedImg, imported[0].Digest)
				// Compressed layers are kept as they are.
				got, _ := remote.Image(tn.ref(t, "myteam/saved:v1"))
				gl, _ := got.Layers()
				wl, _ := savedImg.Layers()
				for i := range gl {
					if testimage.Digest(t, gl[i]) != testimage.Digest(t, wl[i]) {
						t.Fatalf("layer %d: %s, want %s", i, testimage.Digest(t, gl[i]), testimage.Digest(t, wl[i]))
					}
				}
			},
		},
		{
			name: "docker save tarball with plain layers and two names",
			body: func(t *testing.T) []byte {
				return dockerSave(t, savedImg, []string{"myteam/plain:1", "myteam/plain:latest"}, -1)
			},
			check: func(t *testing.T, imported []adminapi.ImportedImage) {
				if len(imported) != 2 || imported[0].Digest != imported[1].Digest {
					t.Fatalf("imported %+v", imported)
				}
				checkImage(t, tn, "myteam/plain:1", savedImg, imported[0].Digest)
				checkImage(t, tn, "myteam/plain:latest", savedImg, imported[0].Digest)
			},
		},
		{
			name: "a Docker Hub name goes to the docker.io mirror namespace",
			body: func(t *testing.T) []byte {
				return testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img, Annotations: map[string]string{"org.opencontainers.image.ref.name": "index.docker.io/x:1"}}), "")
			},
			check: func(t *testing.T, imported []adminapi.ImportedImage) {
				wantImported(t, imported, adminapi.ImportedImage{Repo: "docker.io/library/x", Tag: "1", Digest: testimage.Digest(t, img)})
			},
		},
		{
			name: "corrupt layer in an OCI layout",
			body: func(t *testing.T) []byte {
				other := testimage.Random(t)
				dir := testimage.LayoutDir(t, testimage.LayoutEntry{Image: other, Annotations: map[string]string{"org.opencontainers.image.ref.name": "team/bad:1"}})
				layers, _ := other.Layers()
				d, _ := layers[1].Digest()
				corruptBlob(t, dir, d)
				return testimage.TarDir(t, dir, "")
			},
			wantError: "does not match its digest",
			noTags:    []string{"team/bad"},
		},
		{
			name: "corrupt layer in a docker save tarball",
			body: func(t *testing.T) []byte {
				return dockerSave(t, testimage.Random(t), []string{"team/badsave:1"}, 2)
			},
			wantError: "does not match its diff_id",
			noTags:    []string{"team/badsave"},
		},
		{
			name: "corrupt manifest",
			body: func(t *testing.T) []byte {
				other := testimage.Random(t)
				dir := testimage.LayoutDir(t, testimage.LayoutEntry{Image: other, Annotations: map[string]string{"org.opencontainers.image.ref.name": "team/badmanifest:1"}})
				d, _ := other.Digest()
				corruptBlob(t, dir, d)
				return testimage.TarDir(t, dir, "")
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "DIGEST_INVALID",
			noTags:     []string{"team/badmanifest"},
		},
		{
			name: "no name and no ?repo=",
			body: func(t *testing.T) []byte {
				return testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img}), "")
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "NAME_INVALID",
		},
		{
			name:  "invalid ?repo=",
			query: "?repo=Not/Valid",
			body: func(t *testing.T) []byte {
				return testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img}), "")
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "NAME_INVALID",
		},
		{
			name:       "not a tar",
			body:       func(t *testing.T) []byte { return []byte("hello, this is not an archive at all") },
			wantStatus: http.StatusBadRequest,
			wantCode:   "UNSUPPORTED",
		},
		{
			name:       "empty body",
			body:       func(t *testing.T) []byte { return nil },
			wantStatus: http.StatusBadRequest,
			wantCode:   "UNSUPPORTED",
		},
		{
			name: "a tar that is no image",
			body: func(t *testing.T) []byte {
				dir := t.TempDir()
				os.WriteFile(filepath.Join(dir, "README"), []byte("hi"), 0o644)
				return testimage.TarDir(t, dir, "")
			},
			wantStatus: http.StatusBadRequest,
			wantCode:   "UNSUPPORTED",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code, lines := tn.post(t, "/shoal/v1/import"+tt.query, bytes.NewReader(tt.body(t)))
			if tt.wantStatus == 0 {
				tt.wantStatus = http.StatusOK
			}
			if status != tt.wantStatus || code != tt.wantCode {
				t.Fatalf("status %d %s, want %d %s", status, code, tt.wantStatus, tt.wantCode)
			}
			if status == http.StatusOK {
				last := lines[len(lines)-1]
				if tt.wantError != "" {
					if !strings.Contains(last.Error, tt.wantError) {
						t.Fatalf("last line %+v, want an error with %q", last, tt.wantError)
					}
				} else if last.Error != "" {
					t.Fatalf("import failed: %s", last.Error)
				}
				checkProgress(t, lines)
			}
			for _, repo := range tt.noTags {
				if tags := tn.tags(t, repo); len(tags) > 0 {
					t.Fatalf("%s has tags %v after a refused import", repo, tags)
				}
				resp, err := http.Get(tn.srv.URL + "/v2/" + repo + "/manifests/1")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("%s:1 answers %d after a refused import", repo, resp.StatusCode)
				}
			}
			if tt.check != nil {
				tt.check(t, lines[len(lines)-1].Imported)
			}
		})
	}
}

func wantImported(t *testing.T, got []adminapi.ImportedImage, want ...adminapi.ImportedImage) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("imported %+v, want %+v", got, want)
	}
}

// checkProgress checks that progress lines count up to their total.
func checkProgress(t *testing.T, lines []adminapi.ImageStreamLine) {
	t.Helper()
	var last int64
	for _, l := range lines {
		if l.Blob == "" {
			continue
		}
		if l.Bytes < last || l.Bytes > l.Total {
			t.Fatalf("progress went from %d to %d of %d", last, l.Bytes, l.Total)
		}
		last = l.Bytes
	}
}

// TestImportFailureKeepsExistingTags checks that a refused import leaves
// a tag that was there before pointing where it pointed.
func TestImportFailureKeepsExistingTags(t *testing.T) {
	tn := newImageTestNode(t, node.Config{})
	good := testimage.Random(t)
	_, _, lines := tn.post(t, "/shoal/v1/import", bytes.NewReader(testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: good, Annotations: map[string]string{"org.opencontainers.image.ref.name": "team/app:1"}}), "")))
	if e := lines[len(lines)-1].Error; e != "" {
		t.Fatal(e)
	}
	bad := testimage.Random(t)
	dir := testimage.LayoutDir(t, testimage.LayoutEntry{Image: bad, Annotations: map[string]string{"org.opencontainers.image.ref.name": "team/app:1"}})
	layers, _ := bad.Layers()
	d, _ := layers[2].Digest()
	corruptBlob(t, dir, d)
	_, _, lines = tn.post(t, "/shoal/v1/import", bytes.NewReader(testimage.TarDir(t, dir, "")))
	if lines[len(lines)-1].Error == "" {
		t.Fatal("a corrupt import was accepted")
	}
	checkImage(t, tn, "team/app:1", good, testimage.Digest(t, good))
	if resp, err := http.Get(tn.srv.URL + "/v2/team/app/manifests/" + testimage.Digest(t, bad)); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused image's manifest is served: %v %v", resp.Status, err)
	}
}

// TestImportServedToMirrorClients checks that an image imported under a
// Docker Hub name is what a containerd client (?ns=docker.io) gets while
// upstream cannot be reached.
func TestImportServedToMirrorClients(t *testing.T) {
	tn := newImageTestNode(t, node.Config{Upstreams: upstreamtest.Rules(t, "docker.io=http://127.0.0.1:1")})
	img := testimage.Random(t)
	_, _, lines := tn.post(t, "/shoal/v1/import", bytes.NewReader(testimage.TarDir(t, testimage.LayoutDir(t, testimage.LayoutEntry{Image: img, Annotations: map[string]string{"org.opencontainers.image.ref.name": "docker.io/library/x:1"}}), "")))
	if e := lines[len(lines)-1].Error; e != "" {
		t.Fatal(e)
	}
	manifest, _ := img.RawManifest()
	tests := []struct {
		name, path string
		want       []byte
	}{
		{"manifest by tag", "/v2/library/x/manifests/1?ns=docker.io", manifest},
		{"manifest by tag, one-part name", "/v2/x/manifests/1?ns=docker.io", manifest},
		{"manifest by digest", "/v2/library/x/manifests/" + testimage.Digest(t, img) + "?ns=docker.io", manifest},
		{"manifest through the rule prefix", "/v2/docker.io/library/x/manifests/1", manifest},
	}
	layers, _ := img.Layers()
	for i, l := range layers {
		rc, _ := l.Compressed()
		b, _ := io.ReadAll(rc)
		rc.Close()
		tests = append(tests, struct {
			name, path string
			want       []byte
		}{fmt.Sprintf("layer %d", i), "/v2/library/x/blobs/" + testimage.Digest(t, l) + "?ns=docker.io", b})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tn.srv.URL+tt.path, nil)
			req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(body, tt.want) {
				t.Fatalf("status %d, body %.200q", resp.StatusCode, body)
			}
		})
	}
}

// TestPreload preloads images from an upstream, stops the upstream and
// pulls them from the node.
func TestPreload(t *testing.T) {
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	upHost := strings.TrimPrefix(up.URL, "http://")
	img := testimage.Random(t)
	idx := testimage.RandomIndex(t)
	push := func(ref string, write func(name.Reference) error) {
		r, err := name.ParseReference(upHost+"/"+ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(r); err != nil {
			t.Fatal(err)
		}
	}
	push("library/alpine:3.20", func(r name.Reference) error { return remote.Write(r, img) })
	push("team/multi:1", func(r name.Reference) error { return remote.WriteIndex(r, idx) })

	tn := newImageTestNode(t, node.Config{Upstreams: upstreamtest.Rules(t, "docker.io="+up.URL), TagTTL: time.Hour})
	req, _ := json.Marshal(adminapi.PreloadRequest{Refs: []string{
		"docker.io/library/alpine:3.20",
		"docker.io/team/multi:1",
		"quay.io/org/img:1",
		"docker.io/library/missing:1",
	}})
	_, _, lines := tn.post(t, "/shoal/v1/preload", bytes.NewReader(req))
	checkProgress(t, lines)
	results := map[string]adminapi.ImageStreamLine{}
	for _, l := range lines {
		if l.Ref != "" {
			results[l.Ref] = l
		}
	}
	for _, c := range []struct{ ref, digest, err string }{
		{"docker.io/library/alpine:3.20", testimage.Digest(t, img), ""},
		{"docker.io/team/multi:1", testimage.Digest(t, idx), ""},
		{"quay.io/org/img:1", "", "no upstream rule"},
		{"docker.io/library/missing:1", "", "unknown"},
	} {
		got := results[c.ref]
		if got.Digest != c.digest || !strings.Contains(got.Error, c.err) || (c.err == "") != (got.Error == "") {
			t.Errorf("%s: %+v, want digest %q error %q", c.ref, got, c.digest, c.err)
		}
	}
	last := lines[len(lines)-1]
	if len(last.Preloaded) != 2 || last.Error != "2 of 4 images could not be preloaded" {
		t.Fatalf("last line %+v", last)
	}
	if last.Preloaded[0].Repo != "docker.io/library/alpine" {
		t.Fatalf("repo %q", last.Preloaded[0].Repo)
	}

	up.Close()
	checkImage(t, tn, "docker.io/library/alpine:3.20", img, testimage.Digest(t, img))
	got, err := remote.Index(tn.ref(t, "docker.io/team/multi:1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(got); err != nil {
		t.Fatalf("index from the cache after upstream stopped: %v", err)
	}
}

func TestPreloadRejectsBadRequests(t *testing.T) {
	tn := newImageTestNode(t, node.Config{})
	for _, tt := range []struct{ name, body string }{
		{"not JSON", "refs: alpine"},
		{"no refs", `{"refs":[]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, code, _ := tn.post(t, "/shoal/v1/preload", strings.NewReader(tt.body))
			if status != http.StatusBadRequest || code != "UNSUPPORTED" {
				t.Fatalf("status %d %s", status, code)
			}
		})
	}
}

// tags lists repo's tags through the registry API (none when it has none).
func (tn *imageTestNode) tags(t *testing.T, repo string) []string {
	t.Helper()
	resp, err := http.Get(tn.srv.URL + "/v2/" + repo + "/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	return list.Tags
}
