package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/repository"
	"github.com/shoal-dev/shoal/swarm"
)

// ContentProtocol carries content between nodes over libp2p streams,
// which libp2p's security transport authenticates and encrypts.
//
// The asker sends one JSON request line; the peer answers with one JSON
// header line and, on success, the content from the requested offset to
// the end.
const ContentProtocol = "/shoal/content/1.0.0"

// uploadWait is how long an asker that does not take part in swarms (a
// node of an earlier release) waits for an upload slot before it is told
// to go elsewhere; a swarm asker is told at once and asks another peer.
// maxUploads bounds the streams served at once by memory: each holds up
// to a piece and its connection's send buffers.
const (
	uploadWait = 30 * time.Second
	maxUploads = 32
)

// maxHeaderLine bounds request and header lines, so a peer cannot make
// the other side buffer without limit.
const maxHeaderLine = 1 << 20

// Request asks a peer for content.
type Request struct {
	Digest digest.Digest `json:"digest"`
	Offset int64         `json:"offset,omitempty"`
	// Length, when positive, limits the answer to that many bytes.
	Length int64 `json:"length,omitempty"`
	// Rule and Repo say where the asker would fetch the blob from
	// upstream. A peer that does not hold the blob may fetch it there on
	// the asker's behalf, so that a fleet fetches each blob once. They
	// are a repository.Name spelled out on the wire (Rule "" for a
	// local repository); Host and Content convert at this edge.
	Rule string `json:"rule,omitempty"`
	Repo string `json:"repo,omitempty"`
	// Tag, with Rule and Repo and no Digest, asks for the last digest the
	// peer resolved for that tag.
	Tag string `json:"tag,omitempty"`
	// AcceptCached, with Tag, lets a peer that does not own a local
	// repository answer with the digest it stored when it pulled the
	// repository through (a secondhand answer, marked Cached). A node of
	// an earlier release neither sends nor reads it, so it never gets a
	// secondhand answer it could take for the owner's.
	AcceptCached bool `json:"accept_cached,omitempty"`

	// Take, with the rule, tells a designated fetcher that the asker has
	// no one after it to ask: it brings the blob in even while it brings
	// in another, rather than hand it on (BringIn). Without it, when
	// every node in a blob's order was busy, each declined and then read
	// the blob itself (fleetbench, 3 nodes: 1.5 to 2 upstream copies).
	// A node of an earlier release ignores it and never hands a blob on.
	Take bool `json:"take,omitempty"`
	// takeLast sets Take on the request to the last candidate of a
	// hedged open (openHedged); it is not sent.
	takeLast bool

	// Swarm marks an asker that fetches pieces from many peers: it is
	// told at once when the peer has no upload slot (errBusy), and the
	// answer carries the peer's progress and the swarm it knows.
	Swarm bool `json:"swarm,omitempty"`
	// Status asks for the answer's header only, no content.
	Status bool `json:"status,omitempty"`
	// Have is how many leading bytes of the blob the asker holds, for
	// the peer to pass on to others.
	Have int64 `json:"have,omitempty"`
	// WantPieces asks for the piece digests the peer knows, from piece
	// PiecesFrom on.
	WantPieces bool `json:"want_pieces,omitempty"`
	PiecesFrom int  `json:"pieces_from,omitempty"`
	// HavePieces are the whole pieces the asker holds beyond Have.
	HavePieces []int `json:"have_pieces,omitempty"`
	// Avoid, in a piece request to the blob's origin, names the peers
	// the asker penalised (at most maxAvoid are read): the origin does
	// not send it to them for the piece (swarm.Tracker.MayServe).
	Avoid []string `json:"avoid,omitempty"`
	// MembersSince is the MembersVersion of the asker's last answer
	// from this peer about the blob: the answer's Members are then only
	// those whose entries changed since (swarm.Tracker.Members). A node
	// of an earlier release does not read it and names every member.
	MembersSince uint64 `json:"members_since,omitempty"`
	// MemberRefs asks for the answer's members as MemberRefs, by the
	// numbers this peer gave them, instead of Members by peer ID; a node
	// of an earlier release does not read it and answers with Members.
	// NeedRefs are refs of this peer's earlier answers the asker does
	// not know: the answer names them (at most swarm.MaxNeed are read).
	MemberRefs bool  `json:"member_refs,omitempty"`
	NeedRefs   []int `json:"need_refs,omitempty"`
}

// maxAvoid bounds the peers a request's Avoid names.
const maxAvoid = 16

