// Package repository names a repository as the node keeps it: a local one
// (pushed or imported here, or held by another node of the fleet) or one
// mirrored from an upstream rule. Every package below the HTTP edge —
// the store, the pull path, peers, upstream, gates, scanning — speaks of
// repositories with a Name; oci.Repo is only the client's spelling of
// one, turned into a Name once, by a Resolver.
package repository

import "strings"

// Name is one repository.
type Name struct {
	// Rule is the upstream rule a mirrored repository comes from; "" for a
	// local repository.
	Rule string
	// Path is the repository's path: at the upstream when mirrored, the
	// name as pushed when local.
	Path string
}

// Local is the local repository path.
func Local(path string) Name { return Name{Path: path} }

// Mirror is repository path of upstream rule. Docker Hub keeps official
// images under library/, so a one-component path there gets it.
func Mirror(rule, path string) Name {
	if rule == "docker.io" && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return Name{Rule: rule, Path: path}
}

// Mirrored says whether the repository comes from an upstream rule.
func (n Name) Mirrored() bool { return n.Rule != "" }

// Key names the repository in the store, in policies and in logs:
// "<rule>/<path>" when mirrored, the path when local.
func (n Name) Key() string {
	if n.Rule == "" {
		return n.Path
	}
	return n.Rule + "/" + n.Path
}

func (n Name) String() string { return n.Key() }
