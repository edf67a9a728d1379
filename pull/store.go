package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci"
)

// Store is what the pull path needs of the content store. Repositories
// are named by their key (repository.Name.Key). Not-found answers match
// ErrNotFound.
type Store interface {
	Manifest(repo string, d digest.Digest) (*oci.Manifest, error)
	// PutManifest stores m in repo as fetched (not local) content.
	PutManifest(repo string, m *oci.Manifest, info *oci.ManifestInfo) error
	// Tag is the digest tag last resolved to and when that was checked.
	Tag(repo, tag string) (digest.Digest, time.Time, error)
	SetTag(repo, tag string, d digest.Digest, checked time.Time) error
	Tags(repo string) ([]string, error)
	Referrers(repo string, subject digest.Digest) ([]ocispec.Descriptor, error)
	PutReferrers(repo string, subject digest.Digest, descs []ocispec.Descriptor) error

	// IsLocal says whether repo was pushed or imported here.
	IsLocal(repo string) bool
	// BlobLinked says whether blob d is linked into repo (pushed,
	// mounted or confirmed into it).
	BlobLinked(repo string, d digest.Digest) bool
	// Holds says whether repo holds blob d: linked into it, or, in a
	// repository not pushed to here, the config or a distributable layer
	// of a manifest stored in it.
	Holds(repo string, d digest.Digest) bool
	// LinkBlob records that repo holds the stored blob d, as fetched
	// (not local) content.
	LinkBlob(repo string, d digest.Digest) error
	StatBlob(d digest.Digest) (int64, error)
	// OpenBlob opens a blob that is whole in the store.
	OpenBlob(d digest.Digest) (*oci.Blob, error)
	// Fetch reads blob d, filling the store from src unless it is stored
	// or already being fetched; concurrent callers share one transfer and
	// read while it arrives. complete says whether the blob was whole in
	// the store when it was opened. A blob that does not match d fails
	// the reads with an error matching ErrDigestMismatch.
	Fetch(ctx context.Context, d digest.Digest, src BlobSource) (b *oci.Blob, complete bool, err error)
	// Follow opens blob d if it is stored or being fetched, without
	// starting a fetch; complete as for Fetch.
	Follow(ctx context.Context, d digest.Digest) (b *oci.Blob, complete bool, err error)
}

// BlobSource opens a blob's content from elsewhere: its body and its
// declared size (-1 if unknown). It is called with a context of the
// store's, which ends when the transfer stalls or the store closes.
type BlobSource func(ctx context.Context) (body io.ReadCloser, size int64, err error)

// Verifier is a body a BlobSource returns that wants to hear the store's
// verdict on the whole blob, to blame its senders when it is wrong.
type Verifier interface {
	Verified(ok bool)
}

// Confirmed is a body a BlobSource returns whose source vouches that a
// repository holds the blob: an upstream that serves it under that
// repository's name, which is what confirm asks it. The store links the
// blob into that repository (as fetched content) as it stores it, so that
// a node that brought a blob in for the fleet answers the fleet's holder
// questions for it without pulling its image itself.
type Confirmed interface {
	ConfirmedIn() (repo string)
}

// CheckedPieces is a body a BlobSource returns (or a Download) that has
// checked each piece of pieceSize bytes against a digest before handing
// out any of its bytes: the store keeps those digests with the blob
// rather than hash every piece a second time. CheckedPiece answers for
// the piece being read, or just read whole; ok is false for bytes that
// were not checked piece by piece.
type CheckedPieces interface {
	CheckedPiece(i int, pieceSize int64) (d digest.Digest, ok bool)
}

var (
	// ErrNotFound is what the store, peers and sources answer for
	// content they do not have.
	ErrNotFound = errors.New("not found")
	// ErrOwnerHasNoTag is TagForPeer's answer for a repository this node
	// owns that has no such tag: the owner's final word (peers then take
	// no secondhand answer for it). It is an ErrNotFound.
	ErrOwnerHasNoTag = fmt.Errorf("%w: this node owns the repository and has no such tag", ErrNotFound)
	// ErrDigestMismatch is content that did not match its digest.
	ErrDigestMismatch = errors.New("content did not match its digest")
)
