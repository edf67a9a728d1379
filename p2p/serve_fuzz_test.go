package p2p

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/opencontainers/go-digest"

	"github.com/shoal-dev/shoal/internal/testpeer"
	"github.com/shoal-dev/shoal/repository"
)

// FuzzServeRequest sends a member's crafted request line to a holder's
// content protocol (serveStream) on a raw stream and checks the answer:
// the node does not panic (a panic in a stream handler ends the
// process), it answers every line with a header, an error answer carries
// no content, and an answer to a nonsense request is an error the
// protocol names: bad_request for a line that does not parse, a tag
// outside the OCI grammar, an invalid digest, a negative offset, have or
// pieces_from, an offset past the blob's end, an end (offset+length)
// past math.MaxInt64, or a piece past the end of a blob whose size an
// origin knows; not_found for a blob or tag it does not have; busy only
// from an origin asked for a piece. Content after a successful header is
// exactly the blob's bytes from Offset, min(Size-Offset, Length) of them
// when Length is positive and Size-Offset when not, none for a status
// request; the header's size, pieces and swarm fields are the blob's.
// The holder keeps serving: every so often, and after any exchange that
// went wrong, a well-formed request is served, and no upload slot is
// left taken.
//
// The holder's blobs come from a fixed seed, so the committed corpus
// (testdata/fuzz/FuzzServeRequest) names their digests.
func FuzzServeRequest(f *testing.F) {
	fz := newServeFuzz(f)
	for _, s := range serveFuzzSeeds(fz.names) {
		f.Add([]byte(s.line))
	}
	// Lines longer than the request reader's buffer (4096) and than
	// maxHeaderLine: the first is a request, the second is refused.
	f.Add(fmt.Appendf(nil, `{"digest":%q,"length":10,"repo":"%s"}`, fz.names.tiny, strings.Repeat("r", 5000)))
	f.Add(fmt.Appendf(nil, `{"digest":%q,"length":10,"repo":"%s"}`, fz.names.tiny, strings.Repeat("r", maxHeaderLine)))
	f.Fuzz(func(t *testing.T, line []byte) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			line = append(line, '\n')
		}
		// A member the holder heard from lately holds piece 2 of the
		// odd blob and the piece before it: answers name it, and an
		// origin holds pieces back for it (swarm.Tracker.MayServe).
		fz.holder.h.tracker.note(fz.names.odd, fz.member, PieceSize, []int{2}, time.Now())
		sized := fz.sized()
		resp, body, err := fz.exchange(line)
		if err != nil {
			fz.alive(t)
			t.Fatalf("request %.300q: %v", line, err)
		}
		fz.check(t, line, sized, resp, body)
		fz.slotsFree(t, line)
		if fz.execs.Add(1)%16 == 0 {
			fz.alive(t)
		}
	})
}

// serveFuzzTimeout bounds one exchange: an answer later than that is a
// hang (uploadWait, the longest a request waits for a slot, is longer).
const serveFuzzTimeout = 20 * time.Second

// serveFuzzBlob is one blob of the holder's, by its seed.
type serveFuzzBlob struct {
	seed byte
	size int
}

var (
	serveFuzzOdd   = serveFuzzBlob{1, 3*PieceSize + 12345} // ends in a short piece
	serveFuzzWhole = serveFuzzBlob{2, 2 * PieceSize}       // whole pieces only
	serveFuzzTiny  = serveFuzzBlob{3, 1000}                // one short piece
	serveFuzzEmpty = serveFuzzBlob{4, 0}
)

func (b serveFuzzBlob) bytes() []byte {
	out := make([]byte, b.size)
	_, _ = rand.NewChaCha8([32]byte{b.seed}).Read(out)
	return out
}

// serveFuzzNames are the digests the seeds name.
type serveFuzzNames struct {
	odd, whole, tiny, empty digest.Digest
	// unknown is a valid digest the holder does not have.
	unknown digest.Digest
}