// Response is the header a peer answers with.
type Response struct {
	// Size is the content's whole size, whatever the offset.
	Size      int64  `json:"size"`
	MediaType string `json:"media_type,omitempty"`
	// Digest answers a tag request.
	Digest digest.Digest `json:"digest,omitempty"`
	// Cached marks a secondhand tag answer: the peer does not own the
	// repository (see Request.AcceptCached).
	Cached bool `json:"cached,omitempty"`
	// Owner, with a not_found answer to a tag question, says the peer
	// owns the repository and it has no such tag (deleted, or never
	// pushed): an asker then takes no secondhand answer for it, which
	// would bring back a tag its owner removed.
	Owner bool `json:"owner,omitempty"`
	// Pieces are the sha256 digests of the content's consecutive
	// PieceSize pieces, when the peer holds it whole; askers check each
	// piece as it arrives and can fetch pieces from several peers.
	Pieces []digest.Digest `json:"pieces,omitempty"`
	Error  string          `json:"error,omitempty"`

	// For swarm askers: PieceSize is the size of the pieces the digests
	// are of (an answer without it is from a node that does not take
	// part in swarms); Have is how many leading bytes the peer can send
	// without waiting (Size when it holds the blob whole); Pieces start
	// at piece PiecesFrom; Members are other peers fetching or holding
	// the blob.
	PieceSize  int64    `json:"piece_size,omitempty"`
	Have       int64    `json:"have,omitempty"`
	PiecesFrom int      `json:"pieces_from,omitempty"`
	Members    []Member `json:"members,omitempty"`
	// MemberRefs are the members, to an asker that asked for refs.
	MemberRefs []MemberRef `json:"member_refs,omitempty"`
	// HavePieces are the whole, checked pieces the peer holds beyond
	// Have: received out of order, not yet stored.
	HavePieces []int `json:"have_pieces,omitempty"`
	// RetryMS, with a busy answer to a swarm asker, is how many
	// milliseconds to wait before asking this peer again
	// (swarm.RetryAfter); 0 from a node that does not say.
	RetryMS int64 `json:"retry_ms,omitempty"`
	// Taken, with a busy answer of a blob's origin, says the piece asked
	// for is on its way to another member: the asker may ask this node
	// for another piece at once (swarm.Planner.Taken). RetryMS is set
	// as well, for a node of an earlier release.
	Taken bool `json:"taken,omitempty"`
	// MembersVersion is what the asker sends as MembersSince next
	// time; 0 from a node that names every member each time.
	MembersVersion uint64 `json:"members_version,omitempty"`
	// StatusMS, with a status answer, is how many milliseconds the
	// asker should wait before it asks this peer for news again
	// (swarm.Tracker.StatusEvery); 0: swarm.StatusInterval.
	StatusMS int64 `json:"status_ms,omitempty"`
}

// Errors a peer can answer with.
const (
	errNotFound    = "not_found"
	errDenied      = "denied"
	errBadRequest  = "bad_request"
	errUnavailable = "unavailable"
	errBusy        = "busy"
	// errHandedOff: asked to bring a blob in from upstream for the
	// fleet while it brings in another, the node hands it on to the
	// next in the blob's order (BringIn). A node of an earlier release
	// reads it as any other error: it asks the next peer.
	errHandedOff = "handed_off"
)

// ErrNotFound means the peer does not have the content.
var ErrNotFound = errors.New("p2p: not found")

// ErrOwnerHasNoTag is the answer of a repository's owner that has no
// such tag (Content.Tag returns it; Open returns it from such an
// answer). It is an ErrNotFound.
var ErrOwnerHasNoTag = fmt.Errorf("%w: the repository's owner has no such tag", ErrNotFound)

// ErrDenied means the peer refused to serve us.
var ErrDenied = errors.New("p2p: denied")

// ErrHandedOff means the peer, asked to bring a blob in from upstream for
// the fleet, handed it on to the next node in the blob's order: it is
// bringing in another (BringIn).
var ErrHandedOff = errors.New("p2p: handed on to the next node")

// ErrBusy means the peer has no upload slot free now, or would rather
// the asker got the piece from the peers that hold it.
var ErrBusy = errors.New("p2p: busy")

// busyError is a busy answer, the members of the swarm it named and
// when it said to ask again (0: it did not say).
type busyError struct {
	members []Member
	refs    []MemberRef
	version uint64 // the answer's MembersVersion
	retry   time.Duration
	taken   bool // the answer's Taken
}

func (e *busyError) Error() string        { return ErrBusy.Error() }
func (e *busyError) Is(target error) bool { return target == ErrBusy }

