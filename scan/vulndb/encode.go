package vulndb

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FormatVersion names the encoded form; Decode refuses others.
const FormatVersion = "shoal.vulndb.v1"

// MaxDecodedSize bounds the decompressed size Decode accepts, so a DB from a
// peer cannot exhaust memory. The whole Go vulnerability database plus all
// Alpine secdb files encode to a few MiB.
const MaxDecodedSize = 1 << 30

type encoded struct {
	Format  string    `json:"format"`
	Records []*Record `json:"records"`
}

// Encode writes the DB's portable form: gzip'd JSON, records sorted by ID
// with their lists in canonical order, and a gzip header without name or
// time, so the same records always give the same bytes and the digest of
// the encoding identifies the DB version.
func (db *DB) Encode(w io.Writer) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	e := encoded{Format: FormatVersion, Records: db.sortedRecords()}
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return fmt.Errorf("vulndb: encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("vulndb: encode: %w", err)
	}
	return nil
}

// Decode reads a DB written by Encode. It checks the format, that IDs are
// unique and sorted and that every record names its affected packages; it
// reads at most MaxDecodedSize bytes of JSON.
func Decode(r io.Reader) (*DB, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("vulndb: decode: %w", err)
	}
	defer zr.Close()
	lr := &io.LimitedReader{R: zr, N: MaxDecodedSize + 1}
	var e encoded
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		if lr.N <= 0 {
			return nil, fmt.Errorf("vulndb: decode: larger than %d bytes", MaxDecodedSize)
		}
		return nil, fmt.Errorf("vulndb: decode: %w", err)
	}
	if e.Format != FormatVersion {
		return nil, fmt.Errorf("vulndb: decode: format %q, want %q", e.Format, FormatVersion)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("vulndb: decode: trailing data after the database")
	}
	db := newDB()
	prev := ""
	for i, rec := range e.Records {
		if rec == nil || rec.ID == "" {
			return nil, fmt.Errorf("vulndb: decode: record %d has no id", i)
		}
		if i > 0 && strings.Compare(prev, rec.ID) >= 0 {
			return nil, fmt.Errorf("vulndb: decode: record %q out of order or duplicated", rec.ID)
		}
		prev = rec.ID
		for _, a := range rec.Affected {
			if a.Ecosystem == "" || a.Name == "" {
				return nil, fmt.Errorf("vulndb: decode: record %q: affected entry without ecosystem or name", rec.ID)
			}
		}
		db.records[rec.ID] = rec
	}
	db.reindex()
	return db, nil
}