type serveFuzz struct {
	holder, asker *testPeer
	names         serveFuzzNames
	blobs         map[digest.Digest][]byte
	pieces        map[digest.Digest][]digest.Digest
	largest       int64
	// member is a peer the holder's tracker heard from, other than the
	// asker.
	member peer.ID
	execs  atomic.Int64
}

func newServeFuzz(f *testing.F) *serveFuzz {
	fleet := newFleet(f, 2)
	fz := &serveFuzz{holder: fleet[0], asker: fleet[1], blobs: map[digest.Digest][]byte{}, pieces: map[digest.Digest][]digest.Digest{}, member: testpeer.ID(f)}
	for _, b := range []serveFuzzBlob{serveFuzzOdd, serveFuzzWhole, serveFuzzTiny, serveFuzzEmpty} {
		blob := b.bytes()
		d := fz.holder.content.put(blob)
		pieces, err := hashPieces(bytes.NewReader(blob), int64(len(blob)))
		if err != nil {
			f.Fatal(err)
		}
		fz.blobs[d], fz.pieces[d] = blob, pieces
		fz.largest = max(fz.largest, int64(len(blob)))
		switch b {
		case serveFuzzOdd:
			fz.names.odd = d
		case serveFuzzWhole:
			fz.names.whole = d
		case serveFuzzTiny:
			fz.names.tiny = d
		case serveFuzzEmpty:
			fz.names.empty = d
		}
	}
	fz.names.unknown = digest.FromString("not held")
	c := fz.holder.content
	c.mu.Lock()
	c.tags["up/library/app:v1"] = fz.names.odd
	c.tags["team/app:latest"] = fz.names.tiny
	c.secondhand["other/app:v2"] = fz.names.whole
	c.owns = map[string]bool{"team/app": true}
	c.mu.Unlock()
	return fz
}

// exchange sends line to the holder on a raw content stream, as a member
// crafting its own requests would, and reads the header and whatever
// follows it, up to one byte more than the largest blob.
func (fz *serveFuzz) exchange(line []byte) (Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), serveFuzzTimeout)
	defer cancel()
	s, err := fz.asker.h.host.NewStream(ctx, fz.holder.h.ID(), ContentProtocol)
	if err != nil {
		return Response{}, nil, fmt.Errorf("opening a stream: %w", err)
	}
	_ = s.SetDeadline(time.Now().Add(serveFuzzTimeout))
	// The holder may answer before it has read all of a long line: the
	// line is written while the answer is read.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if _, err := s.Write(line); err == nil {
			_ = s.CloseWrite()
		}
	}()
	defer func() {
		_ = s.Reset()
		<-wrote
	}()
	br := bufio.NewReaderSize(s, 64<<10)
	var resp Response
	if err := readLine(br, &resp); err != nil {
		return Response{}, nil, fmt.Errorf("reading the header: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(br, fz.largest+1))
	if err != nil {
		return resp, body, fmt.Errorf("header %+v, then reading the content after %d bytes: %w", resp, len(body), err)
	}
	return resp, body, nil
}

// sized says of each blob whether the holder's tracker knows its size
// (its piece count, swarm.Tracker.SetPieces): an origin then refuses a
// piece past the blob's end before it opens the blob.
func (fz *serveFuzz) sized() map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	for d, blob := range fz.blobs {
		out[d] = !fz.holder.h.tracker.hasPiece(d, pieceCount(int64(len(blob))))
	}
	return out
}

