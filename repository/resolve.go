package repository

import (
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/oci"
)

// Resolver maps the names clients and people use onto repositories, as
// the contract's "Repository names" section says.
type Resolver struct {
	// HasRule says whether an upstream rule has this name.
	HasRule func(name string) bool
	// Default is the rule reads of unknown repositories go to ("" for
	// none).
	Default string
	// IsLocal says whether the store holds a local repository of that key.
	IsLocal func(key string) bool
}

// Resolve maps a client's repository onto a local or mirrored one: ?ns=
// names the rule, else a leading path component that is a rule name,
// else the default upstream for reads of repositories that do not exist
// locally. Pushes with no ns and no rule prefix always go to a local
// repository.
func (r Resolver) Resolve(repo oci.Repo, write bool) (Name, error) {
	if repo.NS != "" {
		if !r.HasRule(repo.NS) {
			return Name{}, oci.ErrNameUnknown.WithMessage("no upstream rule for ns %q", repo.NS)
		}
		return Mirror(repo.NS, repo.Name), nil
	}
	if first, rest, ok := strings.Cut(repo.Name, "/"); ok && r.HasRule(first) {
		return Mirror(first, rest), nil
	}
	if !write && r.Default != "" && !r.IsLocal(repo.Name) {
		return Mirror(r.Default, repo.Name), nil
	}
	return Local(repo.Name), nil
}

// OCI is n as a client would name it to this node.
func (n Name) OCI() oci.Repo {
	if n.Mirrored() {
		return oci.Repo{Name: n.Path, NS: n.Rule}
	}
	return oci.Repo{Name: n.Path}
}

// dockerHubAliases are the other names of Docker Hub that references
// carry.
var dockerHubAliases = map[string]bool{"index.docker.io": true, "registry-1.docker.io": true}

// looksLikeHost reports whether the first component of a name is a
// registry host, by Docker's rule: it has a '.' or a ':' or is localhost.
func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// ForStore maps an image name (as an archive or a person writes it) onto
// the repository it is kept in, the way a client's request is mapped: a
// first component that is an upstream rule (or a Docker Hub alias) makes
// it mirrored content of that rule, anything else is a local repository
// of that name.
func (r Resolver) ForStore(name string) (Name, error) {
	if first, rest, ok := strings.Cut(name, "/"); ok {
		if dockerHubAliases[first] {
			first = "docker.io"
		}
		if r.HasRule(first) {
			if err := oci.ValidateName(rest); err != nil {
				return Name{}, fmt.Errorf("image name %q: %q is not a valid repository name", name, rest)
			}
			return Mirror(first, rest), nil
		}
	}
	if err := oci.ValidateName(name); err != nil {
		return Name{}, fmt.Errorf("image name %q is not a valid repository name (lower-case components separated by '/')", name)
	}
	return Local(name), nil
}

// ForPull maps the name of a ref given to preload or scan onto what a
// client would ask for: a leading rule name (or Docker Hub alias) becomes
// the ns; a leading registry host that is no rule is refused, since the
// node cannot reach it; anything else is asked for as is.
func (r Resolver) ForPull(name string) (oci.Repo, error) {
	first, rest, ok := strings.Cut(name, "/")
	if ok {
		if dockerHubAliases[first] {
			first = "docker.io"
		}
		if r.HasRule(first) {
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