// Content is what a node offers its peers.
type Content interface {
	// Open opens content d, complete or still arriving. With repo
	// mirrored from a rule, the node may fetch d from upstream on the
	// peer's behalf; with a zero repo (or a local one) it serves only
	// what it holds.
	Open(ctx context.Context, from peer.ID, d digest.Digest, repo repository.Name) (*Served, error)
	// Tag is the last digest the node resolved for tag of repo. With
	// acceptCached it may answer for a local repository of another node
	// it pulled through; cached then says so.
	Tag(ctx context.Context, from peer.ID, repo repository.Name, tag string, acceptCached bool) (d digest.Digest, cached bool, err error)
}

// Served is content opened for a peer.
type Served struct {
	Size      int64
	MediaType string
	Content   io.ReadSeeker
	// Complete says whether Content is the whole verified blob, so that
	// piece digests can be offered.
	Complete bool
	// Pieces are the blob's PieceSize piece digests when the node keeps
	// them (its store computes them as a blob is written); without them
	// a complete blob is read and hashed before its first byte is sent.
	// For a blob still arriving they are those of its first whole
	// pieces.
	Pieces []digest.Digest
	// Have is how many leading bytes Content gives without waiting
	// (Size when Complete).
	Have  int64
	Close func() error
}

// ServeContent answers peers' content requests from c. sent is told how
// many content bytes went out.
func (h *Host) ServeContent(c Content, sent func(int64)) {
	h.host.SetStreamHandler(ContentProtocol, func(s network.Stream) {
		defer s.Close()
		n, err := h.serveStream(c, s)
		if n > 0 && sent != nil {
			sent(n)
		}
		if err != nil {
			h.log.Debug("serving a peer", "peer", s.Conn().RemotePeer(), "err", err)
			_ = s.Reset()
		}
	})
}