// check says whether resp and body answer line as the protocol has it;
// sized is what the holder knew of the blobs' sizes before (fz.sized).
func (fz *serveFuzz) check(t *testing.T, line []byte, sized map[digest.Digest]bool, resp Response, body []byte) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("request %.300q: answered %+v and %d bytes: %s", line, resp, len(body), fmt.Sprintf(format, args...))
	}
	wantError := func(code, why string) {
		t.Helper()
		if resp.Error != code {
			fail("want %s: %s", code, why)
		}
	}
	if resp.Error != "" && len(body) > 0 {
		fail("an error answer carries content")
	}
	// The request as the holder reads it: its first line.
	var req Request
	if err := readLine(bufio.NewReaderSize(bytes.NewReader(line), 4096), &req); err != nil {
		wantError(errBadRequest, "the line does not parse: "+err.Error())
		return
	}
	if req.Digest == "" && req.Tag != "" {
		fz.checkTag(req, resp, body, fail)
		return
	}
	if req.Digest.Validate() != nil || req.Offset < 0 || req.Have < 0 || req.PiecesFrom < 0 || req.Length > math.MaxInt64-req.Offset {
		wantError(errBadRequest, "a bad digest, a negative offset, have or pieces_from, or an end past math.MaxInt64")
		return
	}
	blob, ok := fz.blobs[req.Digest]
	size := int64(len(blob))
	// A piece an origin is asked for (it may hold it back for the
	// members that hold it, before it opens the blob): one past the
	// blob's end is refused once the origin knows the blob's size.
	originPiece := req.Swarm && req.Rule != "" && !req.Status && req.Length > 0 && req.Offset%PieceSize == 0 && req.Length <= PieceSize
	if originPiece && sized[req.Digest] && req.Offset/PieceSize >= int64(pieceCount(size)) {
		wantError(errBadRequest, "a piece past the end of a blob of known size")
		return
	}
	// The holder serves one stream at a time here, so it has a slot for
	// each; only an origin asked for a piece may hold it back.
	if resp.Error == errBusy {
		if !originPiece {
			fail("busy, though a slot was free and no origin's piece was asked for")
		}
		if resp.RetryMS < 0 {
			fail("a negative retry_ms")
		}
		fz.checkMembers(req, resp, fail)
		return
	}
	if resp.Taken || resp.RetryMS != 0 {
		fail("taken or retry_ms on an answer that is not busy")
	}
	switch {
	case !ok:
		wantError(errNotFound, "the holder does not have the blob")
		return
	case req.Offset > size:
		wantError(errBadRequest, "the offset is past the blob's end")
		return
	case resp.Error != "":
		fail("want the content")
	}
	if resp.Size != size || resp.MediaType != "application/octet-stream" {
		fail("want size %d", size)
	}
	// The content is the blob from Offset to its end, or the first
	// Length bytes of that when Length is positive and less.
	want := size - req.Offset
	if req.Length > 0 && req.Length < want {
		want = req.Length
	}
	if req.Status {
		want = 0
	}
	if int64(len(body)) != want {
		fail("want %d bytes of content", want)
	}
	if !bytes.Equal(body, blob[req.Offset:req.Offset+want]) {
		fail("the content is not the blob's bytes from %d", req.Offset)
	}
	pieces := fz.pieces[req.Digest]
	if !req.Swarm {
		if resp.PieceSize != 0 || resp.Have != 0 || resp.PiecesFrom != 0 || resp.StatusMS != 0 || resp.MembersVersion != 0 || len(resp.Members)+len(resp.MemberRefs)+len(resp.HavePieces) != 0 {
			fail("swarm fields in an answer to an asker outside swarms")
		}
		if !slices.Equal(resp.Pieces, pieces) {
			fail("want all %d piece digests", len(pieces))
		}
		return
	}
	if resp.PieceSize != PieceSize || resp.Have != size || len(resp.HavePieces) != 0 {
		fail("want piece size %d and have %d", PieceSize, size)
	}
	if (resp.StatusMS > 0) != req.Status {
		fail("status_ms on an answer that is not to a status request, or none on one that is")
	}
	from, wantPieces := 0, []digest.Digest(nil)
	if req.WantPieces && req.PiecesFrom < len(pieces) {
		from = req.PiecesFrom
		wantPieces = pieces[from:min(len(pieces), from+maxPiecesPerAnswer)]
	}
	if resp.PiecesFrom != from || !slices.Equal(resp.Pieces, wantPieces) {
		fail("want the piece digests from %d: %v", from, wantPieces)
	}
	fz.checkMembers(req, resp, fail)
}

