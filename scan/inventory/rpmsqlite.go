package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// A read-only walk of one table of an SQLite 3 database file held in
// memory, enough to read rpm's rpmdb.sqlite (RHEL 9, Fedora 33+, Amazon
// Linux 2023): the Packages table, "CREATE TABLE Packages (hnum INTEGER
// PRIMARY KEY, blob BLOB NOT NULL)", whose blobs are rpm headers. It
// follows https://www.sqlite.org/fileformat2.html: the 100-byte file
// header, sqlite_schema (the table b-tree rooted at page 1) to find the
// table's root page, table b-tree interior and leaf pages, varints,
// records and overflow chains. A pure-Go SQLite library would cost the
// binary 5.7 MB and need the file on disk; docs/scanning.md has the
// figures. What a write-ahead log (rpmdb.sqlite-wal) still holds is not
// read: an image's database is normally checkpointed when rpm closes it.

const sqliteMagic = "SQLite format 3\x00"

// Page types of table b-trees.
const (
	sqliteInteriorTable = 0x05
	sqliteLeafTable     = 0x0d
)

// maxSQLiteDepth bounds the b-tree's depth; a real one of even millions of
// rows is under 10 deep.
const maxSQLiteDepth = 32

// sqliteFile is a database file in memory and its geometry.
type sqliteFile struct {
	data     []byte
	pageSize int64 // bytes per page
	usable   int64 // page size less the reserved bytes at each page's end
	pages    int64 // whole pages in data
	// budget is what is left of the bytes the walk may copy out of cells
	// and overflow chains: a crafted file can point many cells at one
	// chain, so the total is capped at a few times the file.
	budget int64
}

