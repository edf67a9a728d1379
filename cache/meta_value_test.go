package cache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// A manifest with megabytes of annotations (the OCI conformance suite's
// "large manifest", 3.9 MB) is stored and read back, and so is one that
// is a referrer: badger refuses a value larger than its value log file,
// so the record and the referrer descriptor keep no annotations that
// large (the push failed with 500 once the value log files were made
// small).
func TestManifestWithLargeAnnotations(t *testing.T) {
	s := openTest(t, "", Options{})
	big := strings.Repeat("A", 4<<20-1024)
	for _, tc := range []struct {
		name    string
		subject *ocispec.Descriptor
	}{
		{"an image", nil},
		{"a referrer", &ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"a":"` + big + `"},"x":"` + tc.name + `"}`)
			d := digest.FromBytes(body)
			rec := ManifestRecord{Digest: d, MediaType: ocispec.MediaTypeImageManifest, Annotations: map[string]string{"a": big}, Subject: tc.subject}
			if err := s.PutManifest("lib/large", true, rec, body, "v1"); err != nil {
				t.Fatalf("PutManifest: %v", err)
			}
			if _, got, err := s.GetManifest("lib/large", d); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("GetManifest: %v (%d bytes)", err, len(got))
			}
			if tc.subject != nil {
				refs, err := s.Referrers("lib/large", tc.subject.Digest)
				if err != nil || len(refs) != 1 || refs[0].Digest != d {
					t.Fatalf("Referrers = %v, %v; want %s", refs, err, d)
				}
			}
		})
	}
}
