package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
)

// memContent is a Content backed by a map, with switches for faults.
type memContent struct {
	mu    sync.Mutex
	blobs map[digest.Digest][]byte
	tags  map[string]digest.Digest
	// secondhand are tags of local repositories of other nodes this one
	// pulled through: answered only to askers that accept them.
	secondhand map[string]digest.Digest
	// owns are the repositories (keys) this node owns: a tag missing
	// from one is its owner's "no such tag".
	owns map[string]bool
	// tagDelay holds every tag answer back that long.
	tagDelay time.Duration
	corrupt  bool // flip a byte of everything served
	// upstream, when set, is what Open fetches on a peer's behalf.
	upstream map[digest.Digest][]byte
	// fetchedFor is the repository of the last upstream fetch.
	fetchedFor repository.Name
	fetches    atomic.Int32
	opens      atomic.Int32
	// bringIn, when set, decides as pull.ForPeer does whether a blob
	// is fetched upstream for a peer or handed on (Host.BringIn).
	bringIn *Host
	// heldIn, when it names a blob, is the one repository (key) that
	// holds it here: a holder question naming another is refused, and a
	// designated fetcher's answered once upstream confirms it, as
	// pull.ForPeer does.
	heldIn map[digest.Digest]string
}

func newMemContent() *memContent {
	return &memContent{blobs: map[digest.Digest][]byte{}, tags: map[string]digest.Digest{}, secondhand: map[string]digest.Digest{}}
}

func (m *memContent) put(b []byte) digest.Digest {
	d := digest.FromBytes(b)
	m.mu.Lock()
	m.blobs[d] = b
	m.mu.Unlock()
	return d
}

func (m *memContent) Open(ctx context.Context, from peer.ID, d digest.Digest, repo repository.Name) (*Served, error) {
	m.opens.Add(1)
	m.mu.Lock()
	b, ok := m.blobs[d]
	if in, scoped := m.heldIn[d]; ok && scoped && in != repo.Key() {
		if _, confirmed := m.upstream[d]; !confirmed || !repo.Mirrored() {
			m.mu.Unlock()
			return nil, ErrNotFound
		}
	}
	if !ok && repo.Mirrored() && m.upstream != nil {
		if h := m.bringIn; h != nil && !h.BringIn(d) {
			m.mu.Unlock()
			return nil, ErrHandedOff
		}
		if b, ok = m.upstream[d]; ok {
			m.fetches.Add(1)
			m.fetchedFor = repo
			m.blobs[d] = b
		}
	}
	corrupt := m.corrupt
	m.mu.Unlock()
	if !ok {
		return nil, ErrNotFound
	}
	if corrupt {
		b = append([]byte(nil), b...)
		b[len(b)/2] ^= 0xff
	}
	return &Served{Size: int64(len(b)), MediaType: "application/octet-stream", Content: bytes.NewReader(b), Complete: !corrupt || true, Close: func() error { return nil }}, nil
}

func (m *memContent) Tag(ctx context.Context, from peer.ID, repo repository.Name, tag string, acceptCached bool) (digest.Digest, bool, error) {
	m.mu.Lock()
	delay := m.tagDelay
	d, ok := m.tags[repo.Key()+":"+tag]
	cached := false
	if !ok && acceptCached {
		d, ok = m.secondhand[repo.Key()+":"+tag]
		cached = true
	}
	owned := m.owns[repo.Key()]
	m.mu.Unlock()
	time.Sleep(delay)
	if !ok && owned {
		return "", false, ErrOwnerHasNoTag
	}
	if !ok {
		return "", false, ErrNotFound
	}
	return d, cached, nil
}

type testPeer struct {
	h       *Host
	content *memContent
	adv     *Advertiser
}

