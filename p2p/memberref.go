package p2p

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// MemberRef is a member of a blob's swarm named by the number its
// answerer gave it (swarm.Member.Ref), as answers carry members to an
// asker that sends Request.MemberRefs. Peer, the peer ID, is sent only
// when the asker may not know the member by its Ref yet: it was 52 of
// the 75 bytes a member took by name, and members were most of what
// the answers that an origin's uplink carried were made of at 200 nodes
// (bench/RESULTS.md). The asker keeps a book of each answerer's refs
// (swarm.Refs) and asks for those it does not know (Request.NeedRefs).
//
// On the wire it is a JSON array, [ref,have], [ref,have,"peer"] or
// [ref,have,"peer",[pieces]], with "" for a peer not named.
type MemberRef struct {
	Ref  int
	Have int64
	Peer string
	// Pieces are whole pieces it holds beyond Have.
	Pieces []int
}

// MarshalJSON writes m as its array.
func (m MemberRef) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 24+len(m.Peer)+4*len(m.Pieces))
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(m.Ref), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, m.Have, 10)
	if m.Peer != "" || len(m.Pieces) > 0 {
		q, err := json.Marshal(m.Peer)
		if err != nil {
			return nil, err
		}
		b = append(b, ',')
		b = append(b, q...)
	}
	if len(m.Pieces) > 0 {
		b = append(b, ",["...)
		for i, p := range m.Pieces {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(p), 10)
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

var errBadMemberRef = errors.New("p2p: a member ref is [ref,have], [ref,have,peer] or [ref,have,peer,[pieces]]")

// UnmarshalJSON reads m's array, and refuses any other shape.
func (m *MemberRef) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) < 2 || len(parts) > 4 {
		return errBadMemberRef
	}
	var r MemberRef
	if err := strictNumber(parts[0], &r.Ref); err != nil || r.Ref <= 0 {
		return errBadMemberRef
	}
	if err := strictNumber(parts[1], &r.Have); err != nil {
		return errBadMemberRef
	}
	if len(parts) > 2 {
		if err := json.Unmarshal(parts[2], &r.Peer); err != nil || bytes.Equal(bytes.TrimSpace(parts[2]), []byte("null")) {
			return errBadMemberRef
		}
	}
	if len(parts) > 3 {
		if err := json.Unmarshal(parts[3], &r.Pieces); err != nil || r.Pieces == nil {
			return errBadMemberRef
		}
	}
	*m = r
	return nil
}

// strictNumber reads a JSON integer into v, refusing null, which
// encoding/json would take as no value.
func strictNumber[T int | int64](raw json.RawMessage, v *T) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return errBadMemberRef
	}
	return json.Unmarshal(raw, v)
}
