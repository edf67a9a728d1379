package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/cache"
	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/oci/ocitest"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/registry"
	"github.com/shoal-dev/shoal/repository"
)

// fakeSource is a pull.Source that records the repository each read
// reached it with and answers something made of it.
type fakeSource struct {
	mu    sync.Mutex
	calls []string // "<Method> <rule>|<path> <arg>"
	// err, when set, is every answer.
	err error
}

var _ pull.Source = (*fakeSource)(nil)

func (f *fakeSource) record(method string, repo repository.Name, arg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s|%s %s", method, repo.Rule, repo.Path, arg))
	return f.err
}

func (f *fakeSource) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// answer is what the source serves for repo: a body naming it.
func answer(repo repository.Name) []byte { return []byte("content of " + repo.Key()) }

func (f *fakeSource) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	if err := f.record("Manifest", repo, ref); err != nil {
		return nil, err
	}
	b := answer(repo)
	return &oci.Manifest{Digest: digest.FromBytes(b), MediaType: ocispec.MediaTypeImageManifest, Bytes: b, Warning: "from the source"}, nil
}

func (f *fakeSource) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	if err := f.record("StatBlob", repo, d.String()); err != nil {
		return 0, err
	}
	return int64(len(answer(repo))), nil
}

func (f *fakeSource) Blob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error) {
	if err := f.record("Blob", repo, d.String()); err != nil {
		return nil, err
	}
	b := answer(repo)
	return &oci.Blob{Size: int64(len(b)), Content: bytes.NewReader(b), Close: func() error { return nil }}, nil
}

func (f *fakeSource) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	if err := f.record("Tags", repo, ""); err != nil {
		return nil, err
	}
	return []string{repo.Key()}, nil
}

func (f *fakeSource) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	if err := f.record("Referrers", repo, d.String()); err != nil {
		return nil, err
	}
	return []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(answer(repo)), Size: 1}}, nil
}

// env is a Registry over a real store and a recording source.
type env struct {
	g      *registry.Registry
	store  *cache.Store
	src    *fakeSource
	mu     sync.Mutex
	stored []string // ManifestStored calls: "<rule>|<path> <digest> <media type>"
}

var upstreamRules = map[string]bool{"docker.io": true, "ghcr.io": true, "127.0.0.1:5001": true}

// newEnv is a node with upstream rules docker.io (the default for reads),
// ghcr.io and 127.0.0.1:5001.
func newEnv(t *testing.T, defaultUpstream string) *env {
	t.Helper()
	return newEnvWith(t, defaultUpstream, cache.Options{})
}

// newEnvWith is newEnv over a store opened with opts.
func newEnvWith(t *testing.T, defaultUpstream string, opts cache.Options) *env {
	t.Helper()
	store, err := cache.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &env{store: store, src: &fakeSource{}}
	e.g = &registry.Registry{
		Names: repository.Resolver{
			HasRule: func(name string) bool { return upstreamRules[name] },
			Default: defaultUpstream,
			IsLocal: store.IsLocal,
		},
		Content: e.src,
		Store:   store,
		ManifestStored: func(repo repository.Name, d digest.Digest, info *oci.ManifestInfo) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.stored = append(e.stored, fmt.Sprintf("%s|%s %s %s", repo.Rule, repo.Path, d, info.MediaType))
		},
	}
	return e
}

func (e *env) storedCalls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.stored...)
}

// image is a valid image manifest, distinct for each n, and what the
// handler would parse out of it.
func image(t *testing.T, n int) (*oci.Manifest, *oci.ManifestInfo) {
	t.Helper()
	cfg := digest.FromString(fmt.Sprint("config ", n))
	layer := digest.FromString(fmt.Sprint("layer ", n))
	b := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":9},"layers":[{"mediaType":%q,"digest":%q,"size":5}]}`,
		ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, cfg, ocispec.MediaTypeImageLayerGzip, layer)
	info, err := oci.ParseManifest(ocispec.MediaTypeImageManifest, b)
	if err != nil {
		t.Fatal(err)
	}
	return &oci.Manifest{Digest: digest.FromBytes(b), MediaType: ocispec.MediaTypeImageManifest, Bytes: b}, info
}