func (h *Host) serveStream(c Content, s network.Stream) (int64, error) {
	from := s.Conn().RemotePeer()
	if !h.Member(from) {
		// The gater should have kept it out; this covers a connection
		// made before the policy that removed the peer took effect.
		return 0, writeHeader(s, Response{Error: errDenied})
	}
	_ = s.SetReadDeadline(time.Now().Add(30 * time.Second))
	var req Request
	if err := readLine(bufio.NewReaderSize(s, 4096), &req); err != nil {
		return 0, writeHeader(s, Response{Error: errBadRequest})
	}
	_ = s.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repo := repository.Name{Rule: req.Rule, Path: req.Repo}

	if req.Digest == "" && req.Tag != "" {
		if !validTag(req.Tag) {
			return 0, writeHeader(s, Response{Error: errBadRequest})
		}
		d, cached, err := c.Tag(ctx, from, repo, req.Tag, req.AcceptCached)
		if err != nil {
			return 0, writeHeader(s, Response{Error: errorCode(err), Owner: errors.Is(err, ErrOwnerHasNoTag)})
		}
		return 0, writeHeader(s, Response{Digest: d, Cached: cached && req.AcceptCached})
	}
	if req.Digest.Validate() != nil || req.Offset < 0 || req.Have < 0 || req.PiecesFrom < 0 || req.Length > math.MaxInt64-req.Offset {
		return 0, writeHeader(s, Response{Error: errBadRequest})
	}
	if req.Swarm {
		h.tracker.note(req.Digest, from, req.Have, req.HavePieces, time.Now())
	}
	// The origin sends a piece to a few askers first and to the rest
	// through them (tracker.go); a busy answer names the swarm, so the
	// asker finds those that hold the piece.
	// It is built only when sent: most requests that find a slot need
	// the members once, in the answer below.
	busy := func() Response {
		r := Response{Error: errBusy}
		if req.Swarm {
			h.tracker.answer(&r, &req, from, time.Now())
			r.RetryMS = swarm.RetryAfter(h.slots.rate(), PieceSize, rand.Float64()).Milliseconds()
		}
		return r
	}
	// A transfer takes an upload slot before the content is opened: a
	// designated fetcher opening it may start an upstream fetch.
	if !req.Status {
		if !h.takeSlot(ctx, req.Swarm) {
			return 0, writeHeader(s, busy())
		}
		defer h.releaseSlot()
	}
	// Only the origin holds back: it is asked with the rule (as the
	// blob's designated fetcher), its uplink is what every other node
	// waits on, and peers that hold pieces serve them while they have a
	// slot (two holders each sending askers to the other would serve no
	// one). It asks after the slot is taken: the decision counts a copy
	// of the piece as sent, and a copy counted for an asker then turned
	// away for want of a slot was one fewer for the fleet (found by
	// bench/cmd/swarmsim).
	// A copy it counts is reported back when it ends: one sent whole lets
	// more copies follow in time, one broken off is given back.
	sentWhole := false
	if req.Swarm && req.Rule != "" && !req.Status && req.Length > 0 && req.Offset%PieceSize == 0 && req.Length <= PieceSize {
		i := int(req.Offset / PieceSize)
		if !h.tracker.hasPiece(req.Digest, i) {
			return 0, writeHeader(s, Response{Error: errBadRequest})
		}
		if !h.tracker.mayServe(req.Digest, from, i, req.Offset+req.Length, time.Now(), req.Avoid[:min(len(req.Avoid), maxAvoid)]) {
			// The piece is on its way to another member, and the slot
			// was free: the asker may ask for another piece at once,
			// if this node holds one no copy of has begun
			// (swarm.Tracker.Taken, swarm.Planner.Taken).
			r := busy()
			r.Taken = h.tracker.taken(req.Digest, i)
			return 0, writeHeader(s, r)
		}
		defer func() { h.tracker.sent(req.Digest, from, i, req.Offset+req.Length, sentWhole, time.Now()) }()
	}
	if req.Take && req.Rule != "" {
		h.bringIns.take(req.Digest)
	}
	served, err := c.Open(ctx, from, req.Digest, repo)
	if err != nil {
		if req.Take && req.Rule != "" {
			// Told to take a blob it then could not open, it is not
			// bringing it in. (A blob it decided on by itself and
			// could not open, pull says so: BringInFailed. This
			// request's error need not mean that another asker's
			// open of the same blob failed too.)
			h.bringIns.failed(req.Digest)
		}
		return 0, writeHeader(s, Response{Error: errorCode(err)})
	}
	defer served.Close()
	if req.Offset > served.Size {
		return 0, writeHeader(s, Response{Error: errBadRequest})
	}
	resp := Response{Size: served.Size, MediaType: served.MediaType}
	if served.Complete {
		served.Have = served.Size
		if len(served.Pieces) != pieceCount(served.Size) || served.Size == 0 {
			if served.Pieces, err = h.pieces.of(req.Digest, served.Content, served.Size); err != nil {
				return 0, err
			}
		}
	}
	switch {
	case req.Swarm:
		resp.PieceSize, resp.Have = PieceSize, served.Have
		held := int(served.Have / PieceSize)
		if served.Have == served.Size {
			held = pieceCount(served.Size)
		}
		h.tracker.holds(req.Digest, held, pieceCount(served.Size))
		resp.HavePieces = h.heldPieces(req.Digest, served.Have)
		h.tracker.answer(&resp, &req, from, time.Now())
		if req.Status {
			resp.StatusMS = h.tracker.statusEvery(req.Digest).Milliseconds()
		}
		if req.WantPieces && req.PiecesFrom < len(served.Pieces) {
			resp.PiecesFrom = req.PiecesFrom
			resp.Pieces = served.Pieces[req.PiecesFrom:min(len(served.Pieces), req.PiecesFrom+maxPiecesPerAnswer)]
		}
	case served.Complete:
		resp.Pieces = served.Pieces
	}
	if req.Status {
		return 0, writeHeader(s, resp)
	}
	want := served.Size - req.Offset
	if req.Length > 0 && req.Length < want {
		want = req.Length
	}
	var body io.Reader = served.Content
	if req.Swarm && req.Rule == "" && req.Offset%PieceSize == 0 && served.Have < req.Offset+want {
		// A piece this node has checked but not yet stored (it arrived
		// out of order) is sent from memory: the store would make the
		// asker wait for every piece before it.
		// One still arriving is sent as it arrives, its last byte
		// once it is checked (inbound.go).
		if b := h.heldPiece(req.Digest, int(req.Offset/PieceSize), want); b != nil {
			defer h.putPieceBuf(b)
			body = bytes.NewReader(b)
		} else if r := h.arrivingPiece(ctx, req.Digest, int(req.Offset/PieceSize), want); r != nil {
			defer r.Close()
			body = r
		}
	}
	if body == served.Content {
		if _, err := served.Content.Seek(req.Offset, io.SeekStart); err != nil {
			return 0, err
		}
	}
	if err := writeHeader(s, resp); err != nil {
		return 0, err
	}
	piece := req.Swarm && want <= PieceSize
	// An upload the asker stopped reading must not hold a slot for long:
	// two such leave a node serving no one. One it reads slowly may
	// (quiet.go). A piece is bounded as its asker bounds it; anything
	// longer by transferSilence.
	silence := h.transferSilence
	if piece {
		silence = swarm.PieceTimeout
	}
	to := quietWriter{s, silence}
	wrote := time.Now()
	n, err := io.CopyN(countingWriter{to, &h.slots}, h.corrupt(body, piece && served.Size > PieceSize), want)
	if piece {
		h.log.Debug("piece served", "digest", req.Digest, "offset", req.Offset, "peer", from, "write", time.Since(wrote).Round(time.Millisecond), "err", err, "slots", h.slots.active())
	}
	if err == nil && n != want {
		err = fmt.Errorf("sent %d of %d bytes", n, want)
	}
	sentWhole = err == nil
	if sentWhole && piece && !served.Complete && h.cfg.OnRelayedPiece != nil {
		h.cfg.OnRelayedPiece()
	}
	return n, err
}

