package pulltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoal-dev/shoal/oci/upstream"
	"github.com/shoal-dev/shoal/pull"
	"github.com/shoal-dev/shoal/repository"
)

// Peers is an in-memory fleet: content and tags other nodes hold.
type Peers struct {
	mu      sync.Mutex
	content map[digest.Digest]peerContent
	// unadvertised is content held by a named peer that no lookup
	// finds: its provider record was lost.
	unadvertised map[string]map[digest.Digest]peerContent
	tags         map[string]digest.Digest // repo key \x00 tag
	// secondhand are tags held by a peer that is not their owner (it
	// pulled the local repository through).
	secondhand map[string]secondhandTag // repo key \x00 tag
	ownerNo    map[string]bool          // repo key \x00 tag: the owner says it has none
	// Blamed lists why peers were blamed.
	Blamed []string
	// Fetched lists the digests asked for, with the repository named
	// ("(holders only)" when it names no rule, so no peer would fetch it
	// from upstream for the asker) and the peers named as known holders
	// ("known <peer>,…").
	Fetched []string
	// TagsAsked lists the tags asked for, as "<repo key> <tag>".
	TagsAsked []string
	// FailAfter, when positive, makes a blob download fail after that
	// many bytes (the peers went away part way).
	FailAfter int
}

type secondhandTag struct {
	peer string
	d    digest.Digest
}

type peerContent struct {
	mediaType string
	body      []byte
}

var _ pull.Peers = (*Peers)(nil)

// TagPeer is the peer that answers every tag the fake fleet holds.
const TagPeer = "peer-1"

func NewPeers() *Peers {
	return &Peers{content: map[digest.Digest]peerContent{}, unadvertised: map[string]map[digest.Digest]peerContent{}, tags: map[string]digest.Digest{}}
}

// Hold makes some peer hold body under d (which need not be its digest:
// a lying peer).
func (p *Peers) Hold(d digest.Digest, mediaType string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.content[d] = peerContent{mediaType: mediaType, body: bytes.Clone(body)}
}

// HoldUnadvertised makes peer hold body under d without advertising it:
// a fetch finds it only when it names peer as a known holder.
func (p *Peers) HoldUnadvertised(peer string, d digest.Digest, mediaType string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unadvertised[peer] == nil {
		p.unadvertised[peer] = map[digest.Digest]peerContent{}
	}
	p.unadvertised[peer][d] = peerContent{mediaType: mediaType, body: bytes.Clone(body)}
}

// HoldTag makes TagPeer answer tag of repo with d.
func (p *Peers) HoldTag(repo repository.Name, tag string, d digest.Digest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tags[key(repo.Key(), tag)] = d
}

// HoldSecondhandTag makes peer, which is not the owner of repo, answer
// tag of repo with d as secondhand: it pulled the repository through. The
// owner's answer (HoldTag), when there is one, wins.
// OwnerHasNoTag makes the repository's owner answer that it has no tag
// tag (deleted or never pushed): its word beats any secondhand answer.
func (p *Peers) OwnerHasNoTag(repo repository.Name, tag string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ownerNo == nil {
		p.ownerNo = map[string]bool{}
	}
	p.ownerNo[key(repo.Key(), tag)] = true
}

func (p *Peers) HoldSecondhandTag(peer string, repo repository.Name, tag string, d digest.Digest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.secondhand == nil {
		p.secondhand = map[string]secondhandTag{}
	}
	p.secondhand[key(repo.Key(), tag)] = secondhandTag{peer: peer, d: d}
}

func (p *Peers) Fetch(ctx context.Context, d digest.Digest, repo repository.Name, find time.Duration, known []string) (pull.Download, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	asked := d.String() + " " + repo.Key()
	if !repo.Mirrored() {
		asked += " (holders only)"
	}
	if len(known) > 0 {
		asked += " known " + strings.Join(known, ",")
	}
	p.Fetched = append(p.Fetched, asked)
	c, ok := p.content[d]
	for _, k := range known {
		if !ok {
			c, ok = p.unadvertised[k][d]
		}
	}
	if !ok {
		return nil, fmt.Errorf("no peer has %s: %w", d, pull.ErrNotFound)
	}
	var r io.Reader = bytes.NewReader(c.body)
	if p.FailAfter > 0 {
		r = io.MultiReader(io.LimitReader(r, int64(p.FailAfter)), errReader{})
	}
	return &download{p: p, r: r, size: int64(len(c.body)), mediaType: c.mediaType}, nil
}

func (p *Peers) Tag(ctx context.Context, repo repository.Name, tag string, timeout time.Duration) (pull.PeerTag, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.TagsAsked = append(p.TagsAsked, repo.Key()+" "+tag)
	// The owner's answer wins, as p2p.Host.Tag prefers it.
	if d, ok := p.tags[key(repo.Key(), tag)]; ok {
		return pull.PeerTag{Digest: d, Peer: TagPeer}, nil
	}
	if p.ownerNo[key(repo.Key(), tag)] {
		return pull.PeerTag{}, pull.ErrOwnerHasNoTag
	}
	if s, ok := p.secondhand[key(repo.Key(), tag)]; ok {
		return pull.PeerTag{Digest: s.d, Peer: s.peer, Secondhand: true}, nil
	}
	return pull.PeerTag{}, pull.ErrNotFound
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("stream reset by peer") }

type download struct {
	p         *Peers
	r         io.Reader
	size      int64
	mediaType string
}

