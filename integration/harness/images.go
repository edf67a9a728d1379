package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TarLayer is an uncompressed tar layer holding one file of size
// pseudo-random bytes drawn from seed. It is a valid layer that containerd
// can unpack, and cheap to make at any size (no gzip of random data).
func TarLayer(size int64, seed uint64) (v1.Layer, error) {
	var buf bytes.Buffer
	buf.Grow(int(size) + 2048)
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{
		Name: fmt.Sprintf("data-%d.bin", seed), Size: size, Mode: 0o644,
		Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0),
	}); err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), byte(seed >> 32), 0x5e, 0xa1})
	if _, err := io.CopyN(tw, rng, size); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer), nil
}

// TarImage is an OCI image for platform (e.g. linux/amd64) with one TarLayer
// per size; seed makes it unique.
func TarImage(platform v1.Platform, seed uint64, sizes ...int64) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i, s := range sizes {
		l, err := TarLayer(s, seed*1000+uint64(i))
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = platform.OS, platform.Architecture, platform.Variant
	cf.Config.Labels = map[string]string{"shoal.test/seed": fmt.Sprint(seed)}
	return mutate.ConfigFile(img, cf)
}

// MultiArchIndex is an OCI index with one TarImage per platform.
func MultiArchIndex(seed uint64, size int64, platforms ...v1.Platform) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, p := range platforms {
		img, err := TarImage(p, seed*100+uint64(i), size)
		if err != nil {
			return nil, err
		}
		pp := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &pp},
		})
	}
	return idx, nil
}

// Ref parses host/repo:tag or host/repo@digest, allowing plain HTTP.
func Ref(s string) (name.Reference, error) {
	return name.ParseReference(s, name.Insecure, name.StrictValidation)
}

func remoteOpts(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithTransport(http.DefaultTransport), remote.WithJobs(4)}
}

// PushImage writes img to ref (e.g. 127.0.0.1:5000/repo:tag).
func PushImage(ctx context.Context, ref string, img v1.Image) error {
	r, err := Ref(ref)
	if err != nil {
		return err
	}
	return remote.Write(r, img, remoteOpts(ctx)...)
}

// PushIndex writes idx and its images to ref.
func PushIndex(ctx context.Context, ref string, idx v1.ImageIndex) error {
	r, err := Ref(ref)
	if err != nil {
		return err
	}
	return remote.WriteIndex(r, idx, remoteOpts(ctx)...)
}

// BlobInfo is a blob's digest and size with the bytes to check against.
type BlobInfo struct {
	Digest v1.Hash
	Size   int64
	Data   []byte
}

// ImageBlobs returns the config and layers of img with their bytes.
func ImageBlobs(img v1.Image) ([]BlobInfo, error) {
	var out []BlobInfo
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	out = append(out, BlobInfo{Digest: cfgName, Size: int64(len(cfg)), Data: cfg})
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, BlobInfo{Digest: d, Size: int64(len(b)), Data: b})
	}
	return out, nil
}

// SHA256 is the "sha256:<hex>" digest of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// ManifestAccept is the Accept list a client sends to resolve any manifest.
const ManifestAccept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"
