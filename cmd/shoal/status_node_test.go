package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shoal-dev/shoal/node"
)

// TestStatusOfARealNode runs `shoal status` against a node in this
// process holding one pushed image, checking the facts against what the
// test put there: the fake node of the other tests cannot show that the
// command reads a node's real answers right.
func TestStatusOfARealNode(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	base := testNode(t, node.Config{Upstreams: rules(t, "docker.io=http://127.0.0.1:1"), TagTTL: time.Minute, CacheMaxBytes: 1 << 30})
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(testRef(t, base, "team/app:1"), img); err != nil {
		t.Fatal(err)
	}
	size := int64(0)
	m, _ := img.Manifest()
	size += m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	out, _, err := runShoal(t, "status", "--node", base.String())
	if err != nil {
		t.Fatal(err)
	}
	out = oneSpace(out)
	for _, want := range []string{
		"version test",
		"of 1.0 GiB",
		"4 blobs", // two layers, the config and the manifest
		"store state ok",
		"upstreams docker.io=http://127.0.0.1:1",
		"FLEET: 0 peer(s) connected",
		"IMAGES: 1",
		"team/app 1 " + shortDigest(hashOf(t, img)) + " " + formatBytes(size) + " local not scanned not checked",
		"version none: the node is open",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	jsonOut, _, err := runShoal(t, "status", "--node", base.String(), "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(jsonOut, `"repository": "team/app"`) || !strings.Contains(jsonOut, `"served_to_clients_bytes"`) {
		t.Errorf("json output lacks the image or the metrics:\n%s", jsonOut)
	}
}