func (d *download) Read(b []byte) (int, error) { return d.r.Read(b) }
func (d *download) Close() error               { return nil }
func (d *download) Size() int64                { return d.size }
func (d *download) MediaType() string          { return d.mediaType }
func (d *download) Blame(why string) {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	d.p.Blamed = append(d.p.Blamed, why)
}

// Upstream is an in-memory upstream registry holding repositories of any
// rule. Err, when set, is returned by every call (an upstream that is
// down answers *upstream.UnavailableError).
type Upstream struct {
	mu        sync.Mutex
	manifests map[string]peerContent // repo key \x00 digest
	tags      map[string]digest.Digest
	blobs     map[digest.Digest][]byte
	referrers map[string][]ocispec.Descriptor
	Err       error
	// Calls counts calls by method.
	Calls map[string]int
	// BlobReads lists the BlobFrom calls that reached the registry.
	BlobReads []BlobRead
}

// BlobRead is one BlobFrom call.
type BlobRead struct {
	Repo   string // the repository's key
	Digest digest.Digest
	Offset int64
}

var _ pull.Upstream = (*Upstream)(nil)

func NewUpstream() *Upstream {
	return &Upstream{
		manifests: map[string]peerContent{},
		tags:      map[string]digest.Digest{},
		blobs:     map[digest.Digest][]byte{},
		referrers: map[string][]ocispec.Descriptor{},
		Calls:     map[string]int{},
	}
}

// Down is the error of an upstream that cannot be reached.
var Down = &upstream.UnavailableError{Err: errors.New("connection refused")}

// Put stores manifest body in repo under tags and returns its digest.
func (u *Upstream) Put(repo repository.Name, mediaType string, body []byte, tags ...string) digest.Digest {
	d := digest.FromBytes(body)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.manifests[key(repo.Key(), d.String())] = peerContent{mediaType: mediaType, body: bytes.Clone(body)}
	for _, t := range tags {
		u.tags[key(repo.Key(), t)] = d
	}
	return d
}

// PutAs stores body in repo under d, which need not be its digest: an
// upstream answering other content than asked for.
func (u *Upstream) PutAs(repo repository.Name, d digest.Digest, mediaType string, body []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.manifests[key(repo.Key(), d.String())] = peerContent{mediaType: mediaType, body: bytes.Clone(body)}
}

// PutBlob stores a blob and returns its digest.
func (u *Upstream) PutBlob(content []byte) digest.Digest {
	d := digest.FromBytes(content)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.blobs[d] = bytes.Clone(content)
	return d
}

// PutReferrers sets the referrers of subject in repo.
func (u *Upstream) PutReferrers(repo repository.Name, subject digest.Digest, descs []ocispec.Descriptor) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.referrers[key(repo.Key(), subject.String())] = descs
}

func (u *Upstream) call(name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.Calls[name]++
	return u.Err
}

func (u *Upstream) Resolve(ctx context.Context, repo repository.Name, tag string) (ocispec.Descriptor, error) {
	if err := u.call("Resolve"); err != nil {
		return ocispec.Descriptor{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	d, ok := u.tags[key(repo.Key(), tag)]
	if !ok {
		return ocispec.Descriptor{}, upstream.ErrNotFound
	}
	c := u.manifests[key(repo.Key(), d.String())]
	return ocispec.Descriptor{MediaType: c.mediaType, Digest: d, Size: int64(len(c.body))}, nil
}

func (u *Upstream) Manifest(ctx context.Context, repo repository.Name, ref string) (string, []byte, digest.Digest, error) {
	if err := u.call("Manifest"); err != nil {
		return "", nil, "", err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	d, err := digest.Parse(ref)
	if err != nil {
		if d = u.tags[key(repo.Key(), ref)]; d == "" {
			return "", nil, "", upstream.ErrNotFound
		}
	}
	c, ok := u.manifests[key(repo.Key(), d.String())]
	if !ok {
		return "", nil, "", upstream.ErrNotFound
	}
	return c.mediaType, bytes.Clone(c.body), digest.FromBytes(c.body), nil
}

func (u *Upstream) StatBlob(ctx context.Context, repo repository.Name, d digest.Digest) (int64, error) {
	if err := u.call("StatBlob"); err != nil {
		return 0, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	b, ok := u.blobs[d]
	if !ok {
		return 0, upstream.ErrNotFound
	}
	return int64(len(b)), nil
}

func (u *Upstream) BlobFrom(ctx context.Context, repo repository.Name, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	if err := u.call("BlobFrom"); err != nil {
		return nil, 0, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.BlobReads = append(u.BlobReads, BlobRead{Repo: repo.Key(), Digest: d, Offset: offset})
	b, ok := u.blobs[d]
	if !ok {
		return nil, 0, upstream.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b[offset:])), int64(len(b)) - offset, nil
}

func (u *Upstream) Tags(ctx context.Context, repo repository.Name) ([]string, error) {
	if err := u.call("Tags"); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for k := range u.tags {
		if r, t, _ := cut(k); r == repo.Key() {
			out = append(out, t)
		}
	}
	if out == nil {
		return nil, upstream.ErrNotFound
	}
	// The real client sorts (oci/upstream.Client.Tags).
	slices.Sort(out)
	return out, nil
}

func (u *Upstream) Referrers(ctx context.Context, repo repository.Name, d digest.Digest) ([]ocispec.Descriptor, error) {
	if err := u.call("Referrers"); err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	descs, ok := u.referrers[key(repo.Key(), d.String())]
	if !ok {
		return nil, upstream.ErrNotFound
	}
	return descs, nil
}