// push stores an image in local repository name under tags, through the
// registry.
func (e *env) push(t *testing.T, name string, n int, tags ...string) *oci.Manifest {
	t.Helper()
	m, info := image(t, n)
	if err := e.g.PutManifest(context.Background(), oci.Repo{Name: name}, tags, m, info); err != nil {
		t.Fatal(err)
	}
	return m
}

// putBlob stores content and links it into repo (a store key).
func (e *env) putBlob(t *testing.T, repo string, local bool, content string) digest.Digest {
	t.Helper()
	d := digest.FromString(content)
	if _, err := e.store.PutBlob(d, strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.LinkBlob(repo, local, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// A read resolves the client's name once and reaches the source with the
// repository it names; what the source answers is the client's answer.
func TestReadsResolve(t *testing.T) {
	tests := []struct {
		name      string
		noDefault bool
		repo      oci.Repo
		want      repository.Name
		// err is the refusal (NAME_UNKNOWN) when the name resolves to
		// nothing.
		err bool
	}{
		{name: "ns", repo: oci.Repo{Name: "library/alpine", NS: "docker.io"}, want: repository.Mirror("docker.io", "library/alpine")},
		{name: "ns, Docker Hub official image", repo: oci.Repo{Name: "alpine", NS: "docker.io"}, want: repository.Name{Rule: "docker.io", Path: "library/alpine"}},
		{name: "ns with a port", repo: oci.Repo{Name: "test/img", NS: "127.0.0.1:5001"}, want: repository.Name{Rule: "127.0.0.1:5001", Path: "test/img"}},
		{name: "ns wins over a rule prefix", repo: oci.Repo{Name: "ghcr.io/org/img", NS: "docker.io"}, want: repository.Name{Rule: "docker.io", Path: "ghcr.io/org/img"}},
		{name: "rule prefix", repo: oci.Repo{Name: "ghcr.io/org/img"}, want: repository.Name{Rule: "ghcr.io", Path: "org/img"}},
		{name: "rule prefix, Docker Hub official image", repo: oci.Repo{Name: "docker.io/alpine"}, want: repository.Name{Rule: "docker.io", Path: "library/alpine"}},
		{name: "default upstream", repo: oci.Repo{Name: "alpine"}, want: repository.Name{Rule: "docker.io", Path: "library/alpine"}},
		{name: "default upstream, two components", repo: oci.Repo{Name: "bitnami/redis"}, want: repository.Name{Rule: "docker.io", Path: "bitnami/redis"}},
		{name: "default upstream, a prefix that is no rule", repo: oci.Repo{Name: "quay.io/org/img"}, want: repository.Name{Rule: "docker.io", Path: "quay.io/org/img"}},
		{name: "local repository wins over the default upstream", repo: oci.Repo{Name: "team/app"}, want: repository.Local("team/app")},
		{name: "no default upstream", noDefault: true, repo: oci.Repo{Name: "alpine"}, want: repository.Local("alpine")},
		{name: "unknown ns", repo: oci.Repo{Name: "org/img", NS: "quay.io"}, err: true},
	}
	d := digest.FromString("asked for")
	reads := []struct {
		method string
		arg    string
		// read reads through the registry and summarises the answer.
		read func(ctx context.Context, g *registry.Registry, repo oci.Repo) (string, error)
	}{
		{"Manifest", "v1", func(ctx context.Context, g *registry.Registry, repo oci.Repo) (string, error) {
			m, err := g.GetManifest(ctx, repo, "v1")
			if err != nil {
				return "", err
			}
			return string(m.Bytes) + " (" + m.Warning + ")", nil
		}},
		{"Manifest", d.String(), func(ctx context.Context, g *registry.Registry, repo oci.Repo) (string, error) {
			m, err := g.GetManifest(ctx, repo, d.String())
			if err != nil {
				return "", err
			}
			return string(m.Bytes) + " (" + m.Warning + ")", nil
		}},
		{"StatBlob", d.String(), func(ctx context.Context, g *registry.Registry, repo oci.Repo) (string, error) {
			size, err := g.StatBlob(ctx, repo, d)
			return fmt.Sprint(size), err
		}},
		{"Blob", d.String(), func(ctx context.Context, g *registry.Registry, repo oci.Repo) (string, error) {
			b, err := g.GetBlob(ctx, repo, d)
			if err != nil {
				return "", err
			}
			defer b.Close()
			var buf bytes.Buffer
			_, err = buf.ReadFrom(b.Content)
			return buf.String(), err
		}},
		{"Tags", "", func(ctx context.Context, g *registry.Registry, repo oci.Repo) (string, error) {
			tags, err := g.Tags(ctx, repo)
			return strings.Join(tags, ","), err
		}},
		{"Referrers", d.String(), func(ctx context.Context, g *registry.Registry, repo oci.Repo) (string, error) {
			descs, err := g.Referrers(ctx, repo, d)
			if err != nil || len(descs) != 1 {
				return fmt.Sprint(descs), err
			}
			return descs[0].Digest.String(), nil
		}},
	}
	for _, tt := range tests {
		for _, rd := range reads {
			t.Run(tt.name+"/"+rd.method+" "+rd.arg, func(t *testing.T) {
				def := "docker.io"
				if tt.noDefault {
					def = ""
				}
				e := newEnv(t, def)
				e.push(t, "team/app", 1, "v1")
				got, err := rd.read(context.Background(), e.g, tt.repo)
				if tt.err {
					ocitest.WantError(t, err, 404, "NAME_UNKNOWN")
					if calls := e.src.Calls(); len(calls) != 0 {
						t.Errorf("the source was asked: %q", calls)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				wantCall := fmt.Sprintf("%s %s|%s %s", rd.method, tt.want.Rule, tt.want.Path, rd.arg)
				if calls := e.src.Calls(); len(calls) != 1 || calls[0] != wantCall {
					t.Errorf("calls %q, want %q", calls, wantCall)
				}
				want := map[string]string{
					"Manifest":  string(answer(tt.want)) + " (from the source)",
					"StatBlob":  fmt.Sprint(len(answer(tt.want))),
					"Blob":      string(answer(tt.want)),
					"Tags":      tt.want.Key(),
					"Referrers": digest.FromBytes(answer(tt.want)).String(),
				}[rd.method]
				if got != want {
					t.Errorf("answer %q, want %q", got, want)
				}
			})
		}
	}
}

// The source's refusals reach the client as they are.
func TestReadErrorsPassOn(t *testing.T) {
	e := newEnv(t, "docker.io")
	refusal := oci.ErrDenied.WithMessage("policy expired")
	e.src.err = refusal
	ctx := context.Background()
	repo := oci.Repo{Name: "alpine"}
	d := digest.FromString("x")
	_, err1 := e.g.GetManifest(ctx, repo, "v1")
	_, err2 := e.g.StatBlob(ctx, repo, d)
	_, err3 := e.g.GetBlob(ctx, repo, d)
	_, err4 := e.g.Tags(ctx, repo)
	_, err5 := e.g.Referrers(ctx, repo, d)
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if err != refusal {
			t.Errorf("read %d: err = %v, want the source's %v", i+1, err, refusal)
		}
	}
}

// Mirrored namespaces are read-only: every write is UNSUPPORTED and the
// store is untouched.
func TestWritesToMirrorsUnsupported(t *testing.T) {
	d := digest.FromString("blob")
	m, info := image(t, 1)
	writes := []struct {
		name  string
		write func(ctx context.Context, g *registry.Registry, repo oci.Repo) error
	}{
		{"PutManifest", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			return g.PutManifest(ctx, repo, []string{"v1"}, m, info)
		}},
		{"DeleteManifest", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			return g.DeleteManifest(ctx, repo, m.Digest)
		}},
		{"DeleteTag", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			return g.DeleteTag(ctx, repo, "v1")
		}},
		{"DeleteBlob", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			return g.DeleteBlob(ctx, repo, d)
		}},
		{"StartUpload", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			_, err := g.StartUpload(ctx, repo)
			return err
		}},
		{"UploadSize", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			_, err := g.UploadSize(ctx, repo, strings.Repeat("0", 32))
			return err
		}},
		{"WriteUpload", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			_, err := g.WriteUpload(ctx, repo, strings.Repeat("0", 32), 0, strings.NewReader("x"))
			return err
		}},
		{"CommitUpload", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			return g.CommitUpload(ctx, repo, strings.Repeat("0", 32), d)
		}},
		{"CancelUpload", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			return g.CancelUpload(ctx, repo, strings.Repeat("0", 32))
		}},
		{"MountBlob", func(ctx context.Context, g *registry.Registry, repo oci.Repo) error {
			return g.MountBlob(ctx, repo, oci.Repo{Name: "team/app"}, d)
		}},
	}
	repos := []struct {
		name       string
		repo       oci.Repo
		rule, path string
	}{
		{"ns", oci.Repo{Name: "library/alpine", NS: "docker.io"}, "docker.io", "library/alpine"},
		{"rule prefix", oci.Repo{Name: "ghcr.io/org/img"}, "ghcr.io", "org/img"},
		{"rule prefix, Docker Hub official image", oci.Repo{Name: "docker.io/alpine"}, "docker.io", "library/alpine"},
	}
	for _, r := range repos {
		for _, w := range writes {
			t.Run(r.name+"/"+w.name, func(t *testing.T) {
				e := newEnv(t, "docker.io")
				e.putBlob(t, "team/app", true, "blob")
				before, err := e.store.Repos()
				if err != nil {
					t.Fatal(err)
				}
				oe := ocitest.WantError(t, w.write(context.Background(), e.g, r.repo), 405, "UNSUPPORTED")
				if want := fmt.Sprintf("repository %s is mirrored from upstream %s and cannot be written", r.path, r.rule); oe.Message != want {
					t.Errorf("message %q, want %q", oe.Message, want)
				}
				after, err := e.store.Repos()
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(after, ",") != strings.Join(before, ",") {
					t.Errorf("repositories %q, were %q", after, before)
				}
				if calls := e.src.Calls(); len(calls) != 0 {
					t.Errorf("the source was asked: %q", calls)
				}
				if s := e.storedCalls(); len(s) != 0 {
					t.Errorf("ManifestStored told %q", s)
				}
			})
		}
	}
	// Nor may a write name a rule that does not exist.
	t.Run("unknown ns", func(t *testing.T) {
		e := newEnv(t, "docker.io")
		for _, w := range writes {
			ocitest.WantError(t, w.write(context.Background(), e.g, oci.Repo{Name: "org/img", NS: "quay.io"}), 404, "NAME_UNKNOWN")
		}
	})
}