// checkMembers checks the members of an answer to a swarm asker: named
// as it asked (by ref or by peer ID), the asker never among them.
func (fz *serveFuzz) checkMembers(req Request, resp Response, fail func(string, ...any)) {
	if !req.Swarm && len(resp.Members)+len(resp.MemberRefs) > 0 {
		fail("members in an answer to an asker outside swarms")
	}
	if req.MemberRefs && len(resp.Members) > 0 || !req.MemberRefs && len(resp.MemberRefs) > 0 {
		fail("members named other than the asker asked")
	}
	me := fz.asker.h.ID().String()
	for _, m := range resp.Members {
		if m.Peer == me {
			fail("the asker is named to itself")
		}
	}
	for _, m := range resp.MemberRefs {
		if m.Peer == me {
			fail("the asker is named to itself")
		}
	}
}

// checkTag checks the answer to a tag question (a request with a tag and
// no digest) against the holder's tags.
func (fz *serveFuzz) checkTag(req Request, resp Response, body []byte, fail func(string, ...any)) {
	if len(body) > 0 {
		fail("content after a tag answer")
	}
	if !validTag(req.Tag) {
		if resp.Error != errBadRequest {
			fail("want bad_request for a tag outside the OCI grammar")
		}
		return
	}
	repo := repository.Name{Rule: req.Rule, Path: req.Repo}
	key := repo.Key() + ":" + req.Tag
	c := fz.holder.content
	c.mu.Lock()
	d, ok := c.tags[key]
	cached := false
	if !ok && req.AcceptCached {
		d, ok = c.secondhand[key]
		cached = ok
	}
	owner := c.owns[repo.Key()]
	c.mu.Unlock()
	want := Response{Digest: d, Cached: cached}
	if !ok {
		want = Response{Error: errNotFound, Owner: owner}
	}
	if resp.Error != want.Error || resp.Digest != want.Digest || resp.Cached != want.Cached || resp.Owner != want.Owner || resp.Size != 0 || len(resp.Pieces)+len(resp.Members)+len(resp.MemberRefs) > 0 {
		fail("want %+v", want)
	}
}

// slotsFree checks that the exchange left no upload slot taken: the
// holder releases it before it closes the stream.
func (fz *serveFuzz) slotsFree(t *testing.T, line []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for fz.holder.h.slots.active() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("request %.300q: %d upload slots still taken after the answer", line, fz.holder.h.slots.active())
		}
		time.Sleep(time.Millisecond)
	}
}

// alive checks that the holder still serves a well-formed request.
func (fz *serveFuzz) alive(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serveFuzzTimeout)
	defer cancel()
	d := fz.names.odd
	req := Request{Digest: d, Offset: PieceSize - 10, Length: 100}
	s, err := fz.asker.h.Open(ctx, fz.holder.h.ID(), req)
	if err != nil {
		t.Fatalf("the holder no longer serves: %v", err)
	}
	got, err := io.ReadAll(s)
	s.Close()
	if err != nil || !bytes.Equal(got, fz.blobs[d][req.Offset:req.Offset+req.Length]) {
		t.Fatalf("the holder no longer serves: %d bytes, %v", len(got), err)
	}
}

// serveFuzzSeed is a request line for FuzzServeRequest's corpus; those
// with a file name are kept in testdata/fuzz/FuzzServeRequest as well.
type serveFuzzSeed struct {
	file string
	line string
}

