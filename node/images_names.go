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

// dockerHubAliases are the other names of Docker Hub that references
// carry.
var dockerHubAliases = map[string]bool{"index.docker.io": true, "registry-1.docker.io": true}

// looksLikeHost reports whether the first component of a name is a
// registry host, by Docker's rule: it has a '.' or a ':' or is localhost.
func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// storeRepository maps an image name onto the repository it is kept in,
// the way the node maps a client's request: a first component that is an
// upstream rule (or a Docker Hub alias) makes it mirrored content of that
// rule, anything else is a local repository of that name.
func (n *Node) storeRepository(name string) (repository, error) {
	if first, rest, ok := strings.Cut(name, "/"); ok {
		if dockerHubAliases[first] {
			first = "docker.io"
		}
		if n.hasRule(first) {
			if err := oci.ValidateName(rest); err != nil {
				return repository{}, fmt.Errorf("image name %q: %q is not a valid repository name", name, rest)
			}
			return mirror(first, rest), nil
		}
	}
	if err := oci.ValidateName(name); err != nil {
		return repository{}, fmt.Errorf("image name %q is not a valid repository name (lower-case components separated by '/')", name)
	}
	return repository{key: name}, nil
}

// pullRepository maps the name of a ref given to preload onto what a
// client would ask for: a leading rule name (or Docker Hub alias) becomes
// the ns; a leading registry host that is no rule is refused, since the
// node cannot reach it; anything else is asked for as is.
func (n *Node) pullRepository(name string) (oci.Repo, error) {
	first, rest, ok := strings.Cut(name, "/")
	if ok {
		if dockerHubAliases[first] {
			first = "docker.io"
		}
		if n.hasRule(first) {
			if err := oci.ValidateName(rest); err != nil {
				return oci.Repo{}, fmt.Errorf("%q is not a valid repository name", rest)
			}
			return oci.Repo{Name: rest, NS: first}, nil
		}
		if looksLikeHost(first) {
			return oci.Repo{}, fmt.Errorf("registry %s has no upstream rule on this node (add --upstream %s=https://%s)", first, first, first)
		}
	}
	if err := oci.ValidateName(name); err != nil {
		return oci.Repo{}, fmt.Errorf("%q is not a valid repository name", name)
	}
	return oci.Repo{Name: name}, nil
}