// A push stores a local manifest under its tags and tells scanning; a
// push with no rule goes to a local repository even where reads would go
// to the default upstream.
func TestPutManifest(t *testing.T) {
	tests := []struct {
		name string
		repo string
		tags []string
	}{
		{name: "tagged", repo: "team/app", tags: []string{"v1", "latest"}},
		{name: "by digest", repo: "team/app"},
		{name: "a name reads would mirror", repo: "alpine", tags: []string{"3.20"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "docker.io")
			ctx := context.Background()
			m, info := image(t, 1)
			if err := e.g.PutManifest(ctx, oci.Repo{Name: tt.repo}, tt.tags, m, info); err != nil {
				t.Fatal(err)
			}
			if !e.store.IsLocal(tt.repo) {
				t.Errorf("%s is not a local repository", tt.repo)
			}
			rec, body, err := e.store.GetManifest(tt.repo, m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, m.Bytes) || rec.MediaType != ocispec.MediaTypeImageManifest || rec.Size != int64(len(m.Bytes)) || len(rec.Blobs) != 2 {
				t.Errorf("stored %+v, %q", rec, body)
			}
			for _, tag := range tt.tags {
				if d, _, err := e.store.Tag(tt.repo, tag); err != nil || d != m.Digest {
					t.Errorf("tag %s: %s, %v", tag, d, err)
				}
			}
			want := fmt.Sprintf("|%s %s %s", tt.repo, m.Digest, ocispec.MediaTypeImageManifest)
			if s := e.storedCalls(); len(s) != 1 || s[0] != want {
				t.Errorf("ManifestStored told %q, want %q", s, want)
			}
			if repos, err := e.g.Catalog(ctx); err != nil || strings.Join(repos, ",") != tt.repo {
				t.Errorf("catalog %q, %v", repos, err)
			}
			// Reads of the name now reach the local repository.
			if _, err := e.g.GetManifest(ctx, oci.Repo{Name: tt.repo}, "any"); err != nil {
				t.Fatal(err)
			}
			if calls := e.src.Calls(); len(calls) != 1 || calls[0] != "Manifest |"+tt.repo+" any" {
				t.Errorf("calls %q", calls)
			}
		})
	}

	t.Run("refused by the store", func(t *testing.T) {
		e := newEnv(t, "docker.io")
		m, info := image(t, 1)
		m.Digest = "sha256:not-a-digest"
		if err := e.g.PutManifest(context.Background(), oci.Repo{Name: "team/app"}, nil, m, info); err == nil {
			t.Fatal("a manifest with an invalid digest was stored")
		}
		if s := e.storedCalls(); len(s) != 0 {
			t.Errorf("ManifestStored told %q", s)
		}
	})
	t.Run("nobody listening", func(t *testing.T) {
		e := newEnv(t, "docker.io")
		e.g.ManifestStored = nil
		m, info := image(t, 1)
		if err := e.g.PutManifest(context.Background(), oci.Repo{Name: "team/app"}, []string{"v1"}, m, info); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeletes(t *testing.T) {
	ctx := context.Background()
	repo := oci.Repo{Name: "team/app"}
	unknown := digest.FromString("unknown")
	tests := []struct {
		name string
		// del deletes something of the fixture: a local repository
		// team/app holding image m tagged v1 and blob b.
		del    func(e *env, m *oci.Manifest, b digest.Digest) error
		code   string // "" when it succeeds
		detail func(m *oci.Manifest, b digest.Digest) map[string]string
		// gone checks the store after a success.
		gone func(t *testing.T, e *env, m *oci.Manifest, b digest.Digest)
	}{
		{name: "manifest", del: func(e *env, m *oci.Manifest, _ digest.Digest) error { return e.g.DeleteManifest(ctx, repo, m.Digest) },
			gone: func(t *testing.T, e *env, m *oci.Manifest, _ digest.Digest) {
				if _, _, err := e.store.GetManifest("team/app", m.Digest); !errors.Is(err, cache.ErrNotFound) {
					t.Errorf("the manifest is still there: %v", err)
				}
			}},
		{name: "manifest not found", del: func(e *env, _ *oci.Manifest, _ digest.Digest) error { return e.g.DeleteManifest(ctx, repo, unknown) },
			code: "MANIFEST_UNKNOWN", detail: func(*oci.Manifest, digest.Digest) map[string]string {
				return map[string]string{"digest": unknown.String()}
			}},
		{name: "manifest of an unknown repository", del: func(e *env, m *oci.Manifest, _ digest.Digest) error {
			return e.g.DeleteManifest(ctx, oci.Repo{Name: "team/other"}, m.Digest)
		}, code: "MANIFEST_UNKNOWN", detail: func(m *oci.Manifest, _ digest.Digest) map[string]string {
			return map[string]string{"digest": m.Digest.String()}
		}},
		{name: "tag", del: func(e *env, _ *oci.Manifest, _ digest.Digest) error { return e.g.DeleteTag(ctx, repo, "v1") },
			gone: func(t *testing.T, e *env, m *oci.Manifest, _ digest.Digest) {
				if _, _, err := e.store.Tag("team/app", "v1"); !errors.Is(err, cache.ErrNotFound) {
					t.Errorf("the tag is still there: %v", err)
				}
				if _, _, err := e.store.GetManifest("team/app", m.Digest); err != nil {
					t.Errorf("the manifest went with its tag: %v", err)
				}
			}},
		{name: "tag not found", del: func(e *env, _ *oci.Manifest, _ digest.Digest) error { return e.g.DeleteTag(ctx, repo, "v2") },
			code: "MANIFEST_UNKNOWN", detail: func(*oci.Manifest, digest.Digest) map[string]string { return map[string]string{"tag": "v2"} }},
		{name: "blob", del: func(e *env, _ *oci.Manifest, b digest.Digest) error { return e.g.DeleteBlob(ctx, repo, b) },
			gone: func(t *testing.T, e *env, _ *oci.Manifest, b digest.Digest) {
				if e.store.BlobLinked("team/app", b) {
					t.Error("the blob is still linked")
				}
			}},
		{name: "blob not linked", del: func(e *env, _ *oci.Manifest, _ digest.Digest) error { return e.g.DeleteBlob(ctx, repo, unknown) },
			code: "BLOB_UNKNOWN", detail: func(*oci.Manifest, digest.Digest) map[string]string {
				return map[string]string{"digest": unknown.String()}
			}},
		{name: "blob of another repository", del: func(e *env, _ *oci.Manifest, b digest.Digest) error {
			return e.g.DeleteBlob(ctx, oci.Repo{Name: "team/other"}, b)
		}, code: "BLOB_UNKNOWN", detail: func(_ *oci.Manifest, b digest.Digest) map[string]string {
			return map[string]string{"digest": b.String()}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "docker.io")
			m := e.push(t, "team/app", 1, "v1")
			b := e.putBlob(t, "team/app", true, "blob")
			e.push(t, "team/other", 2, "v1")
			err := tt.del(e, m, b)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				tt.gone(t, e, m, b)
				// A second time, there is nothing to delete.
				err = tt.del(e, m, b)
				if err == nil {
					t.Fatal("deleted twice")
				}
				ocitest.WantError(t, err, 404, map[string]string{"manifest": "MANIFEST_UNKNOWN", "tag": "MANIFEST_UNKNOWN", "blob": "BLOB_UNKNOWN"}[tt.name])
				return
			}
			oe := ocitest.WantError(t, err, 404, tt.code)
			if want := tt.detail(m, b); fmt.Sprint(oe.Detail) != fmt.Sprint(want) {
				t.Errorf("detail = %v, want %v", oe.Detail, want)
			}
		})
	}
}

