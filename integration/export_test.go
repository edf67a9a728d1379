package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shoal-dev/shoal/integration/harness"
)

// exportTestImage is an image for this machine's platform with one plain
// and one gzip-compressed layer, so the clients that load an export
// unpack both kinds.
func exportTestImage(t *testing.T, seed uint64) v1.Image {
	t.Helper()
	img, err := harness.TarImage(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}, seed, 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	body := fmt.Sprintf("exported by shoal, seed %d\n", seed)
	if err := tw.WriteHeader(&tar.Header{Name: "etc/shoal-export.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tw, body)
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz.Bytes())), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestExportLoadsEverywhere exports an image mirrored by a node with
// "shoal export" and loads the file with each client a user would:
// docker load (Docker's classic image store reads manifest.json), ctr
// images import and skopeo's oci-archive (both read index.json).
func TestExportLoadsEverywhere(t *testing.T) {
	skipIfShort(t)
	requireRoot(t)
	tools := requireTool(t, "skopeo", "containerd", "ctr")
	ctx := testContext(t, 6*time.Minute)
	if err := harness.DockerAvailable(ctx); err != nil {
		if inCI {
			t.Fatalf("no Docker engine (CI=true, so this fails instead of skipping): %v", err)
		}
		t.Skipf("skipping: no Docker engine is reachable: %v", err)
	}
	up := startUpstream(t, ctx)
	// A repository name of this run's own, so that the image docker
	// loads collides with no other test's.
	repo := fmt.Sprintf("shoal-export-it-%d/app", os.Getpid())
	img := exportTestImage(t, 13)
	if err := harness.PushImage(ctx, up.Addr+"/"+repo+":v1", img); err != nil {
		t.Fatal(err)
	}
	manifestDigest, _ := img.Digest()
	configDigest, _ := img.ConfigName()
	cf, _ := img.ConfigFile()
	blobs, err := harness.ImageBlobs(img)
	if err != nil {
		t.Fatal(err)
	}
	node := startNode(t, ctx, harness.NodeConfig{Upstreams: []string{"up=" + up.URL()}})

	ref := "up/" + repo + ":v1"
	out := filepath.Join(t.TempDir(), "export.tar")
	if o, err := runTool(ctx, shoalBin, "export", "--node", node.URL(), "--out", out, ref); err != nil {
		t.Fatalf("shoal export: %v\n%s", err, o)
	}

	t.Run("docker load", func(t *testing.T) {
		// Docker names an image of docker.io without the registry: REF
		// "up/…" is docker.io/up/…, shown as up/….
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := harness.RemoveImage(ctx, ref); err != nil {
				t.Errorf("remove the loaded image: %v", err)
			}
		})
		o, err := harness.Docker(ctx, "load", "--input", out)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Loaded image: " + ref; !strings.Contains(o, want) {
			t.Fatalf("docker load said %q, want %q", o, want)
		}
		o, err = harness.Docker(ctx, "image", "inspect", "--format", "{{json .}}", ref)
		if err != nil {
			t.Fatal(err)
		}
		var inspect struct {
			ID       string `json:"Id"`
			RepoTags []string
			RootFS   struct{ Layers []string }
		}
		if err := json.Unmarshal([]byte(o), &inspect); err != nil {
			t.Fatalf("docker image inspect: %v\n%s", err, o)
		}
		var diffIDs []string
		for _, d := range cf.RootFS.DiffIDs {
			diffIDs = append(diffIDs, d.String())
		}
		if inspect.ID != configDigest.String() || !slices.Contains(inspect.RepoTags, ref) || !slices.Equal(inspect.RootFS.Layers, diffIDs) {
			t.Fatalf("docker image inspect: id %s, tags %q, layers %q; want id %s, tag %s, layers %q", inspect.ID, inspect.RepoTags, inspect.RootFS.Layers, configDigest, ref, diffIDs)
		}
	})

	t.Run("ctr images import", func(t *testing.T) {
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
		if o, err := ctd.Ctr(ctx, "images", "import", "--snapshotter", "native", out); err != nil {
			t.Fatalf("ctr images import: %v\n%s", err, o)
		}
		o, err := ctd.Ctr(ctx, "images", "list")
		if err != nil {
			t.Fatalf("ctr images list: %v\n%s", err, o)
		}
		if !strings.Contains(o, ref) || !strings.Contains(o, manifestDigest.String()) {
			t.Fatalf("ctr images list does not show %s at %s:\n%s", ref, manifestDigest, o)
		}
		if o, err := ctd.Ctr(ctx, "images", "check", "--snapshotter", "native"); err != nil || !strings.Contains(o, "complete") {
			t.Fatalf("ctr images check: %v\n%s", err, o)
		}
	})

	t.Run("skopeo copy oci-archive", func(t *testing.T) {
		layout := filepath.Join(t.TempDir(), "layout")
		src := "oci-archive:" + out + ":" + ref
		if o, err := runTool(ctx, tools["skopeo"], "--insecure-policy", "copy", "--preserve-digests", "--dest-oci-accept-uncompressed-layers",
			src, "oci:"+layout); err != nil {
			t.Fatalf("skopeo copy %s: %v\n%s", src, err, o)
		}
		checkOCILayout(t, layout, manifestDigest.String(), blobs)
	})
}