// transferSilence is how long an upload of more than a piece (a whole
// blob, to an asker outside a swarm) waits on an asker that takes
// nothing before it gives its slot back. Such an asker writes what it
// reads to its store, which no client holds back, so a silence this long
// is an asker gone or stalled.
const transferSilence = 30 * time.Second

// maxPiecesPerAnswer bounds the piece digests one answer carries (about
// 300 KB of header), so that a blob of any size fits maxHeaderLine; a
// swarm asker pages through the rest with PiecesFrom.
const maxPiecesPerAnswer = 4096

// pieceCount is how many PieceSize pieces a blob of size bytes has.
func pieceCount(size int64) int { return int((size + PieceSize - 1) / PieceSize) }

// takeSlot admits a transfer under the host's upload slots. A swarm
// asker is answered at once; another waits up to uploadWait.
func (h *Host) takeSlot(ctx context.Context, swarmAsker bool) bool {
	deadline := time.Now().Add(uploadWait)
	for {
		if h.slots.admit(time.Now()) {
			return true
		}
		if swarmAsker || time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *Host) releaseSlot() { h.slots.release() }

func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return errNotFound
	case errors.Is(err, ErrDenied):
		return errDenied
	case errors.Is(err, ErrHandedOff):
		return errHandedOff
	}
	return errUnavailable
}

// Stream is content arriving from a peer.
type Stream struct {
	Response
	Peer peer.ID
	io.Reader
	s    network.Stream
	stop func() bool
}

// Close ends the transfer, whether or not it was read to the end.
func (s *Stream) Close() error {
	s.stop()
	return s.s.Reset()
}

// Open asks peer p for content. On success the Stream carries the bytes
// from req.Offset to the end; they are not verified here.
func (h *Host) Open(ctx context.Context, p peer.ID, req Request) (*Stream, error) {
	s, err := h.host.NewStream(ctx, p, ContentProtocol)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	ok := false
	defer func() {
		if !ok {
			stop()
			_ = s.Reset()
		}
	}()
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(append(line, '\n')); err != nil {
		return nil, err
	}
	if err := s.CloseWrite(); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(s, 64<<10)
	var resp Response
	if err := readLine(br, &resp); err != nil {
		return nil, fmt.Errorf("p2p: reading %s's answer: %w", p, err)
	}
	switch resp.Error {
	case "":
	case errNotFound:
		if resp.Owner {
			return nil, ErrOwnerHasNoTag
		}
		return nil, ErrNotFound
	case errDenied:
		return nil, ErrDenied
	case errHandedOff:
		return nil, fmt.Errorf("%w: %s", ErrHandedOff, p)
	case errBusy:
		return nil, &busyError{members: resp.Members, refs: resp.MemberRefs, version: resp.MembersVersion, retry: time.Duration(max(0, resp.RetryMS)) * time.Millisecond, taken: resp.Taken}
	default:
		return nil, fmt.Errorf("p2p: peer %s answered %s", p, resp.Error)
	}
	if req.Digest != "" && (resp.Size < 0 || req.Offset > resp.Size || resp.Have < 0 || resp.Have > resp.Size) {
		return nil, fmt.Errorf("p2p: peer %s sent a bad header", p)
	}
	want := resp.Size - req.Offset
	if req.Status && resp.PieceSize != 0 {
		want = 0 // a swarm peer answered the header only
	}
	if req.Length > 0 && req.Length < want {
		want = req.Length
	}
	ok = true
	return &Stream{Response: resp, Peer: p, Reader: &exactReader{r: br, left: want}, s: s, stop: stop}, nil
}

func readLine(br *bufio.Reader, v any) error {
	var line []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return err
		}
		line = append(line, chunk...)
		if len(line) > maxHeaderLine {
			return errors.New("header line too long")
		}
		if !isPrefix {
			break
		}
	}
	return json.Unmarshal(line, v)
}

func writeHeader(w io.Writer, r Response) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(line, '\n'))
	return err
}

// exactReader reads exactly left bytes: ending early is an error, not EOF.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// validTag is the OCI tag grammar.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 128 {
		return false
	}
	for i, c := range t {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}
