package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// rpm header tag types whose data go-rpmdb measures by searching for NULs.
const (
	rpmStringType      = 6
	rpmStringArrayType = 8
	rpmI18NStringType  = 9
)

// checkRPMHeader rejects a header blob that go-rpmdb
// v0.0.0-20210911072402 would choke on: it allocates the index from the
// blob's own count before checking it against the size (an il near 2^31 is
// 32 GiB), and counts strings by searching for NULs up to the tag's count
// even once none are left (a count near 2^32 spins for hours). Both are
// checked here against the blob's actual bytes.
func checkRPMHeader(blob []byte) error {
	if len(blob) < 8 {
		return errors.New("header shorter than its lengths")
	}
	il := int64(int32(binary.BigEndian.Uint32(blob[0:4])))
	dl := int64(int32(binary.BigEndian.Uint32(blob[4:8])))
	if il < 1 || dl < 0 || 8+16*il+dl > int64(len(blob)) {
		return fmt.Errorf("header index %d entries, data %d bytes, in %d bytes", il, dl, len(blob))
	}
	dataStart := 8 + 16*il
	dataEnd := dataStart + dl
	budget := 4*int64(len(blob)) + 4096
	for i := range il {
		e := blob[8+16*i : 8+16*(i+1)]
		typ := binary.BigEndian.Uint32(e[4:8])
		if typ != rpmStringType && typ != rpmStringArrayType && typ != rpmI18NStringType {
			continue
		}
		start := dataStart + int64(int32(binary.BigEndian.Uint32(e[8:12])))
		if start < dataStart || start >= dataEnd {
			continue // go-rpmdb refuses these itself
		}
		count := int64(binary.BigEndian.Uint32(e[12:16]))
		if typ == rpmStringType {
			count = 1
		}
		for pos := start; count > 0; count-- {
			n := bytes.IndexByte(blob[pos:dataEnd], 0)
			if n < 0 {
				return fmt.Errorf("header tag %d: fewer strings than its count", i)
			}
			pos += int64(n) + 1
			if budget -= int64(n) + 1; budget < 0 {
				return errors.New("header strings add up to far more than the header")
			}
		}
	}
	return nil
}
