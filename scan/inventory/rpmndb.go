package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The ndb rpm database (Packages.db; SUSE 15 SP3+, openSUSE), as rpm's
// lib/backend/ndb/rpmpkg.c writes it: a 32-byte header ("RpmP", version 0,
// generation, slot page count) at the start of the first of SlotNPages
// 4 KiB slot pages, each holding 256 16-byte slots {"Slot", package index,
// block offset, block count}; a used slot points at a blob ("BlbS",
// package index, checksum, length, then the rpm header) at offset
// 16 × block offset.
const (
	ndbHeaderMagic  = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic    = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic    = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbSlotPage     = 4096
	ndbSlotSize     = 16
	ndbBlockSize    = 16
	ndbHeaderSlots  = 2 // the 32-byte header takes the first two slots
	ndbBlobHeadSize = 16
)

// readRPMNDB lists the packages of an ndb database held in memory. The
// slot pages and every blob are checked to lie inside data, so nothing is
// allocated from the file's own counts but the entries themselves.
func readRPMNDB(data []byte) ([]rpmEntry, error) {
	le := binary.LittleEndian
	if len(data) < ndbSlotPage || le.Uint32(data[0:4]) != ndbHeaderMagic {
		return nil, errors.New("rpm ndb: not an ndb database")
	}
	if v := le.Uint32(data[4:8]); v != 0 {
		return nil, fmt.Errorf("rpm ndb: version %d", v)
	}
	pages := int64(le.Uint32(data[12:16]))
	if pages < 1 || pages*ndbSlotPage > int64(len(data)) {
		return nil, fmt.Errorf("rpm ndb: %d slot pages in %d bytes", pages, len(data))
	}
	var entries []rpmEntry
	for off := int64(ndbHeaderSlots * ndbSlotSize); off < pages*ndbSlotPage; off += ndbSlotSize {
		slot := data[off : off+ndbSlotSize]
		if le.Uint32(slot[0:4]) != ndbSlotMagic {
			return nil, fmt.Errorf("rpm ndb: bad slot at %d", off)
		}
		pkg := le.Uint32(slot[4:8])
		if pkg == 0 {
			continue // a free slot
		}
		blobOff := int64(le.Uint32(slot[8:12])) * ndbBlockSize
		blocks := int64(le.Uint32(slot[12:16]))
		if blobOff < pages*ndbSlotPage || blobOff+ndbBlobHeadSize > int64(len(data)) {
			return nil, fmt.Errorf("rpm ndb: package %d at %d outside the file", pkg, blobOff)
		}
		head := data[blobOff : blobOff+ndbBlobHeadSize]
		if le.Uint32(head[0:4]) != ndbBlobMagic || le.Uint32(head[4:8]) != pkg {
			return nil, fmt.Errorf("rpm ndb: package %d: no blob at %d", pkg, blobOff)
		}
		n := int64(le.Uint32(head[12:16]))
		if n > blocks*ndbBlockSize || blobOff+ndbBlobHeadSize+n > int64(len(data)) {
			return nil, fmt.Errorf("rpm ndb: package %d: %d bytes outside its %d blocks or the file", pkg, n, blocks)
		}
		e, err := parseRPMHeader(data[blobOff+ndbBlobHeadSize : blobOff+ndbBlobHeadSize+n])
		if err != nil {
			return nil, fmt.Errorf("rpm ndb: package %d: %w", pkg, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}
