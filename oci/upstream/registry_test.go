package upstream

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// fixture is an in-process ggcr registry holding an image, a multi-arch index
// and a referrer of the image.
type fixture struct {
	c        *Client
	img      v1.Image
	imgDesc  v1.Descriptor
	idx      v1.ImageIndex
	idxDesc  v1.Descriptor
	referrer v1.Descriptor
	layer    v1.Layer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	f := &fixture{}

	var err error
	if f.img, err = random.Image(1024, 2); err != nil {
		t.Fatal(err)
	}
	push(t, host+"/library/app:v1", f.img)
	f.imgDesc = describe(t, f.img)
	layers, err := f.img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	f.layer = layers[0]

	if f.idx, err = random.Index(512, 1, 3); err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/library/app:multi")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, f.idx); err != nil {
		t.Fatal(err)
	}
	f.idxDesc = describe(t, f.idx)

	sig, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	sig = mutate.Subject(sig, f.imgDesc).(v1.Image)
	push(t, host+"/library/app:sig", sig)
	f.referrer = describe(t, sig)

	for _, tag := range []string{"b", "a", "c"} {
		push(t, host+"/library/app:"+tag, f.img)
	}

	f.c = newTestClient(t, Options{Rules: []Rule{ruleFor(t, "test", srv)}})
	return f
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func describe(t *testing.T, m interface {
	Digest() (v1.Hash, error)
	RawManifest() ([]byte, error)
}) v1.Descriptor {
	t.Helper()
	h, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := m.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var mt string
	switch x := m.(type) {
	case v1.Image:
		v, _ := x.MediaType()
		mt = string(v)
	case v1.ImageIndex:
		v, _ := x.MediaType()
		mt = string(v)
	}
	return v1.Descriptor{Digest: h, Size: int64(len(raw)), MediaType: types.MediaType(mt)}
}

func TestRegistryResolve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		tag  string
		want v1.Descriptor
	}{
		{"image", "v1", f.imgDesc},
		// A multi-arch tag resolves to the index, not a platform manifest.
		{"index", "multi", f.idxDesc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.c.Resolve(ctx, repository.Name{Rule: "test", Path: "library/app"}, tt.tag)
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest.String() != tt.want.Digest.String() || got.MediaType != string(tt.want.MediaType) || got.Size != tt.want.Size {
				t.Errorf("Resolve = %s %s %d, want %s %s %d", got.MediaType, got.Digest, got.Size, tt.want.MediaType, tt.want.Digest, tt.want.Size)
			}
		})
	}
	if _, err := f.c.Resolve(ctx, repository.Name{Rule: "test", Path: "library/app"}, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(missing) = %v, want ErrNotFound", err)
	}
	if _, err := f.c.Resolve(ctx, repository.Name{Rule: "nosuchrule", Path: "library/app"}, "v1"); err == nil {
		t.Error("Resolve with an unknown rule succeeded")
	}
}

func TestRegistryManifest(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	imgRaw, _ := f.img.RawManifest()
	idxRaw, _ := f.idx.RawManifest()
	tests := []struct {
		name     string
		ref      string
		wantBody []byte
		wantDesc v1.Descriptor
		wantErr  error
	}{
		{"by tag", "v1", imgRaw, f.imgDesc, nil},
		{"by digest", f.imgDesc.Digest.String(), imgRaw, f.imgDesc, nil},
		{"index by tag", "multi", idxRaw, f.idxDesc, nil},
		{"missing tag", "nope", nil, v1.Descriptor{}, ErrNotFound},
		{"missing digest", digest.FromString("nope").String(), nil, v1.Descriptor{}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt, body, d, err := f.c.Manifest(ctx, repository.Name{Rule: "test", Path: "library/app"}, tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != string(tt.wantBody) || d.String() != tt.wantDesc.Digest.String() || mt != string(tt.wantDesc.MediaType) {
				t.Errorf("Manifest = %s %s, want %s %s", mt, d, tt.wantDesc.MediaType, tt.wantDesc.Digest)
			}
		})
	}
}

func TestRegistryBlobs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ld, _ := f.layer.Digest()
	lsize, _ := f.layer.Size()
	want := digest.Digest(ld.String())
	missing := digest.FromString("missing")

	size, err := f.c.StatBlob(ctx, repository.Name{Rule: "test", Path: "library/app"}, want)
	if err != nil || size != lsize {
		t.Fatalf("StatBlob = %d, %v; want %d", size, err, lsize)
	}
	if _, err := f.c.StatBlob(ctx, repository.Name{Rule: "test", Path: "library/app"}, missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("StatBlob(missing) = %v, want ErrNotFound", err)
	}

	rc, n, err := f.c.Blob(ctx, repository.Name{Rule: "test", Path: "library/app"}, want)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if n != lsize || digest.FromBytes(b) != want {
		t.Errorf("Blob: size %d digest %s, want %d %s", n, digest.FromBytes(b), lsize, want)
	}
	if _, _, err := f.c.Blob(ctx, repository.Name{Rule: "test", Path: "library/app"}, missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("Blob(missing) = %v, want ErrNotFound", err)
	}
	if _, _, err := f.c.Blob(ctx, repository.Name{Rule: "test", Path: "library/app"}, "sha256:short"); err == nil {
		t.Error("Blob with an invalid digest succeeded")
	}
}

func TestRegistryTagsAndReferrers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tags, err := f.c.Tags(ctx, repository.Name{Rule: "test", Path: "library/app"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(tags, ","), "a,b,c,multi,sig,v1"; got != want {
		t.Errorf("Tags = %s, want %s", got, want)
	}
	if _, err := f.c.Tags(ctx, repository.Name{Rule: "test", Path: "library/none"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Tags(missing repo) = %v, want ErrNotFound", err)
	}

	refs, err := f.c.Referrers(ctx, repository.Name{Rule: "test", Path: "library/app"}, digest.Digest(f.imgDesc.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest.String() != f.referrer.Digest.String() {
		t.Errorf("Referrers = %+v, want one: %s", refs, f.referrer.Digest)
	}
}

func TestRegistryBlobFrom(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ld, _ := f.layer.Digest()
	lsize, _ := f.layer.Size()
	d := digest.Digest(ld.String())
	rc, _, err := f.c.Blob(ctx, repository.Name{Rule: "test", Path: "library/app"}, d)
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := io.ReadAll(rc)
	rc.Close()
	for _, off := range []int64{0, 1, lsize / 2, lsize - 1} {
		rc, size, err := f.c.BlobFrom(ctx, repository.Name{Rule: "test", Path: "library/app"}, d, off)
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		tail, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(tail) != string(whole[off:]) {
			t.Errorf("offset %d: got %d bytes, want %d", off, len(tail), len(whole[off:]))
		}
		if size != lsize && size != -1 {
			t.Errorf("offset %d: size %d, want %d", off, size, lsize)
		}
	}
}
