package cache

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// image stores a config and a layer and returns a manifest record and body
// referencing them.
func image(t *testing.T, s *Store, seed uint64, shared digest.Digest) (ManifestRecord, []byte, []digest.Digest) {
	t.Helper()
	cfg, _ := content(200, seed)
	layer, _ := content(3000, seed+1)
	blobs := []digest.Digest{putBlob(t, s, cfg), putBlob(t, s, layer)}
	if shared != "" {
		blobs = append(blobs, shared)
	}
	body := []byte(`{"schemaVersion":2,"seed":` + string(rune('0'+seed%10)) + `,"blobs":"` + string(blobs[0]) + `"}`)
	return ManifestRecord{
		Digest:    digest.FromBytes(body),
		MediaType: ocispec.MediaTypeImageManifest,
		Blobs:     blobs,
	}, body, blobs
}

func TestManifests(t *testing.T) {
	s := openTest(t, "", Options{})
	const repo = "team/app"
	sharedB, _ := content(500, 400)
	shared := putBlob(t, s, sharedB)
	rec1, body1, blobs1 := image(t, s, 1, shared)
	rec2, body2, blobs2 := image(t, s, 3, shared)
	// As a push does: the blobs are uploaded (linked) into the repository
	// first, as fetched content here so that the manifest's local link
	// shows; a stored blob that team/app does not hold stays out of it.
	for _, b := range append(slices.Clone(blobs1), blobs2...) {
		if err := s.LinkBlob(repo, false, b); err != nil {
			t.Fatal(err)
		}
	}
	other, _ := content(300, 77)
	outsider := putBlob(t, s, other)
	rec1.Blobs = append(rec1.Blobs, outsider)
	if err := s.PutManifest(repo, true, rec1, body1, "v1", "latest"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutManifest(repo, true, rec2, body2, "v2"); err != nil {
		t.Fatal(err)
	}

	got, body, err := s.GetManifest(repo, rec1.Digest)
	if err != nil || !bytes.Equal(body, body1) || got.Size != int64(len(body1)) || !slices.Equal(got.Blobs, append(slices.Clone(blobs1), outsider)) {
		t.Fatalf("GetManifest = %+v, %v", got, err)
	}
	if tags, err := s.Tags(repo); err != nil || !slices.Equal(tags, []string{"latest", "v1", "v2"}) {
		t.Fatalf("Tags = %v, %v", tags, err)
	}
	if d, checked, err := s.Tag(repo, "v1"); err != nil || d != rec1.Digest || checked.IsZero() {
		t.Fatalf("Tag = %s, %v, %v", d, checked, err)
	}
	// Local push links the referenced blobs locally.
	for _, b := range blobs1 {
		if !s.BlobLinked(repo, b) {
			t.Fatalf("blob %s not linked", b)
		}
	}
	// ... but not a stored blob the repository did not hold.
	if s.BlobLinked(repo, outsider) {
		t.Fatal("a manifest linked a blob its repository did not hold")
	}

	// Deleting rec1 frees its own blobs but keeps the one rec2 shares,
	// and drops its tags.
	if err := s.DeleteManifest(repo, rec1.Digest); err != nil {
		t.Fatal(err)
	}
	for _, b := range []digest.Digest{blobs1[0], blobs1[1], rec1.Digest} {
		if _, err := s.StatBlob(b); !errors.Is(err, ErrNotFound) {
			t.Errorf("blob %s not freed: %v", b, err)
		}
	}
	for _, b := range append(slices.Clone(blobs2), rec2.Digest) {
		if _, err := s.StatBlob(b); err != nil {
			t.Errorf("blob %s of the remaining manifest freed", b)
		}
	}
	if tags, _ := s.Tags(repo); !slices.Equal(tags, []string{"v2"}) {
		t.Fatalf("Tags after delete = %v", tags)
	}
	if _, _, err := s.GetManifest(repo, rec1.Digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted manifest: %v", err)
	}
	if err := s.DeleteManifest(repo, rec1.Digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.DeleteManifest(repo, rec2.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatBlob(shared); !errors.Is(err, ErrNotFound) {
		t.Fatal("shared blob not freed after the last manifest went")
	}
	if total, n := s.Usage(); total != 0 || n != 0 {
		t.Fatalf("Usage = %d, %d after deleting everything", total, n)
	}
}

func TestManifestMirroredDeleteKeepsBlobs(t *testing.T) {
	s := openTest(t, "", Options{})
	const repo = "docker.io/library/x"
	rec, body, blobs := image(t, s, 5, "")
	for _, b := range blobs {
		if err := s.LinkBlob(repo, false, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutManifest(repo, false, rec, body, "latest"); err != nil {
		t.Fatal(err)
	}
	if s.IsLocal(repo) {
		t.Fatal("mirrored repo reported local")
	}
	if err := s.DeleteManifest(repo, rec.Digest); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		if _, err := s.StatBlob(b); err != nil {
			t.Fatalf("mirrored blob freed: %v", err)
		}
	}
}

func TestManifestRejects(t *testing.T) {
	s := openTest(t, "", Options{})
	body := []byte(`{"schemaVersion":2}`)
	d := digest.FromBytes(body)
	tests := []struct {
		name string
		repo string
		rec  ManifestRecord
		body []byte
		tags []string
		want error
	}{
		{"digest mismatch", "r", ManifestRecord{Digest: digest.FromString("x")}, body, nil, ErrDigestMismatch},
		{"size mismatch", "r", ManifestRecord{Digest: d, Size: 3}, body, nil, ErrSizeMismatch},
		{"bad repo", "a\x00b", ManifestRecord{Digest: d}, body, nil, ErrInvalid},
		{"bad tag", "r", ManifestRecord{Digest: d}, body, []string{""}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutManifest(tt.repo, true, tt.rec, tt.body, tt.tags...); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if repos, _ := s.Repos(); len(repos) != 0 {
		t.Fatalf("rejected pushes created repos %v", repos)
	}
}

func TestTags(t *testing.T) {
	s := openTest(t, "", Options{})
	_, d := content(10, 500)
	checked := time.Unix(1_700_000_123, 0)
	if _, err := s.Tags("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Tags of unknown repo: %v", err)
	}
	if err := s.PutReferrers("empty/repo", d, nil); err != nil {
		t.Fatal(err)
	}
	if tags, err := s.Tags("empty/repo"); err != nil || tags == nil || len(tags) != 0 {
		t.Fatalf("Tags of known repo without tags = %#v, %v", tags, err)
	}
	for _, tag := range []string{"b", "a", "c"} {
		if err := s.SetTag("m/r", false, tag, d, checked); err != nil {
			t.Fatal(err)
		}
	}
	if tags, _ := s.Tags("m/r"); !slices.Equal(tags, []string{"a", "b", "c"}) {
		t.Fatalf("Tags = %v", tags)
	}
	if got, c, err := s.Tag("m/r", "b"); err != nil || got != d || !c.Equal(checked) {
		t.Fatalf("Tag = %s, %v, %v", got, c, err)
	}
	if err := s.DeleteTag("m/r", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTag("m/r", "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second DeleteTag: %v", err)
	}
	if _, _, err := s.Tag("m/r", "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted tag: %v", err)
	}
	if repos, _ := s.Repos(); !slices.Equal(repos, []string{"empty/repo", "m/r"}) {
		t.Fatalf("Repos = %v", repos)
	}
	if s.IsLocal("m/r") {
		t.Fatal("m/r local")
	}
	if err := s.SetTag("m/r", true, "pushed", d, checked); err != nil {
		t.Fatal(err)
	}
	if !s.IsLocal("m/r") {
		t.Fatal("m/r not local after a local tag")
	}
}

func TestReferrers(t *testing.T) {
	s := openTest(t, "", Options{})
	const repo = "team/app"
	subjectBody := []byte(`{"schemaVersion":2,"subject":true}`)
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(subjectBody), Size: int64(len(subjectBody))}
	if err := s.PutManifest(repo, true, ManifestRecord{Digest: subject.Digest, MediaType: subject.MediaType}, subjectBody); err != nil {
		t.Fatal(err)
	}
	if refs, err := s.Referrers(repo, subject.Digest); err != nil || refs == nil || len(refs) != 0 {
		t.Fatalf("Referrers before any = %#v, %v", refs, err)
	}
	sigBody := []byte(`{"schemaVersion":2,"artifactType":"application/vnd.example.sig"}`)
	sig := ManifestRecord{
		Digest: digest.FromBytes(sigBody), MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.sig", Annotations: map[string]string{"k": "v"}, Subject: &subject,
	}
	if err := s.PutManifest(repo, true, sig, sigBody); err != nil {
		t.Fatal(err)
	}
	upstream := []ocispec.Descriptor{
		{MediaType: ocispec.MediaTypeImageManifest, Digest: sig.Digest, Size: int64(len(sigBody))}, // duplicate
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("sbom"), Size: 10, ArtifactType: "application/spdx+json"},
		{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("attest"), Size: 11},
	}
	if err := s.PutReferrers(repo, subject.Digest, upstream); err != nil {
		t.Fatal(err)
	}
	refs, err := s.Referrers(repo, subject.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 3 {
		t.Fatalf("Referrers = %d entries, want 3: %+v", len(refs), refs)
	}
	if !slices.IsSortedFunc(refs, func(a, b ocispec.Descriptor) int { return cmpString(string(a.Digest), string(b.Digest)) }) {
		t.Fatal("Referrers not sorted by digest")
	}
	for _, r := range refs {
		if r.Digest == sig.Digest && (r.ArtifactType != sig.ArtifactType || r.Annotations["k"] != "v") {
			t.Fatalf("pushed referrer lost its fields: %+v", r)
		}
	}
	if err := s.DeleteManifest(repo, sig.Digest); err != nil {
		t.Fatal(err)
	}
	refs, _ = s.Referrers(repo, subject.Digest)
	if len(refs) != 3 || slices.ContainsFunc(refs, func(r ocispec.Descriptor) bool {
		return r.Digest == sig.Digest && r.ArtifactType != ""
	}) {
		t.Fatalf("Referrers after delete = %+v", refs)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestUnlinkBlob(t *testing.T) {
	var evicted evictLog
	s := openTest(t, "", Options{OnEvict: evicted.add})
	b, _ := content(1000, 600)
	d := putBlob(t, s, b)
	if err := s.LinkBlob("a", true, d); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob("b", false, d); err != nil {
		t.Fatal(err)
	}
	_, missing := content(10, 601)
	if err := s.LinkBlob("a", true, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LinkBlob of missing blob: %v", err)
	}
	if err := s.UnlinkBlob("a", d); err != nil {
		t.Fatal(err)
	}
	if err := s.UnlinkBlob("a", d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second unlink: %v", err)
	}
	if _, err := s.StatBlob(d); err != nil {
		t.Fatal("blob still linked from b was freed")
	}
	// Pinned: freed only when the reader closes.
	r, err := s.OpenBlob(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UnlinkBlob("b", d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StatBlob(d); err != nil {
		t.Fatal("pinned blob freed while open")
	}
	if got := readAll(t, r); !bytes.Equal(got, b) {
		t.Fatal("pinned content differs")
	}
	r.Close()
	if _, err := s.StatBlob(d); !errors.Is(err, ErrNotFound) {
		t.Fatal("unreferenced blob kept after its reader closed")
	}
	if !slices.Equal(evicted.list(), []digest.Digest{d}) {
		t.Fatalf("OnEvict = %v", evicted.list())
	}
}

// Deleting a manifest of a local repository unlinks the blobs it listed
// that no other manifest there uses, but not one that is a manifest of
// the repository itself: its record stayed, so its own clients still got
// it while peers, who go by links, were refused it (found by the
// whole-node property test, with a manifest listing another as a
// non-distributable layer).
func TestDeleteManifestKeepsListedManifests(t *testing.T) {
	s := openTest(t, "", Options{})
	const repo = "team/app"
	cfgB, _ := content(100, 910)
	cfg := putBlob(t, s, cfgB)
	if err := s.LinkBlob(repo, true, cfg); err != nil {
		t.Fatal(err)
	}
	mBody := []byte(`{"schemaVersion":2,"listed":true}`)
	m := digest.FromBytes(mBody)
	if err := s.PutManifest(repo, true, RecordFor(m, 0, &oci.ManifestInfo{MediaType: ocispec.MediaTypeImageManifest}), mBody); err != nil {
		t.Fatal(err)
	}
	for _, mediaType := range []string{ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayerNonDistributableGzip} { //nolint:staticcheck // what is tested
		xBody := []byte(`{"schemaVersion":2,"lists":"` + mediaType + `"}`)
		x := digest.FromBytes(xBody)
		info := &oci.ManifestInfo{MediaType: ocispec.MediaTypeImageManifest, Blobs: []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageConfig, Digest: cfg},
			{MediaType: mediaType, Digest: m},
		}}
		if err := s.PutManifest(repo, true, RecordFor(x, 0, info), xBody); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteManifest(repo, x); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.GetManifest(repo, m); err != nil {
			t.Fatalf("%s: manifest %s gone from %s: %v", mediaType, m, repo, err)
		}
		if !s.BlobLinked(repo, m) || !s.Holds(repo, m) {
			t.Fatalf("deleting a manifest listing manifest %s as a layer (%s) unlinked it from %s, whose record stays", m, mediaType, repo)
		}
		if s.BlobLinked(repo, cfg) {
			t.Fatalf("%s: the deleted manifest's config is still linked", mediaType)
		}
		putBlob(t, s, cfgB) // freed with its last link
		if err := s.LinkBlob(repo, true, cfg); err != nil {
			t.Fatal(err)
		}
	}
}
