package vulndb

import (
	"bytes"
	"compress/gzip"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/scan"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	db := importTestdata(t, "go-osv", "alpine-secdb", "debian")
	db.Merge(syntheticDB(t))
	first := encode(t, db)
	if again := encode(t, db); !bytes.Equal(first, again) {
		t.Fatal("two encodings of one DB differ")
	}
	back, err := Decode(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if back.Records() != db.Records() || !back.Updated().Equal(db.Updated()) {
		t.Errorf("decoded %d records updated %v, want %d %v", back.Records(), back.Updated(), db.Records(), db.Updated())
	}
	if re := encode(t, back); !bytes.Equal(first, re) {
		t.Error("re-encoding the decoded DB changed the bytes")
	}
	inv := inventory(
		scan.Package{Ecosystem: "Alpine:v3.10", Name: "busybox", Version: "1.27.2-r3"},
		scan.Package{Ecosystem: "Alpine:v3.10", Name: "openssl", Source: "openssl", Version: "1.1.1a-r0"},
		scan.Package{Ecosystem: "Debian:12", Name: "libc6", Source: "glibc", Version: "2.36-9+deb12u2"},
		scan.Package{Ecosystem: "Debian:12", Name: "libssl3", Source: "openssl", Version: "3.0.11-1~deb12u1"},
		scan.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.5", Location: "app"},
		scan.Package{Ecosystem: "Go", Name: "stdlib", Version: "v1.21.3", Location: "app"},
	)
	want := db.Match(inv)
	if len(want) < 10 {
		t.Fatalf("only %d findings: the inventory should hit more", len(want))
	}
	if got := back.Match(inv); !reflect.DeepEqual(got, want) {
		t.Errorf("Match after round trip differs:\n got %v\nwant %v", got, want)
	}
}

// Import order must not change the encoding (the digest names the DB).
func TestEncodeDeterministicAcrossImportOrder(t *testing.T) {
	a := encode(t, importTestdata(t, "go-osv", "alpine-secdb", "debian"))
	b := encode(t, importTestdata(t, "debian", "alpine-secdb", "go-osv"))
	if !bytes.Equal(a, b) {
		t.Error("import order changed the encoding")
	}
}

func TestDecodeRejects(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	for name, in := range map[string][]byte{
		"not gzip":      []byte(`{"format":"shoal.vulndb.v1","records":[]}`),
		"bad json":      gz(`{"format":`),
		"wrong format":  gz(`{"format":"other","records":[]}`),
		"unknown field": gz(`{"format":"shoal.vulndb.v1","records":[],"x":1}`),
		"no id":         gz(`{"format":"shoal.vulndb.v1","records":[{"id":"","affected":[]}]}`),
		"unsorted":      gz(`{"format":"shoal.vulndb.v1","records":[{"id":"B","affected":[]},{"id":"A","affected":[]}]}`),
		"duplicate":     gz(`{"format":"shoal.vulndb.v1","records":[{"id":"A","affected":[]},{"id":"A","affected":[]}]}`),
		"null record":   gz(`{"format":"shoal.vulndb.v1","records":[null]}`),
		"no package":    gz(`{"format":"shoal.vulndb.v1","records":[{"id":"A","affected":[{"ecosystem":"Go","name":""}]}]}`),
		"trailing":      gz(`{"format":"shoal.vulndb.v1","records":[]} {}`),
	} {
		if _, err := Decode(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	db, err := Decode(bytes.NewReader(gz(`{"format":"shoal.vulndb.v1","records":[]}` + "\n")))
	if err != nil || db.Records() != 0 {
		t.Errorf("empty DB: %v", err)
	}
	if !strings.HasPrefix(FormatVersion, "shoal.vulndb.") {
		t.Error(FormatVersion)
	}
}
