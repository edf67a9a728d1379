package node

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
)

// imageRef is an image reference as a person writes it:
// NAME[:TAG][@DIGEST].
type imageRef struct {
	name   string
	tag    string
	digest digest.Digest
}

func (r imageRef) String() string {
	s := r.name
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest.String()
	}
	return s
}

// parseImageRef splits NAME[:TAG][@DIGEST]. The name is not mapped or
// checked against the OCI grammar here; the tag and digest are.
func parseImageRef(s string) (imageRef, error) {
	var r imageRef
	if s == "" {
		return r, fmt.Errorf("empty image reference")
	}
	rest := s
	if name, dg, ok := strings.Cut(rest, "@"); ok {
		d, err := oci.ParseDigest(dg)
		if err != nil {
			return r, fmt.Errorf("image reference %q: invalid digest", s)
		}
		r.digest, rest = d, name
	}
	// A ':' after the last '/' starts the tag; one before it is a port.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		r.tag = rest[i+1:]
		rest = rest[:i]
		if err := oci.ValidateTag(r.tag); err != nil {
			return r, fmt.Errorf("image reference %q: invalid tag %q", s, r.tag)
		}
	}
	if rest == "" {
		return r, fmt.Errorf("image reference %q has no repository name", s)
	}
	r.name = rest
	return r, nil
}

// isTag reports whether s matches the tag grammar. An OCI layout's
// org.opencontainers.image.ref.name is often just a tag ("3.20"); no tag
// can contain '/', ':' or '@', so anything else is a full reference.
func isTag(s string) bool { return oci.ValidateTag(s) == nil }
