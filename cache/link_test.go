package cache

import (
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// A repository holds a blob through a link, or — when it was not pushed
// to here — as a config or distributable layer of a manifest recorded in
// it. A non-distributable layer, an index's child or, in a pushed
// repository, anything its manifests list but it does not link is not
// its: the store counted every reference of a manifest record, so a
// manifest listing another repository's blob as a non-distributable layer
// (or an index listing another repository's manifest) made it readable
// through the fleet: peers asked for the repository got it from the node
// it was pushed to, and a node that fetched the manifest served it from
// its store (found by the whole-node property test).
func TestHolds(t *testing.T) {
	s := openTest(t, "", Options{})
	cfgB, _ := content(100, 900)
	layerB, _ := content(200, 901)
	secretB, _ := content(300, 902)
	cfg, layer, secret := putBlob(t, s, cfgB), putBlob(t, s, layerB), putBlob(t, s, secretB)
	// secret and the private manifest belong to private/app.
	if err := s.LinkBlob("private/app", true, secret); err != nil {
		t.Fatal(err)
	}
	privBody := []byte(`{"schemaVersion":2,"private":true}`)
	priv := digest.FromBytes(privBody)
	if err := s.PutManifest("private/app", true, RecordFor(priv, 0, &oci.ManifestInfo{MediaType: ocispec.MediaTypeImageManifest}), privBody); err != nil {
		t.Fatal(err)
	}

	imageInfo := &oci.ManifestInfo{MediaType: ocispec.MediaTypeImageManifest, Blobs: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageConfig, Digest: cfg},
		{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layer},
		{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, Digest: secret}, //nolint:staticcheck // what is tested
	}}
	imageBody := []byte(`{"schemaVersion":2,"image":true}`)
	indexInfo := &oci.ManifestInfo{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: priv},
	}}
	indexBody := []byte(`{"schemaVersion":2,"index":true}`)
	put := func(repo string, local bool, body []byte, info *oci.ManifestInfo) {
		t.Helper()
		if err := s.PutManifest(repo, local, RecordFor(digest.FromBytes(body), 0, info), body); err != nil {
			t.Fatal(err)
		}
	}
	// Fetched into a mirrored repository and into a local repository
	// another node holds.
	for _, repo := range []string{"up/lib/app", "team/fleet"} {
		put(repo, false, imageBody, imageInfo)
		put(repo, false, indexBody, indexInfo)
	}
	// Pushed here: team/app held the config and the layer, then its
	// layer was deleted.
	for _, b := range []digest.Digest{cfg, layer} {
		if err := s.LinkBlob("team/app", true, b); err != nil {
			t.Fatal(err)
		}
	}
	put("team/app", true, imageBody, imageInfo)
	put("team/app", true, indexBody, indexInfo)
	if err := s.UnlinkBlob("team/app", layer); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		repo string
		d    digest.Digest
		what string
		want bool
	}{
		{"private/app", secret, "a linked blob", true},
		{"private/app", priv, "a manifest recorded in it", true},
		{"up/lib/app", cfg, "a fetched manifest's config", true},
		{"up/lib/app", layer, "a fetched manifest's layer", true},
		{"up/lib/app", secret, "a fetched manifest's non-distributable layer", false},
		{"up/lib/app", priv, "a fetched index's child", false},
		{"team/fleet", layer, "a fetched manifest's layer", true},
		{"team/fleet", secret, "a fetched manifest's non-distributable layer", false},
		{"team/fleet", priv, "a fetched index's child", false},
		{"team/app", cfg, "a pushed blob", true},
		{"team/app", layer, "a blob deleted from it that its manifest lists", false},
		{"team/app", secret, "a pushed manifest's non-distributable layer", false},
		{"team/app", priv, "a pushed index's child", false},
		{"other/app", cfg, "another repository's blob", false},
	}
	for _, tt := range tests {
		if got := s.Holds(tt.repo, tt.d); got != tt.want {
			t.Errorf("%s holds %s (%s): %v, want %v", tt.repo, tt.d, tt.what, got, tt.want)
		}
	}
}
