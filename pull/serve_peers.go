package pull

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/oci"
	"github.com/shoal-dev/shoal/repository"
)

// ErrDenied is a peer's request this node may not serve: the access
// policy refuses the upstream it would fetch from.
var ErrDenied = errors.New("denied")

// ErrHandedOff is a peer's request that this node bring in a blob from
// upstream for the fleet while it brings in another: the next node in the
// blob's order is asked instead (Downlink.BringIn).
var ErrHandedOff = errors.New("handed on to the next node: bringing in another blob")

// HasRule says whether this node mirrors through an upstream rule of
// that name; a peer's request naming another rule gets only what this
// node holds.
type HasRule func(rule string) bool

// ForPeer opens blob (or manifest) d of repo for a peer: what repo holds
// here or is fetching, and, when the peer names a mirrored repository
// this node mirrors too, an upstream fetch on the fleet's behalf (this
// node is the blob's designated fetcher). complete says whether the blob is whole here, so
// that piece digests can be offered.
func (p *Puller) ForPeer(ctx context.Context, d digest.Digest, repo repository.Name, hasRule HasRule) (b *oci.Blob, complete bool, err error) {
	if repo.Path == "" {
		return nil, false, ErrNotFound // content is asked for by repository
	}
	mirrored := repo.Mirrored() && hasRule(repo.Rule)
	if mirrored {
		repo = repository.Mirror(repo.Rule, repo.Path)
	} else if repo.Mirrored() {
		repo = repository.Local(repo.Key()) // a rule this node lacks: only what it holds under that name
	}
	// A peer gets only what the repository it names holds here (or, for
	// a mirrored one, what its upstream confirms): by digest alone any
	// node's private content could be fetched through any name.
	held := p.cfg.Store.Holds(repo.Key(), d)
	if _, err := p.cfg.Store.StatBlob(d); err == nil && !held {
		if !mirrored {
			return nil, false, ErrNotFound
		}
		if err := p.confirm(ctx, repo, d); err != nil {
			return nil, false, ErrNotFound
		}
		held = true
	}
	if held {
		if b, err := p.cfg.Store.OpenBlob(d); err == nil {
			return b, true, nil
		}
	}
	// Asked as the blob's designated fetcher for a blob not whole here: a
	// node brings in one blob for the fleet at a time (Downlink.BringIn),
	// and it decides before it serves one it is receiving, too. A node
	// that served an asker from its own pull's transfer and then handed
	// the blob on, to that same asker, had each waiting on the other as
	// the blob's origin: neither read it, and both swarms stalled.
	decided := mirrored && p.cfg.Downlink != nil
	if decided && !p.cfg.Downlink.BringIn(d) {
		p.log.Debug("handing a blob on to the next node: bringing in another", "digest", d, "repository", repo)
		return nil, false, ErrHandedOff
	}
	// A blob this node is still receiving is passed on as it arrives, to
	// a peer asking for it through a repository that holds it here (its
	// manifest is stored): that is what lets a cold rollout spread
	// through the fleet instead of every node asking the designated
	// fetcher.
	if p.cfg.Store.Holds(repo.Key(), d) {
		if b, complete, err := p.cfg.Store.Follow(ctx, d); err == nil {
			return b, complete, nil
		}
	}
	// Without a rule a peer asks only for what this node holds. (Starting
	// a store fetch whose source fails at once would let a local client
	// of the same blob join it, and fail, in that instant.)
	if !mirrored {
		return nil, false, ErrNotFound
	}
	if err := p.cfg.UpstreamAllowed(repo.Rule); err != nil {
		if decided {
			p.cfg.Downlink.BringInFailed(d) // it will not arrive
		}
		return nil, false, fmt.Errorf("%w: %w", ErrDenied, err)
	}
	p.log.Debug("fetching for a peer as the designated fetcher", "digest", d, "repository", repo)
	b, complete, err = p.fetchFor(ctx, repo, d, held, p.upstreamSource(repo, d, 0, true))
	if errors.Is(err, ErrNotFound) {
		return nil, false, ErrNotFound
	}
	return b, complete, err
}

// TagForPeer is the last digest this node resolved for tag of repo: a
// local repository pushed or imported here, or a mirrored one of a rule
// this node has. When acceptCached, a local repository of another node
// whose manifest by that tag this node stored when it pulled it through
// is answered too, as secondhand (cached): it lets the fleet serve the
// image while its owner is down. Only askers that say they accept it get
// such an answer, so that an asker that cannot tell it from the owner's
// never takes it for the owner's.
func (p *Puller) TagForPeer(repo repository.Name, tag string, hasRule HasRule, acceptCached bool) (d digest.Digest, cached bool, err error) {
	switch {
	case !repo.Mirrored() && p.cfg.Store.IsLocal(repo.Key()):
	case repo.Mirrored() && hasRule(repo.Rule):
		repo = repository.Mirror(repo.Rule, repo.Path)
	case !repo.Mirrored() && acceptCached:
		cached = true
	default:
		return "", false, ErrNotFound
	}
	d, _, err = p.cfg.Store.Tag(repo.Key(), tag)
	if err != nil {
		if !repo.Mirrored() && !cached {
			return "", false, ErrOwnerHasNoTag
		}
		return "", false, ErrNotFound
	}
	if cached {
		// Only what this node can serve next: the manifest by that digest.
		if _, err := p.cfg.Store.Manifest(repo.Key(), d); err != nil {
			return "", false, ErrNotFound
		}
	}
	return d, cached, nil
}