func TestMountBlob(t *testing.T) {
	const content = "shared layer"
	d := digest.FromString(content)
	tests := []struct {
		name string
		to   oci.Repo
		from oci.Repo
		// setup puts the blob where the case wants it.
		setup  func(t *testing.T, e *env)
		status int
		code   string // "" when mounted
	}{
		{name: "from a repository that holds it", to: oci.Repo{Name: "team/new"}, from: oci.Repo{Name: "team/app"},
			setup: func(t *testing.T, e *env) { e.putBlob(t, "team/app", true, content) }},
		{name: "into an existing repository", to: oci.Repo{Name: "team/other"}, from: oci.Repo{Name: "team/app"},
			setup: func(t *testing.T, e *env) {
				e.putBlob(t, "team/app", true, content)
				e.push(t, "team/other", 2, "v1")
			}},
		{name: "from a repository that does not hold it", to: oci.Repo{Name: "team/new"}, from: oci.Repo{Name: "team/other"},
			setup: func(t *testing.T, e *env) {
				e.putBlob(t, "team/app", true, content)
				e.push(t, "team/other", 2, "v1")
			}, status: 404, code: "BLOB_UNKNOWN"},
		{name: "a blob nobody holds", to: oci.Repo{Name: "team/new"}, from: oci.Repo{Name: "team/app"},
			setup: func(t *testing.T, e *env) { e.push(t, "team/app", 2, "v1") }, status: 404, code: "BLOB_UNKNOWN"},
		{name: "from a mirrored repository, ns", to: oci.Repo{Name: "team/new"}, from: oci.Repo{Name: "library/alpine", NS: "docker.io"},
			setup: func(t *testing.T, e *env) { e.putBlob(t, "docker.io/library/alpine", false, content) }, status: 404, code: "BLOB_UNKNOWN"},
		{name: "from a mirrored repository, rule prefix", to: oci.Repo{Name: "team/new"}, from: oci.Repo{Name: "docker.io/library/alpine"},
			setup: func(t *testing.T, e *env) { e.putBlob(t, "docker.io/library/alpine", false, content) }, status: 404, code: "BLOB_UNKNOWN"},
		{name: "from a mirrored repository, default upstream", to: oci.Repo{Name: "team/new"}, from: oci.Repo{Name: "alpine"},
			setup: func(t *testing.T, e *env) { e.putBlob(t, "docker.io/library/alpine", false, content) }, status: 404, code: "BLOB_UNKNOWN"},
		{name: "from an unknown ns", to: oci.Repo{Name: "team/new"}, from: oci.Repo{Name: "org/img", NS: "quay.io"},
			setup: func(t *testing.T, e *env) { e.putBlob(t, "team/app", true, content) }, status: 404, code: "NAME_UNKNOWN"},
		{name: "into a mirrored repository", to: oci.Repo{Name: "ghcr.io/org/img"}, from: oci.Repo{Name: "team/app"},
			setup: func(t *testing.T, e *env) { e.putBlob(t, "team/app", true, content) }, status: 405, code: "UNSUPPORTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "docker.io")
			tt.setup(t, e)
			err := e.g.MountBlob(context.Background(), tt.to, tt.from, d)
			to := tt.to.Name
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !e.store.BlobLinked(to, d) || !e.store.IsLocal(to) {
					t.Errorf("%s: linked %v, local %v", to, e.store.BlobLinked(to, d), e.store.IsLocal(to))
				}
				return
			}
			oe := ocitest.WantError(t, err, tt.status, tt.code)
			if tt.code == "BLOB_UNKNOWN" {
				if detail, _ := oe.Detail.(map[string]string); detail["digest"] != d.String() {
					t.Errorf("detail = %v", oe.Detail)
				}
			}
			if e.store.BlobLinked(to, d) || e.store.BlobLinked("ghcr.io/org/img", d) {
				t.Errorf("the blob was linked into %s", to)
			}
			if calls := e.src.Calls(); len(calls) != 0 {
				t.Errorf("the source was asked: %q", calls)
			}
		})
	}
}

