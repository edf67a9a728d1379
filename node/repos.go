package node

import (
	"strings"

	"github.com/shoal-dev/shoal/oci"
)

// repository is a repository as the node stores it: a local one, or one
// mirrored from an upstream rule.
type repository struct {
	// key names it in the store: "<rule>/<upstream path>" when mirrored,
	// the name as pushed when local.
	key string
	// rule is the upstream rule name, "" for a local repository.
	rule string
	// path is the repository path at the upstream.
	path string
}

func (r repository) mirrored() bool { return r.rule != "" }

// repository maps a client's repository onto a local or mirrored one, as
// the contract's "Repository names" section says: ?ns= names the rule,
// else a leading path component that is a rule name, else the default
// upstream for reads of repositories that do not exist locally. Pushes
// with no ns and no rule prefix always go to a local repository.
func (n *Node) repository(repo oci.Repo, write bool) (repository, error) {
	if repo.NS != "" {
		if !n.hasRule(repo.NS) {
			return repository{}, oci.ErrNameUnknown.WithMessage("no upstream rule for ns %q", repo.NS)
		}
		return mirror(repo.NS, repo.Name), nil
	}
	if first, rest, ok := strings.Cut(repo.Name, "/"); ok && n.hasRule(first) {
		return mirror(first, rest), nil
	}
	if !write && n.defaultUpstream != "" && !n.store.IsLocal(repo.Name) {
		return mirror(n.defaultUpstream, repo.Name), nil
	}
	return repository{key: repo.Name}, nil
}

func mirror(rule, path string) repository {
	// Docker Hub keeps official images under library/.
	if rule == "docker.io" && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return repository{key: rule + "/" + path, rule: rule, path: path}
}

func (n *Node) hasRule(name string) bool {
	_, ok := n.upstream.Rule(name)
	return ok
}

// errMirrorReadOnly is the answer to a write into a mirrored namespace.
func errMirrorReadOnly(r repository) error {
	return oci.ErrUnsupported.WithMessage("repository %s is mirrored from upstream %s and cannot be written", r.path, r.rule)
}
