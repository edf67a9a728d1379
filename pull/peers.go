package pull

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// Peers is the rest of the fleet.
type Peers interface {
	// Fetch opens blob or manifest d from the peers that hold it: the
	// known ones (peer IDs, asked first: a provider record can be lost)
	// and those found within find. With a mirrored repo and no holder, a
	// peer designated for d may fetch it from that repository's upstream
	// for the fleet; with a zero repo only holders answer.
	Fetch(ctx context.Context, d digest.Digest, repo repository.Name, find time.Duration, known []string) (Download, error)
	// Tag asks the connected peers what tag of repo last resolved to. An
	// owner's answer (the node a local repository was pushed to, or one
	// mirroring the repository's upstream) is preferred; a secondhand one
	// (from a node that pulled the local repository through) is taken only
	// when no owner answered within timeout.
	Tag(ctx context.Context, repo repository.Name, tag string, timeout time.Duration) (PeerTag, error)
}

// PeerTag is the fleet's answer to a tag question.
type PeerTag struct {
	Digest digest.Digest
	// Peer is the peer that answered: it holds what the tag names.
	Peer string
	// Secondhand says no owner answered: the digest is the one a node
	// that pulled the repository through last stored, which may be stale.
	Secondhand bool
}

// Download is content arriving from peers.
type Download interface {
	io.ReadCloser
	Size() int64
	MediaType() string
	// Blame penalises the peers that sent it: it did not match its
	// digest.
	Blame(why string)
}