func openSQLite(data []byte) (*sqliteFile, error) {
	if len(data) < 100 || !bytes.HasPrefix(data, []byte(sqliteMagic)) {
		return nil, errors.New("not an SQLite 3 database")
	}
	ps := int64(binary.BigEndian.Uint16(data[16:18]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, fmt.Errorf("page size %d", ps)
	}
	usable := ps - int64(data[20])
	if usable < 480 {
		return nil, fmt.Errorf("%d usable bytes per page", usable)
	}
	return &sqliteFile{data: data, pageSize: ps, usable: usable,
		pages: int64(len(data)) / ps, budget: 4*int64(len(data)) + 1<<20}, nil
}

// page returns page n (1-based) and where its b-tree header starts.
func (f *sqliteFile) page(n int64) ([]byte, int64, error) {
	if n < 1 || n > f.pages {
		return nil, 0, fmt.Errorf("page %d of %d", n, f.pages)
	}
	p := f.data[(n-1)*f.pageSize : n*f.pageSize]
	if n == 1 {
		return p, 100, nil
	}
	return p, 0, nil
}

// walkTable calls row with each record's payload of the table b-tree
// rooted at root, in rowid order. Pages are visited at most once, so a
// loop in the tree ends in an error.
func (f *sqliteFile) walkTable(root int64, row func(payload []byte) error) error {
	seen := make(map[int64]bool)
	var walk func(n int64, depth int) error
	walk = func(n int64, depth int) error {
		if depth > maxSQLiteDepth {
			return errors.New("b-tree too deep")
		}
		if seen[n] {
			return fmt.Errorf("page %d reached twice", n)
		}
		seen[n] = true
		p, h, err := f.page(n)
		if err != nil {
			return err
		}
		if h+8 > int64(len(p)) {
			return fmt.Errorf("page %d: header past the page", n)
		}
		typ := p[h]
		cells := int64(binary.BigEndian.Uint16(p[h+3 : h+5]))
		ptrs := h + 8
		if typ == sqliteInteriorTable {
			ptrs = h + 12
		} else if typ != sqliteLeafTable {
			return fmt.Errorf("page %d: type %#x is not a table b-tree page", n, typ)
		}
		if ptrs+2*cells > f.usable {
			return fmt.Errorf("page %d: %d cells do not fit", n, cells)
		}
		for i := range cells {
			c := int64(binary.BigEndian.Uint16(p[ptrs+2*i:]))
			if c < ptrs+2*cells || c >= f.usable {
				return fmt.Errorf("page %d: cell %d at %d", n, i, c)
			}
			cell := p[c:f.usable]
			if typ == sqliteInteriorTable {
				if len(cell) < 4 {
					return fmt.Errorf("page %d: cell %d truncated", n, i)
				}
				if err := walk(int64(binary.BigEndian.Uint32(cell[0:4])), depth+1); err != nil {
					return err
				}
				continue
			}
			payload, err := f.leafPayload(cell)
			if err != nil {
				return fmt.Errorf("page %d: cell %d: %w", n, i, err)
			}
			if err := row(payload); err != nil {
				return err
			}
		}
		if typ == sqliteInteriorTable {
			return walk(int64(binary.BigEndian.Uint32(p[h+8:h+12])), depth+1)
		}
		return nil
	}
	return walk(root, 0)
}

// leafPayload reads a table leaf cell (payload size, rowid, payload) and
// gathers the payload's overflow chain when it does not fit in the page.
func (f *sqliteFile) leafPayload(cell []byte) ([]byte, error) {
	size, n := sqliteVarint(cell)
	if n == 0 {
		return nil, errors.New("truncated payload size")
	}
	_, m := sqliteVarint(cell[n:])
	if m == 0 {
		return nil, errors.New("truncated rowid")
	}
	cell = cell[n+m:]
	if size > uint64(len(f.data)) || int64(size) > f.budget {
		return nil, fmt.Errorf("payload of %d bytes", size)
	}
	total := int64(size)
	f.budget -= total
	// How much of the payload lies in the page: fileformat2.html, "Cell
	// Payload Overflow Pages".
	u := f.usable
	local, x := total, u-35
	if total > x {
		minLocal := (u-12)*32/255 - 23
		local = minLocal + (total-minLocal)%(u-4)
		if local > x {
			local = minLocal
		}
	}
	if local == total {
		if total > int64(len(cell)) {
			return nil, errors.New("payload past the page")
		}
		return cell[:total], nil
	}
	if local+4 > int64(len(cell)) {
		return nil, errors.New("payload past the page")
	}
	out := make([]byte, 0, total)
	out = append(out, cell[:local]...)
	next := int64(binary.BigEndian.Uint32(cell[local : local+4]))
	// A chain visits each page once; one that comes back is a loop.
	seen := make(map[int64]bool)
	for int64(len(out)) < total {
		if seen[next] {
			return nil, fmt.Errorf("overflow chain reaches page %d twice", next)
		}
		seen[next] = true
		p, _, err := f.page(next)
		if err != nil {
			return nil, fmt.Errorf("overflow: %w", err)
		}
		take := min(total-int64(len(out)), u-4)
		out = append(out, p[4:4+take]...)
		next = int64(binary.BigEndian.Uint32(p[0:4]))
	}
	return out, nil
}

// sqliteVarint decodes SQLite's big-endian varint (1 to 9 bytes; the
// ninth contributes all 8 bits). n is 0 when b ends first.
func sqliteVarint(b []byte) (v uint64, n int) {
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0
		}
		if i == 8 {
			return v<<8 | uint64(b[i]), 9
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// sqliteValue is one column of a record: its serial type and, for text
// and blobs, its bytes; for integers the value.
type sqliteValue struct {
	serial uint64
	bytes  []byte
	int    int64
}

func (v sqliteValue) isBlob() bool { return v.serial >= 12 && v.serial%2 == 0 }
func (v sqliteValue) isInt() bool {
	return v.serial >= 1 && v.serial <= 6 || v.serial == 8 || v.serial == 9
}

// sqliteRecord splits a record (header size, serial types, values) into
// its first max columns.
func sqliteRecord(rec []byte, max int) ([]sqliteValue, error) {
	hsize, n := sqliteVarint(rec)
	if n == 0 || hsize < uint64(n) || hsize > uint64(len(rec)) {
		return nil, errors.New("record header outside the record")
	}
	header, body := rec[n:hsize], rec[hsize:]
	var out []sqliteValue
	for len(header) > 0 && len(out) < max {
		serial, m := sqliteVarint(header)
		if m == 0 {
			return nil, errors.New("truncated serial type")
		}
		header = header[m:]
		var size uint64
		switch {
		case serial <= 4:
			size = serial
		case serial == 5:
			size = 6
		case serial == 6 || serial == 7:
			size = 8
		case serial == 8 || serial == 9:
			size = 0
		case serial == 10 || serial == 11:
			return nil, fmt.Errorf("reserved serial type %d", serial)
		default:
			size = (serial - 12) / 2
		}
		if size > uint64(len(body)) {
			return nil, errors.New("value past the record")
		}
		v := sqliteValue{serial: serial, bytes: body[:size]}
		switch {
		case serial == 9:
			v.int = 1
		case serial >= 1 && serial <= 6:
			for _, c := range body[:size] {
				v.int = v.int<<8 | int64(c)
			}
			if shift := 64 - 8*size; size > 0 && size < 8 {
				v.int = v.int << shift >> shift // sign-extend
			}
		}
		out = append(out, v)
		body = body[size:]
	}
	return out, nil
}

// sqliteTableRoot finds a table's root page in sqlite_schema, whose rows
// are (type, name, tbl_name, rootpage, sql).
func (f *sqliteFile) tableRoot(name string) (int64, error) {
	var root int64
	err := f.walkTable(1, func(payload []byte) error {
		cols, err := sqliteRecord(payload, 4)
		if err != nil {
			return fmt.Errorf("sqlite_schema: %w", err)
		}
		if len(cols) == 4 && root == 0 && string(cols[0].bytes) == "table" && string(cols[1].bytes) == name && cols[3].isInt() {
			root = cols[3].int
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if root == 0 {
		return 0, fmt.Errorf("no table %s", name)
	}
	return root, nil
}

// readRPMSQLite lists the packages of an rpmdb.sqlite held in memory.
func readRPMSQLite(data []byte) ([]rpmEntry, error) {
	f, err := openSQLite(data)
	if err != nil {
		return nil, fmt.Errorf("rpm sqlite: %w", err)
	}
	root, err := f.tableRoot("Packages")
	if err != nil {
		return nil, fmt.Errorf("rpm sqlite: %w", err)
	}
	var entries []rpmEntry
	err = f.walkTable(root, func(payload []byte) error {
		cols, err := sqliteRecord(payload, 2)
		if err != nil {
			return err
		}
		if len(cols) < 2 || !cols[1].isBlob() {
			return errors.New("Packages row without a blob")
		}
		e, err := parseRPMHeader(cols[1].bytes)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rpm sqlite: %w", err)
	}
	return entries, nil
}
