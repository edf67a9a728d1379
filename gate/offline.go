// Package gate holds the rules that stand between the content a node can
// reach and what it serves: an expired policy keeps the node offline,
// signature rules refuse unsigned images, scan gates refuse vulnerable
// ones. Each is a decorator of a pull.Source, composed in one place (the
// node's wiring): served = Scans(Signatures(Offline(puller))). The
// node's own readers — signature checks, scanning — read through the
// Offline source, under no signature or scan gate, so a check never
// recurses into itself and needs no flag in its context.
package gate

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
)

// OfflineStore is what an offline node serves from (a part of
// pull.Store).
type OfflineStore interface {
	Manifest(repo string, d digest.Digest) (*oci.Manifest, error)
	Tag(repo, tag string) (digest.Digest, time.Time, error)
	Tags(repo string) ([]string, error)
	Referrers(repo string, subject digest.Digest) ([]ocispec.Descriptor, error)
	StatBlob(d digest.Digest) (int64, error)
	OpenBlob(d digest.Digest) (*oci.Blob, error)
}

// Offline keeps the node from fetching (from upstream or peers) while
// its access policy has expired: reads that would leave the node are
// answered from the store, and what it does not hold is refused.
type Offline struct {
	Next  pull.Source
	Store OfflineStore
	// Remote says whether reads of a repository would leave the node
	// (pull.Puller.Remote).
	Remote func(repository.Name) bool
	// Expired says whether the policy in force has expired.
	Expired func() bool
}

var _ pull.Source = Offline{}

// ErrPolicyExpired answers a read of content the node does not hold
// while its policy has expired.
var ErrPolicyExpired = oci.ErrDenied.WithMessage("policy expired: only cached content is served; apply a new policy to fetch again")

func (o Offline) offline(repo repository.Name) bool { return o.Remote(repo) && o.Expired() }

func (o Offline) Manifest(ctx context.Context, repo repository.Name, ref string) (*oci.Manifest, error) {
	if !o.offline(repo) {
		return o.Next.Manifest(ctx, repo, ref)
	}
	d, err := digest.Parse(ref)
	if err != nil {
		if d, _, err = o.Store.Tag(repo.Key(), ref); err != nil {
			return nil, ErrPolicyExpired
		}
	}
	m, err := o.Store.Manifest(repo.Key(), d)
	if err != nil {
		return nil, ErrPolicyExpired
	}
	return m, nil
}

func (o Offline) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	if !o.offline(repo) {
		return o.Next.StatBlob(ctx, repo, d)
	}
	size, err := o.Store.StatBlob(d)
	if err != nil {
		return 0, ErrPolicyExpired
	}
	return size, nil
}

func (o Offline) Blob(ctx context.Context, repo repository.Name, d digest.Digest) (*oci.Blob, error) {
	if !o.offline(repo) {
		return o.Next.Blob(ctx, repo, d)
	}
	b, err := o.Store.OpenBlob(d)
	if err != nil {
		return nil, ErrPolicyExpired
	}
	return b, nil
}

// Tags and referrers of local repositories are the store's anyway; only
// mirrored ones would go upstream.

func (o Offline) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	if !repo.Mirrored() || !o.Expired() {
		return o.Next.Tags(ctx, repo)
	}
	tags, err := o.Store.Tags(repo.Key())
	if err != nil {
		return nil, ErrPolicyExpired
	}
	return tags, nil
}

func (o Offline) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	if !repo.Mirrored() || !o.Expired() {
		return o.Next.Referrers(ctx, repo, d)
	}
	return o.Store.Referrers(repo.Key(), d)
}