// serveFuzzSeeds are request lines a member could craft, well-formed and
// not.
func serveFuzzSeeds(n serveFuzzNames) []serveFuzzSeed {
	const maxInt64 = "9223372036854775807"
	// The last piece-aligned offset: a piece's end from it is past
	// maxInt64.
	const lastPiece = "9223372036853727232"
	odd, whole, tiny, empty, unknown := n.odd, n.whole, n.tiny, n.empty, n.unknown
	longInts := func(k int, neg bool) string {
		var b strings.Builder
		for i := range k {
			if i > 0 {
				b.WriteByte(',')
			}
			if neg && i%2 == 1 {
				b.WriteByte('-')
			}
			fmt.Fprint(&b, i%7)
		}
		return b.String()
	}
	junkPeers := `"","not-a-peer","12D3KooW","\u0000",` + strings.Repeat(`"x",`, 20) + `"` + strings.Repeat("p", 200) + `"`
	q := func(format string, args ...any) string { return fmt.Sprintf(format, args...) }
	return []serveFuzzSeed{
		// Well-formed requests.
		{"whole_blob", q(`{"digest":%q}`, odd)},
		{"", q(`{"digest":%q}`, tiny)},
		{"", q(`{"digest":%q}`, whole)},
		{"piece", q(`{"digest":%q,"offset":1048576,"length":1048576}`, odd)},
		{"", q(`{"digest":%q,"offset":1,"length":1}`, whole)},
		{"swarm_last_short_piece", q(`{"digest":%q,"offset":3145728,"length":1048576,"swarm":true,"have":3145728,"have_pieces":[1]}`, odd)},
		{"origin_piece", q(`{"digest":%q,"offset":0,"length":1048576,"swarm":true,"rule":"up","repo":"library/app","have":0,"have_pieces":[2],"member_refs":true}`, odd)},
		{"", q(`{"digest":%q,"offset":2097152,"length":1048576,"swarm":true,"rule":"up","repo":"library/app"}`, odd)},
		{"", q(`{"digest":%q,"offset":1048576,"length":1048576,"swarm":true,"rule":"up","repo":"library/app","take":true}`, whole)},
		{"", q(`{"digest":%q,"offset":1000,"length":5,"swarm":true,"rule":"up"}`, odd)},
		{"", q(`{"digest":%q,"offset":0,"length":2097152,"swarm":true,"rule":"up"}`, whole)},
		{"status_want_pieces", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true,"pieces_from":1}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true,"pieces_from":4}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true,"pieces_from":5}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true}`, empty)},
		{"", q(`{"digest":%q,"status":true}`, odd)},
		{"status_with_length", q(`{"digest":%q,"status":true,"length":5,"offset":3}`, tiny)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"member_refs":true,"need_refs":[1,2,3],"members_since":1}`, odd)},
		{"empty_blob", q(`{"digest":%q}`, empty)},
		{"", q(`{"digest":%q,"offset":1}`, empty)},
		{"offset_at_end", q(`{"digest":%q,"offset":1000,"length":7,"swarm":true}`, tiny)},
		{"", q(`{"digest":%q,"offset":1001}`, tiny)},
		{"", q(`{"digest":%q,"offset":4194304,"length":1048576,"swarm":true,"rule":"up"}`, whole)},
		{"piece_at_end", q(`{"digest":%q,"offset":2097152,"length":1048576,"swarm":true,"rule":"up"}`, whole)},
		{"", q(`{"digest":%q,"offset":0,"length":1,"swarm":true,"rule":"up"}`, empty)},
		{"negative_length", q(`{"digest":%q,"offset":10,"length":-5}`, tiny)},
		{"", q(`{"digest":%q,"length":`+maxInt64+`}`, tiny)},
		{"", q(`{"digest":%q,"offset":1,"length":999}`, tiny)},
		{"", q(`{"digest":%q,"repo":"team/app","rule":""}`, tiny)},
		{"", q(`{"digest":%q}`+"\r", tiny)},
		{"second_line", q(`{"digest":%q,"length":10}`+"\n"+`{"digest":%q}`, tiny, odd)},
		{"", q(`{"digest":%q,"length":10}`+"\n\x00\xff garbage", tiny)},

		// Offsets, lengths and counts at and past their ends.
		{"huge_offset", q(`{"digest":%q,"offset":`+maxInt64+`}`, odd)},
		{"piece_end_overflows", q(`{"digest":%q,"offset":`+lastPiece+`,"length":1048576,"swarm":true,"rule":"up","repo":"library/app"}`, odd)},
		{"", q(`{"digest":%q,"offset":`+lastPiece+`,"length":1048576,"swarm":true}`, odd)},
		{"", q(`{"digest":%q,"offset":`+lastPiece+`,"length":1,"swarm":true,"rule":"up","avoid":[`+junkPeers+`]}`, unknown)},
		{"", q(`{"digest":%q,"offset":1099511627776,"length":1048576,"swarm":true,"rule":"up"}`, odd)},
		{"length_overflows", q(`{"digest":%q,"offset":1,"length":`+maxInt64+`}`, tiny)},
		{"", q(`{"digest":%q,"offset":-1}`, odd)},
		{"", q(`{"digest":%q,"offset":-9223372036854775808,"length":1}`, odd)},
		{"", q(`{"digest":%q,"offset":9223372036854775808}`, odd)},
		{"", q(`{"digest":%q,"length":-9223372036854775808,"swarm":true}`, tiny)},
		{"", q(`{"digest":%q,"swarm":true,"have":-1}`, odd)},
		{"huge_have", q(`{"digest":%q,"swarm":true,"status":true,"have":`+maxInt64+`}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true,"pieces_from":-1}`, odd)},
		{"huge_pieces_from", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true,"pieces_from":`+maxInt64+`}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true,"pieces_from":9223372036854771712}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"want_pieces":true,"pieces_from":1e30}`, odd)},
		{"odd_have_pieces", q(`{"digest":%q,"swarm":true,"status":true,"have_pieces":[-1,-9223372036854775808,`+maxInt64+`,2,2,2,0,3,4,5]}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"have_pieces":[`+longInts(20000, true)+`],"offset":0,"length":1048576,"rule":"up"}`, odd)},
		{"odd_need_refs", q(`{"digest":%q,"swarm":true,"status":true,"member_refs":true,"need_refs":[-1,0,1,1,2,`+maxInt64+`,-9223372036854775808]}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"member_refs":true,"need_refs":[`+longInts(20000, true)+`]}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"need_refs":[1,2],"member_refs":false}`, odd)},
		{"huge_members_since", q(`{"digest":%q,"swarm":true,"status":true,"members_since":18446744073709551615,"member_refs":true}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"members_since":-1}`, odd)},
		{"", q(`{"digest":%q,"swarm":true,"members_since":18446744073709551616}`, odd)},
		{"junk_avoid", q(`{"digest":%q,"offset":2097152,"length":1048576,"swarm":true,"rule":"up","avoid":[`+junkPeers+`]}`, odd)},
		{"", q(`{"digest":%q,"offset":0,"length":1048576,"swarm":true,"rule":"up","avoid":[1,true,null]}`, odd)},
		{"", q(`{"digest":%q,"offset":0,"length":1048576,"swarm":true,"rule":"up","avoid":null,"have_pieces":null,"need_refs":null}`, odd)},

		// Tag questions.
		{"tag", `{"tag":"v1","rule":"up","repo":"library/app"}`},
		{"", `{"tag":"latest","repo":"team/app"}`},
		{"tag_owner_has_none", `{"tag":"gone","repo":"team/app","accept_cached":true}`},
		{"tag_secondhand", `{"tag":"v2","repo":"other/app","accept_cached":true}`},
		{"", `{"tag":"v2","repo":"other/app"}`},
		{"", `{"tag":".bad","repo":"team/app"}`},
		{"", `{"tag":"v\u00e9","repo":"team/app"}`},
		{"", `{"tag":"` + strings.Repeat("t", 129) + `","repo":"team/app"}`},
		{"", `{"tag":"` + strings.Repeat("t", 128) + `","repo":"team/app","rule":"up","take":true}`},
		{"", `{"tag":"v1","rule":"up","repo":"library/app","swarm":true,"status":true,"offset":-1}`},
		{"", q(`{"tag":"v1","digest":%q,"rule":"up","repo":"library/app"}`, tiny)},
		{"", `{"tag":"v1","rule":"../../etc","repo":"\u0000/.."}`},

		// Digests the holder does not have, and no digests.
		{"unknown_take", q(`{"digest":%q,"rule":"up","repo":"library/app","take":true}`, unknown)},
		{"", q(`{"digest":%q,"swarm":true,"rule":"up","offset":0,"length":1048576,"take":true}`, unknown)},
		{"", q(`{"digest":%q,"swarm":true,"status":true,"want_pieces":true}`, unknown)},
		{"", `{"digest":"sha512:` + strings.Repeat("ab", 64) + `"}`},
		{"bad_digest", `{"digest":"sha256:abc"}`},
		{"", `{"digest":"sha256:` + strings.Repeat("AB", 32) + `"}`},
		{"", `{"digest":"md5:d41d8cd98f00b204e9800998ecf8427e"}`},
		{"", `{"digest":"sha256:` + strings.Repeat("0", 64) + `/../x"}`},
		{"", `{"digest":"","offset":0}`},
		{"", `{"swarm":true,"status":true}`},

		// Lines that are no request.
		{"empty_line", ``},
		{"", "\n"},
		{"", "\r\n"},
		{"not_json", `hello`},
		{"", `null`},
		{"", `[]`},
		{"", `{}`},
		{"", `"sha256"`},
		{"", `{"digest":`},
		{"trailing_garbage", q(`{"digest":%q}{"digest":%q}`, tiny, odd)},
		{"", q(`{"digest":%q}   `, tiny)},
		{"", "\x00\x01\x02\xff\xfe"},
		{"", strings.Repeat("[", 10000)},
		{"long_line", q(`{"digest":%q,"length":10,"avoid":[%s]}`, tiny, strings.Repeat(`"`+strings.Repeat("a", 60)+`",`, 100)+`"z"`)},
		{"", strings.Repeat(" ", 5000) + q(`{"digest":%q,"length":3}`, tiny)},

		// Unknown fields, other spellings, wrong types.
		{"unknown_fields", q(`{"digest":%q,"bogus":1,"nested":{"a":[1,2,{}]},"length":10}`, tiny)},
		{"upper_case_keys", q(`{"DIGEST":%q,"OFFSET":5,"Length":3,"SWARM":true}`, tiny)},
		{"duplicate_keys", q(`{"digest":%q,"digest":%q,"length":4}`, unknown, tiny)},
		{"", `{"digest":123}`},
		{"wrong_types", q(`{"digest":%q,"offset":"5"}`, tiny)},
		{"", q(`{"digest":%q,"length":1.5}`, tiny)},
		{"", q(`{"digest":%q,"swarm":"true"}`, tiny)},
		{"", q(`{"digest":%q,"have_pieces":"1,2"}`, odd)},
		{"", q(`{"digest":%q,"have_pieces":{"0":1},"swarm":true}`, odd)},
		{"", q(`{"digest":%q,"need_refs":[1.5],"member_refs":true,"swarm":true}`, odd)},
		{"", q(`{"digest":%q,"avoid":"x","swarm":true}`, odd)},
		{"", q(`{"digest":%q,"repo":"\u0000\ud800"}`, tiny)},
		{"", q(`{"digest":%q,"repo":"`+"\xff\xfe"+`"}`, tiny)},
		{"", q(`{"digest":%q,"repo":"`+"\x00"+`"}`, tiny)},
	}
}