func TestUploads(t *testing.T) {
	ctx := context.Background()
	repo := oci.Repo{Name: "team/app"}
	const content = "hello, blob"
	d := digest.FromString(content)
	unknownID := strings.Repeat("a", 32)
	tests := []struct {
		name string
		// run acts on upload id of repo, which holds "hello, " already.
		run    func(e *env, id string) error
		status int
		code   string // "" when it succeeds
		// after checks the store then.
		after func(t *testing.T, e *env, id string)
	}{
		{name: "append at the offset", run: func(e *env, id string) error {
			size, err := e.g.WriteUpload(ctx, repo, id, 7, strings.NewReader("blob"))
			if err == nil && size != 11 {
				err = fmt.Errorf("size %d, want 11", size)
			}
			return err
		}},
		{name: "streamed append", run: func(e *env, id string) error {
			size, err := e.g.WriteUpload(ctx, repo, id, -1, strings.NewReader("blob"))
			if err == nil && size != 11 {
				err = fmt.Errorf("size %d, want 11", size)
			}
			return err
		}},
		{name: "size", run: func(e *env, id string) error {
			size, err := e.g.UploadSize(ctx, repo, id)
			if err == nil && size != 7 {
				err = fmt.Errorf("size %d, want 7", size)
			}
			return err
		}},
		{name: "offset mismatch", run: func(e *env, id string) error {
			_, err := e.g.WriteUpload(ctx, repo, id, 3, strings.NewReader("blob"))
			return err
		}, status: 416, code: "BLOB_UPLOAD_INVALID", after: func(t *testing.T, e *env, id string) {
			if size, err := e.g.UploadSize(ctx, repo, id); err != nil || size != 7 {
				t.Errorf("after a refused chunk: %d, %v", size, err)
			}
		}},
		{name: "commit", run: func(e *env, id string) error {
			if _, err := e.g.WriteUpload(ctx, repo, id, 7, strings.NewReader("blob")); err != nil {
				return err
			}
			return e.g.CommitUpload(ctx, repo, id, d)
		}, after: func(t *testing.T, e *env, id string) {
			if !e.store.BlobLinked("team/app", d) || !e.store.IsLocal("team/app") {
				t.Error("the committed blob is not linked into the local repository")
			}
			_, err := e.g.UploadSize(ctx, repo, id)
			ocitest.WantError(t, err, 404, "BLOB_UPLOAD_UNKNOWN")
		}},
		{name: "digest mismatch", run: func(e *env, id string) error { return e.g.CommitUpload(ctx, repo, id, d) },
			status: 400, code: "DIGEST_INVALID", after: func(t *testing.T, e *env, id string) {
				if e.store.BlobLinked("team/app", digest.FromString("hello, ")) || e.store.BlobLinked("team/app", d) {
					t.Error("a mismatched upload was linked")
				}
				_, err := e.g.UploadSize(ctx, repo, id)
				ocitest.WantError(t, err, 404, "BLOB_UPLOAD_UNKNOWN")
			}},
		{name: "cancel", run: func(e *env, id string) error { return e.g.CancelUpload(ctx, repo, id) },
			after: func(t *testing.T, e *env, id string) {
				_, err := e.g.UploadSize(ctx, repo, id)
				ocitest.WantError(t, err, 404, "BLOB_UPLOAD_UNKNOWN")
			}},
		{name: "unknown upload, size", run: func(e *env, _ string) error {
			_, err := e.g.UploadSize(ctx, repo, unknownID)
			return err
		}, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "unknown upload, write", run: func(e *env, _ string) error {
			_, err := e.g.WriteUpload(ctx, repo, unknownID, 0, strings.NewReader("x"))
			return err
		}, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "unknown upload, commit", run: func(e *env, _ string) error { return e.g.CommitUpload(ctx, repo, unknownID, d) },
			status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "unknown upload, cancel", run: func(e *env, _ string) error { return e.g.CancelUpload(ctx, repo, unknownID) },
			status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "malformed upload id", run: func(e *env, _ string) error {
			_, err := e.g.UploadSize(ctx, repo, "../../meta")
			return err
		}, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "another repository's upload", run: func(e *env, id string) error {
			_, err := e.g.WriteUpload(ctx, oci.Repo{Name: "team/other"}, id, 7, strings.NewReader("blob"))
			return err
		}, status: 404, code: "BLOB_UPLOAD_UNKNOWN", after: func(t *testing.T, e *env, id string) {
			if size, err := e.g.UploadSize(ctx, repo, id); err != nil || size != 7 {
				t.Errorf("the upload after another repository wrote to it: %d, %v", size, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "docker.io")
			id, err := e.g.StartUpload(ctx, repo)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.g.WriteUpload(ctx, repo, id, 0, strings.NewReader("hello, ")); err != nil {
				t.Fatal(err)
			}
			err = tt.run(e, id)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				ocitest.WantError(t, err, tt.status, tt.code)
			}
			if tt.after != nil {
				tt.after(t, e, id)
			}
		})
	}
}

