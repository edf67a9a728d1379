package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// rpm header tags the scan reads (rpm's lib/rpmtag.h).
const (
	rpmTagName       = 1000
	rpmTagVersion    = 1001
	rpmTagRelease    = 1002
	rpmTagEpoch      = 1003
	rpmTagArch       = 1022
	rpmTagSourceRPM  = 1044
	rpmTagDirIndexes = 1116
	rpmTagBaseNames  = 1117
	rpmTagDirNames   = 1118
)

// rpm header tag data types (rpm's lib/rpmtag.h, rpmTagType).
const rpmInt32Type = 4

// maxRPMHeaderEntries is far above any real header (a few hundred tags)
// and keeps a crafted count from sizing anything.
const maxRPMHeaderEntries = 1 << 16

// parseRPMHeader reads the tags the scan needs from one header blob as
// every rpm database stores it: big-endian index length il and data length
// dl, il index entries {tag, type, offset, count}, then dl bytes of data.
// The same blob comes out of Berkeley DB, ndb and sqlite databases. Every
// offset and count is checked against the blob; a header without a name
// or version is an error.
func parseRPMHeader(blob []byte) (rpmEntry, error) {
	var e rpmEntry
	if len(blob) < 8 {
		return e, errors.New("rpm header: shorter than its lengths")
	}
	il := int64(binary.BigEndian.Uint32(blob[0:4]))
	dl := int64(binary.BigEndian.Uint32(blob[4:8]))
	if il < 1 || il > maxRPMHeaderEntries || 8+16*il+dl > int64(len(blob)) {
		return e, fmt.Errorf("rpm header: %d entries and %d bytes of data do not fit in %d bytes", il, dl, len(blob))
	}
	data := blob[8+16*il : 8+16*il+dl]
	var dirIndexes []int
	var dirs, bases []string
	for i := range il {
		ent := blob[8+16*i : 8+16*(i+1)]
		tag := binary.BigEndian.Uint32(ent[0:4])
		typ := binary.BigEndian.Uint32(ent[4:8])
		off := int64(binary.BigEndian.Uint32(ent[8:12]))
		count := int64(binary.BigEndian.Uint32(ent[12:16]))
		var err error
		switch tag {
		case rpmTagName, rpmTagVersion, rpmTagRelease, rpmTagArch, rpmTagSourceRPM:
			var s []string
			if s, err = rpmStrings(data, typ, off, 1); err == nil {
				switch tag {
				case rpmTagName:
					e.Name = s[0]
				case rpmTagVersion:
					e.Version = s[0]
				case rpmTagRelease:
					e.Release = s[0]
				case rpmTagArch:
					e.Arch = s[0]
				case rpmTagSourceRPM:
					e.SourceRPM = s[0]
				}
			}
		case rpmTagEpoch:
			var n []int
			if n, err = rpmInt32s(data, typ, off, 1); err == nil {
				e.Epoch = n[0]
			}
		case rpmTagDirIndexes:
			dirIndexes, err = rpmInt32s(data, typ, off, count)
		case rpmTagBaseNames:
			bases, err = rpmStrings(data, typ, off, count)
		case rpmTagDirNames:
			dirs, err = rpmStrings(data, typ, off, count)
		}
		if err != nil {
			return rpmEntry{}, fmt.Errorf("rpm header: tag %d: %w", tag, err)
		}
	}
	if e.Name == "" || e.Version == "" {
		return rpmEntry{}, errors.New("rpm header: no name or version")
	}
	e.Files = rpmFiles(dirs, dirIndexes, bases)
	return e, nil
}

// rpmStrings reads count NUL-terminated strings at off. A count can
// never exceed the bytes left, so a crafted one ends at the data's end.
func rpmStrings(data []byte, typ uint32, off, count int64) ([]string, error) {
	if typ != rpmStringType && typ != rpmStringArrayType && typ != rpmI18NStringType {
		return nil, fmt.Errorf("type %d is not a string", typ)
	}
	if off >= int64(len(data)) || count < 1 || count > int64(len(data))-off {
		return nil, fmt.Errorf("%d strings at %d outside %d bytes of data", count, off, len(data))
	}
	// Not sized from count: a crafted one as large as the data would
	// allocate 16 bytes a byte before a single string is found.
	var out []string
	for rest := data[off:]; int64(len(out)) < count; {
		n := bytes.IndexByte(rest, 0)
		if n < 0 {
			return nil, errors.New("string without its NUL")
		}
		out = append(out, string(rest[:n]))
		rest = rest[n+1:]
	}
	return out, nil
}

// rpmInt32s reads count big-endian int32 values at off.
func rpmInt32s(data []byte, typ uint32, off, count int64) ([]int, error) {
	if typ != rpmInt32Type {
		return nil, fmt.Errorf("type %d is not int32", typ)
	}
	if count < 1 || off+4*count > int64(len(data)) {
		return nil, fmt.Errorf("%d int32 at %d outside %d bytes of data", count, off, len(data))
	}
	out := make([]int, count)
	for i := range out {
		out[i] = int(int32(binary.BigEndian.Uint32(data[off+4*int64(i):])))
	}
	return out, nil
}
