package repository

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
)

// Reference is an image reference as a person writes it:
// NAME[:TAG][@DIGEST].
type Reference struct {
	Name   string
	Tag    string
	Digest digest.Digest
}

func (r Reference) String() string {
	s := r.Name
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// Target is what to ask a registry for: the digest, else the tag, else
// latest.
func (r Reference) Target() string {
	switch {
	case r.Digest != "":
		return r.Digest.String()
	case r.Tag != "":
		return r.Tag
	}
	return "latest"
}

// ParseReference splits NAME[:TAG][@DIGEST]. The name is not mapped or
// checked against the OCI grammar here; the tag and digest are.
func ParseReference(s string) (Reference, error) {
	var r Reference
	if s == "" {
		return r, fmt.Errorf("empty image reference")
	}
	rest := s
	if name, dg, ok := strings.Cut(rest, "@"); ok {
		d, err := oci.ParseDigest(dg)
		if err != nil {
			return r, fmt.Errorf("image reference %q: invalid digest", s)
		}
		r.Digest, rest = d, name
	}
	// A ':' after the last '/' starts the tag; one before it is a port.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if err := oci.ValidateTag(r.Tag); err != nil {
			return r, fmt.Errorf("image reference %q: invalid tag %q", s, r.Tag)
		}
	}
	if rest == "" {
		return r, fmt.Errorf("image reference %q has no repository name", s)
	}
	r.Name = rest
	return r, nil
}