// Upload bytes that do not fit in the store's size limit, once nothing
// mirrored is left to evict, are refused with DENIED: a client retrying
// would not make them fit.
func TestUploadsIntoFullStore(t *testing.T) {
	ctx := context.Background()
	repo := oci.Repo{Name: "team/app"}
	const limit = 64
	tests := []struct {
		name   string
		pushed int // bytes of pushed content already stored
		run    func(e *env) error
		status int
		code   string // "" when it succeeds
	}{
		{name: "a chunk that fits", pushed: 32, run: func(e *env) error {
			id, err := e.g.StartUpload(ctx, repo)
			if err != nil {
				return err
			}
			_, err = e.g.WriteUpload(ctx, repo, id, 0, strings.NewReader(strings.Repeat("x", 32)))
			return err
		}},
		{name: "a chunk past the limit", pushed: 32, run: func(e *env) error {
			id, err := e.g.StartUpload(ctx, repo)
			if err != nil {
				return err
			}
			_, err = e.g.WriteUpload(ctx, repo, id, 0, strings.NewReader(strings.Repeat("x", 33)))
			return err
		}, status: 403, code: "DENIED"},
		{name: "a session in a full store", pushed: limit, run: func(e *env) error {
			_, err := e.g.StartUpload(ctx, repo)
			return err
		}, status: 403, code: "DENIED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, "docker.io", cache.Options{MaxBytes: limit})
			e.putBlob(t, "team/base", true, strings.Repeat("p", tt.pushed))
			err := tt.run(e)
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			oe := ocitest.WantError(t, err, tt.status, tt.code)
			if !strings.Contains(oe.Message, "store full") {
				t.Errorf("message %q does not say the store is full", oe.Message)
			}
		})
	}
}