// holderAndAsker starts two connected hosts, the first holding a random
// blob of size bytes.
func holderAndAsker(t *testing.T, size int) (holder, asker *testPeer, d digest.Digest, ctx context.Context) {
	t.Helper()
	fleet := newFleet(t, 2)
	d = fleet[0].content.put(randomBytes(t, size))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := fleet[1].h.Connect(ctx, fleet[0].h.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return fleet[0], fleet[1], d, ctx
}

// newFleet starts n hosts on loopback, each joined through the first.
func newFleet(t testing.TB, n int) []*testPeer {
	t.Helper()
	ctx := context.Background()
	var fleet []*testPeer
	for i := range n {
		cfg := Config{
			KeyFile: filepath.Join(t.TempDir(), "peer.key"),
			Listen:  []string{"/ip4/127.0.0.1/tcp/0"},
		}
		if os.Getenv("SHOAL_TEST_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", i)
		}
		if i > 0 {
			cfg.Bootstrap = fleet[0].h.Addrs()[:1]
		}
		h, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := newMemContent()
		h.ServeContent(c, nil)
		adv := h.Advertise(func(fn func(digest.Digest) bool) error {
			c.mu.Lock()
			var ds []digest.Digest
			for d := range c.blobs {
				ds = append(ds, d)
			}
			c.mu.Unlock()
			for _, d := range ds {
				if !fn(d) {
					break
				}
			}
			return nil
		})
		p := &testPeer{h: h, content: c, adv: adv}
		t.Cleanup(func() { adv.Close(); h.Close() })
		fleet = append(fleet, p)
	}
	// Everyone must know everyone before DHT queries are meaningful: dial
	// the full mesh rather than wait for DHT refreshes, which a loaded
	// machine can delay past any deadline.
	for i, p := range fleet {
		for _, q := range fleet[i+1:] {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := p.h.Connect(cctx, q.h.AddrInfo()); err != nil {
				t.Logf("connecting %s to %s: %v", p.h.ID(), q.h.ID(), err)
			}
			cancel()
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range fleet {
		for p.h.dht.RoutingTable().Size() < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("peer %s found no peers", p.h.ID())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return fleet
}

// provideNow advertises d from p and waits until q can find it.
func provideNow(t testing.TB, p, q *testPeer, d digest.Digest) {
	t.Helper()
	c, _ := CID(d)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.h.dht.Provide(ctx, c, true); err != nil {
		t.Fatalf("provide: %v", err)
	}
	for {
		got, _ := q.h.FindProviders(ctx, d, 1)
		if len(got) > 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("provider never found")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, dl *Download) []byte {
	t.Helper()
	defer dl.Close()
	b, err := io.ReadAll(dl)
	if err != nil {
		t.Fatalf("reading download: %v", err)
	}
	return b
}

// fetchEach fetches d for repo on every one of peers at once, checking
// that each read want; self says which of them were told to go upstream
// themselves (ErrNoPeer: the designated fetcher, or a node no peer could
// help).
func fetchEach(t *testing.T, ctx context.Context, peers []*testPeer, d digest.Digest, repo repository.Name, findTimeout time.Duration, want []byte) (self []bool) {
	t.Helper()
	self = make([]bool, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			dl, err := p.h.Fetch(ctx, d, repo, findTimeout, nil)
			if errors.Is(err, ErrNoPeer) {
				self[i] = true
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(readAll(t, dl), want) {
				t.Error("wrong bytes")
			}
		})
	}
	wg.Wait()
	return self
}

func TestFetchFromPeers(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		holders   int // peers holding the blob, besides the asker
		corrupt   int // how many of the holders lie
		wantPiece bool
	}{
		{name: "small from one peer", size: 1000, holders: 1},
		{name: "empty blob", size: 0, holders: 1},
		{name: "several pieces from one peer", size: 3*PieceSize + 17, holders: 1},
		{name: "pieces from several peers", size: 6 * PieceSize, holders: 3},
		{name: "one of three peers lies", size: 5*PieceSize + 1, holders: 3, corrupt: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fleet := newFleet(t, tt.holders+1)
			asker := fleet[0]
			blob := randomBytes(t, tt.size)
			var d digest.Digest
			for i, p := range fleet[1:] {
				d = p.content.put(blob)
				p.content.corrupt = i < tt.corrupt
				provideNow(t, p, asker, d)
			}
			dl, err := asker.h.Fetch(context.Background(), d, repository.Name{}, 5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			if dl.Size != int64(tt.size) {
				t.Fatalf("size %d, want %d", dl.Size, tt.size)
			}
			got := readAll(t, dl)
			if digest.FromBytes(got) != d {
				t.Fatalf("got %d bytes that do not match the digest", len(got))
			}
			for i, p := range fleet[1:] {
				if i < tt.corrupt && !asker.h.penalised(p.h.ID()) {
					t.Errorf("lying peer %d was not penalised", i)
				}
				if i >= tt.corrupt && asker.h.penalised(p.h.ID()) {
					t.Errorf("honest peer %d was penalised", i)
				}
			}
		})
	}
}

func TestFetchNoProviderAsksDesignatedPeer(t *testing.T) {
	fleet := newFleet(t, 4)
	blob := randomBytes(t, 2*PieceSize+5)
	d := digest.FromBytes(blob)
	for _, p := range fleet {
		p.content.upstream = map[digest.Digest][]byte{d: blob}
	}
	self := fetchEach(t, context.Background(), fleet, d, repository.Mirror("up", "repo"), 3*time.Second, blob)
	var upstreamFetches int32
	for _, p := range fleet {
		upstreamFetches += p.content.fetches.Load()
	}
	designated := 0
	for _, s := range self {
		if s {
			designated++
		}
	}
	if designated != 1 {
		t.Errorf("%d nodes found themselves designated, want 1", designated)
	}
	if upstreamFetches != 1 {
		t.Errorf("%d upstream fetches by designated peers, want 1", upstreamFetches)
	}
	for _, p := range fleet {
		p.content.mu.Lock()
		if p.content.fetches.Load() > 0 && p.content.fetchedFor != repository.Mirror("up", "repo") {
			t.Errorf("designated peer fetched for %+v, want up/repo", p.content.fetchedFor)
		}
		p.content.mu.Unlock()
	}
}

// A layer shared by two images: the node holding it under the first
// image's repository advertises it, and refuses holder questions for the
// second's. The askers of the second image then ask the blob's designated
// fetcher, as when no one advertises it; they used to go upstream
// themselves, each of them, whenever a provider refused.
func TestFetchRefusedByHoldersAsksDesignatedPeer(t *testing.T) {
	fleet := newFleet(t, 4)
	blob := randomBytes(t, 1000)
	holder, askers := fleet[3], fleet[:3]
	d := holder.content.put(blob)
	holder.content.heldIn = map[digest.Digest]string{d: "up/base"}
	for _, p := range fleet {
		p.content.upstream = map[digest.Digest][]byte{d: blob}
	}
	for _, p := range askers {
		provideNow(t, holder, p, d)
	}
	self := fetchEach(t, context.Background(), askers, d, repository.Mirror("up", "app"), 3*time.Second, blob)
	// The designated fetcher reads it from upstream once, for itself and
	// the others; the holder, when it is the designated one, only has
	// upstream confirm it.
	var readers []int
	for i, p := range fleet {
		if i < len(self) && self[i] || p.content.fetches.Load() > 0 {
			readers = append(readers, i)
		}
	}
	if len(readers) > 1 {
		t.Errorf("nodes %v read the blob from upstream, want one at most", readers)
	}
}

func TestFetchResumesWhenPeerDies(t *testing.T) {
	fleet := newFleet(t, 3)
	asker := fleet[0]
	blob := randomBytes(t, 3*PieceSize)
	var d digest.Digest
	for _, p := range fleet[1:] {
		d = p.content.put(blob)
		provideNow(t, p, asker, d)
	}
	dl, err := asker.h.Fetch(context.Background(), d, repository.Name{}, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Read a little, then kill whichever peers served so far.
	head := make([]byte, 1000)
	if _, err := io.ReadFull(dl, head); err != nil {
		t.Fatal(err)
	}
	killed := map[peer.ID]bool{}
	for _, p := range dl.Sources() {
		for _, q := range fleet[1:] {
			if q.h.ID() == p && len(killed) == 0 {
				q.h.Close()
				killed[p] = true
			}
		}
	}
	rest, err := io.ReadAll(dl)
	dl.Close()
	if err != nil {
		t.Fatalf("after killing %v: %v", killed, err)
	}
	if digest.FromBytes(append(head, rest...)) != d {
		t.Fatal("resumed download does not match its digest")
	}
}

// TestTagFromPeers checks that a repository's rule and path reach the
// peer's Content as they were asked for, mirrored or local.
func TestTagFromPeers(t *testing.T) {
	fleet := newFleet(t, 2)
	asker, holder := fleet[0], fleet[1]
	mirrored := digest.FromString("mirrored")
	local := digest.FromString("local")
	holder.content.mu.Lock()
	holder.content.tags["up/library/app:v1"] = mirrored
	holder.content.tags["team/app:v1"] = local
	holder.content.mu.Unlock()
	tests := []struct {
		name string
		repo repository.Name
		want digest.Digest
	}{
		{name: "mirrored", repo: repository.Mirror("up", "library/app"), want: mirrored},
		{name: "local", repo: repository.Local("team/app"), want: local},
		{name: "unknown", repo: repository.Mirror("up", "library/other")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := asker.h.Tag(context.Background(), tt.repo, "v1", 10*time.Second)
			if tt.want == "" {
				if !errors.Is(err, ErrNoPeer) {
					t.Fatalf("Tag = %+v, %v; want ErrNoPeer", a, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Digest != tt.want || a.Peer != holder.h.ID() || a.Cached {
				t.Fatalf("Tag = %+v, want %s from %s", a, tt.want, holder.h.ID())
			}
		})
	}
}

func TestPeerIDSurvivesRestart(t *testing.T) {
	key := filepath.Join(t.TempDir(), "peer.key")
	var ids []peer.ID
	for range 2 {
		h, err := New(context.Background(), Config{KeyFile: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID())
		if len(h.Addrs()) == 0 || !bytes.Contains([]byte(h.Addrs()[0]), []byte("/p2p/"+h.ID().String())) {
			t.Errorf("addrs %v lack /p2p/<id>", h.Addrs())
		}
		h.Close()
	}
	if ids[0] != ids[1] {
		t.Fatalf("peer ID changed across restarts: %s then %s", ids[0], ids[1])
	}
}

func TestBadBootstrapAddress(t *testing.T) {
	for _, addr := range []string{"not-a-multiaddr", "/ip4/127.0.0.1/tcp/1"} {
		_, err := New(context.Background(), Config{KeyFile: filepath.Join(t.TempDir(), "k"), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{addr}})
		if err == nil {
			t.Errorf("bootstrap %q accepted", addr)
		}
	}
}

var _ = fmt.Sprint

// A download names, for the piece it is handing out, the digest it
// checked the piece against, for the store to keep rather than hash it
// again; for no other piece.
func TestFetchNamesCheckedPieces(t *testing.T) {
	fleet := newFleet(t, 2)
	asker, holder := fleet[0], fleet[1]
	blob := randomBytes(t, 3*PieceSize+17)
	d := holder.content.put(blob)
	provideNow(t, holder, asker, d)
	dl, err := asker.h.Fetch(context.Background(), d, repository.Name{}, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	want, err := hashPieces(bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, PieceSize/3)
	off := 0
	for {
		n, err := dl.Read(buf)
		off += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		i := (off - 1) / PieceSize
		if got, ok := dl.CheckedPiece(i, PieceSize); !ok || got != want[i] {
			t.Fatalf("at byte %d piece %d named %q (%v), want %s", off, i, got, ok, want[i])
		}
		if _, ok := dl.CheckedPiece(i+1, PieceSize); ok {
			t.Fatalf("at byte %d the next piece is named", off)
		}
		if _, ok := dl.CheckedPiece(i, PieceSize/2); ok {
			t.Fatal("a piece of another size is named")
		}
	}
	if off != len(blob) {
		t.Fatalf("read %d bytes, want %d", off, len(blob))
	}
}
