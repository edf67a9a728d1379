package pull_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
)

// cannotWrite makes the repository hold ld (a manifest referencing it)
// and then the store refuse all new content, as a full disk does.
func cannotWrite(e *env) {
	m := &oci.Manifest{Digest: digest.FromString("a manifest"), Bytes: []byte("{}")}
	_ = e.store.PutManifest(mirrored.Key(), m, &oci.ManifestInfo{Blobs: []ocispec.Descriptor{{Digest: ld}}})
	e.store.SetCannotWrite(true)
}

// passThroughs is shoal_passthrough_total{kind}.
func (e *env) passThroughs(t *testing.T, kind string) float64 {
	t.Helper()
	return e.gather(t)[`shoal_passthrough_total{kind="`+kind+`"}`]
}

func TestBlobPassesThroughWhenStoreCannotWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(e *env)
	}{
		{"from upstream", func(e *env) { e.up.PutBlob(layer) }},
		{"from peers", func(e *env) { e.peers.Hold(ld, "", layer) }},
		{"from upstream, alone", func(e *env) { e.alone(); e.up.PutBlob(layer) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			tc.setup(e)
			cannotWrite(e)
			p := e.puller(t)
			b, err := p.Blob(context.Background(), mirrored, ld)
			if err != nil {
				t.Fatalf("Blob: %v", err)
			}
			if got := readBlob(t, b); !bytes.Equal(got, layer) {
				t.Fatalf("read %s, want %s", digest.FromBytes(got), ld)
			}
			if e.store.HasBlob(ld) {
				t.Error("the blob was stored by a store that cannot write")
			}
			if n := e.passThroughs(t, "blob"); n != 1 {
				t.Errorf("blob pass-throughs counted: %v, want 1", n)
			}
		})
	}
}

// A blob that does not match its digest breaks the read before its
// last byte: the client never holds a complete wrong blob.
func TestBlobPassThroughWithholdsWrongBlob(t *testing.T) {
	wrong := bytes.Clone(layer)
	wrong[len(wrong)-1] ^= 0xff
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"last byte wrong", wrong},
		{"first byte wrong", append([]byte{layer[0] ^ 0xff}, layer[1:]...)},
		{"short", layer[:len(layer)-10]},
		{"long", append(bytes.Clone(layer), 'x')},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv()
			e.peers.Hold(ld, "", tc.body)
			cannotWrite(e)
			p := e.puller(t)
			b, err := p.Blob(context.Background(), mirrored, ld)
			if err != nil {
				return // refused before any byte: fine
			}
			defer b.Close()
			got, err := io.ReadAll(b.Content)
			if !errors.Is(err, pull.ErrDigestMismatch) {
				t.Fatalf("read ended with %v, want ErrDigestMismatch", err)
			}
			if int64(len(got)) >= b.Size {
				t.Fatalf("handed out %d of %d bytes of a wrong blob", len(got), b.Size)
			}
			if e.store.HasBlob(ld) {
				t.Error("a wrong blob was stored")
			}
		})
	}
}

// A Range request on a passed-through blob reads forward, hashing the
// bytes it skips.
func TestBlobPassThroughSeeksForward(t *testing.T) {
	e := newEnv()
	e.up.PutBlob(layer)
	cannotWrite(e)
	p := e.puller(t)
	b, err := p.Blob(context.Background(), mirrored, ld)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Content.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(b.Content)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, layer[100:]) {
		t.Fatal("wrong bytes after the seek")
	}
	if _, err := b.Content.Seek(0, io.SeekStart); err == nil {
		t.Fatal("seeking back in a passed-through blob did not fail")
	}
}

func TestManifestPassesThroughWhenStoreCannotWrite(t *testing.T) {
	e := newEnv()
	body := manifest(1)
	d := e.up.Put(mirrored, manifestType, body, "latest")
	e.store.SetCannotWrite(true)
	p := e.puller(t)
	for _, ref := range []string{"latest", d.String()} {
		m, err := p.Manifest(context.Background(), mirrored, ref)
		if err != nil {
			t.Fatalf("Manifest %s: %v", ref, err)
		}
		if m.Digest != d || !bytes.Equal(m.Bytes, body) {
			t.Fatalf("Manifest %s: got %s", ref, m.Digest)
		}
	}
	if e.store.HasManifest(mirrored.Key(), d) {
		t.Error("the manifest was stored by a store that cannot write")
	}
	if n := e.passThroughs(t, "manifest"); n != 2 {
		t.Errorf("manifest pass-throughs counted: %v, want 2", n)
	}
	if calls := e.storedCalls(); len(calls) != 0 {
		t.Errorf("ManifestStored told of %v", calls)
	}
}
