package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Berkeley DB hash file layout, as go-rpmdb's pkg/bdb reads it.
const (
	bdbPageHeader    = 26
	bdbHashOffSize   = 12
	bdbHashUnsorted  = 2  // hash page, before BDB 4.6
	bdbHashOffIndex  = 3  // HOFFPAGE: the value lives on overflow pages
	bdbOverflowPage  = 7  // one page of an overflow chain
	bdbHashPage      = 13 // sorted hash page
	bdbMaxWalkFactor = 8  // overflow bytes walked, as a multiple of the file size
)

// checkBDB walks data the way go-rpmdb v0.0.0-20210911072402 will and
// rejects what would make it index out of range, follow an overflow chain
// forever, or do far more work than the file's size warrants; each value
// it would hand on must pass checkRPMHeader. That reader
// runs in its own goroutine, where a panic cannot be recovered and would
// end the whole process, so untrusted databases must pass here first.
func checkBDB(data []byte) error {
	if len(data) < 512 {
		return errors.New("shorter than a metadata page")
	}
	ps := int(binary.LittleEndian.Uint32(data[20:24]))
	switch ps {
	case 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536:
	default:
		return fmt.Errorf("page size %d", ps)
	}
	last := uint64(binary.LittleEndian.Uint32(data[32:36]))
	pages := uint64(len(data) / ps)
	if last >= pages {
		return fmt.Errorf("last page %d past the end of the file (%d pages)", last, pages)
	}
	budget := bdbMaxWalkFactor*len(data) + 1<<20
	// go-rpmdb adds in-page offsets as uint16, so they must not wrap.
	limit := min(ps, 1<<16-1)
	for n := uint64(0); n <= last; n++ {
		page := data[n*uint64(ps) : (n+1)*uint64(ps)]
		if t := page[25]; t != bdbHashUnsorted && t != bdbHashPage {
			continue
		}
		entries := int(binary.LittleEndian.Uint16(page[20:22]))
		if entries%2 != 0 || bdbPageHeader+2*entries > limit {
			return fmt.Errorf("page %d: %d index entries", n, entries)
		}
		// Entries alternate key, value; only values are read.
		for i := 1; i < entries; i += 2 {
			at := bdbPageHeader + 2*i
			v := int(binary.LittleEndian.Uint16(page[at : at+2]))
			if v >= ps {
				return fmt.Errorf("page %d: value offset %d", n, v)
			}
			if page[v] != bdbHashOffIndex {
				continue
			}
			if v+bdbHashOffSize > limit {
				return fmt.Errorf("page %d: overflow entry at %d", n, v)
			}
			blob, err := checkBDBChain(data, ps, last, binary.LittleEndian.Uint32(page[v+4:v+8]))
			if err != nil {
				return fmt.Errorf("page %d: %w", n, err)
			}
			if err := checkRPMHeader(blob); err != nil {
				return fmt.Errorf("page %d: %w", n, err)
			}
			if budget -= len(blob); budget < 0 {
				return errors.New("overflow chains add up to far more than the file")
			}
		}
	}
	return nil
}

// checkBDBChain follows one overflow chain and returns the value it holds,
// assembled as go-rpmdb does.
func checkBDBChain(data []byte, ps int, last uint64, cur uint32) ([]byte, error) {
	var value []byte
	for hops := uint64(0); cur != 0; hops++ {
		if hops > last {
			return nil, errors.New("overflow chain loops")
		}
		// go-rpmdb computes the offset in uint32; mirror the wrap.
		off := uint64(uint32(ps) * cur)
		if off+uint64(ps) > uint64(len(data)) {
			return nil, fmt.Errorf("overflow page %d past the end of the file", cur)
		}
		page := data[off : off+uint64(ps)]
		if page[25] != bdbOverflowPage {
			return nil, fmt.Errorf("page %d in an overflow chain has type %d", cur, page[25])
		}
		next := binary.LittleEndian.Uint32(page[16:20])
		if next != 0 {
			value = append(value, page[bdbPageHeader:]...)
		} else {
			end := bdbPageHeader + int(binary.LittleEndian.Uint16(page[22:24]))
			if end > ps {
				return nil, fmt.Errorf("overflow page %d: free offset past the page", cur)
			}
			value = append(value, page[bdbPageHeader:end]...)
		}
		cur = next
	}
	return value, nil
}
