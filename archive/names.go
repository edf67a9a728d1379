package archive

import (
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// containerdNameAnnotation is where containerd and Docker ≥ 25 put an
// image's full name in an OCI layout's index.json.
const containerdNameAnnotation = "io.containerd.image.name"

// NameAnnotations are the annotations that name an image in an OCI
// layout's index.json: org.opencontainers.image.ref.name, which Read,
// skopeo and docker load read, and, when name starts with a registry host,
// io.containerd.image.name, which "ctr images import" reads and which
// holds only full references.
func NameAnnotations(name string) map[string]string {
	a := map[string]string{ocispec.AnnotationRefName: name}
	if first, _, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		a[containerdNameAnnotation] = name
	}
	return a
}

// imageNames reads the names an index.json entry's annotations give an
// image: full references, and bare tags. An
// org.opencontainers.image.ref.name is often just a tag ("3.20"); no tag
// can contain '/', ':' or '@', so anything else is a full reference.
func imageNames(annotations map[string]string) (refs, tags []string) {
	if name := annotations[containerdNameAnnotation]; name != "" {
		refs = append(refs, name)
	}
	if name := annotations[ocispec.AnnotationRefName]; name != "" {
		if oci.ValidateTag(name) == nil {
			tags = append(tags, name)
		} else if len(refs) == 0 || refs[0] != name {
			refs = append(refs, name)
		}
	}
	return refs, tags
}
