package inventory

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReadRPMSQLiteWrittenByRPM has the rpm tools on this machine (Debian's
// rpm package) write an rpmdb.sqlite from the ndb fixture's headers, and
// expects what rpm -qa prints for it. Skipped where rpm is not installed;
// the committed sqlite fixture covers the same ground there.
func TestReadRPMSQLiteWrittenByRPM(t *testing.T) {
	rpmdbTool, err := exec.LookPath("rpmdb")
	if err != nil {
		t.Skip("rpmdb not installed")
	}
	rpmTool, err := exec.LookPath("rpm")
	if err != nil {
		t.Skip("rpm not installed")
	}
	// The ndb fixture's blobs as rpmdb --exportdb writes headers: each
	// after the 8-byte header magic.
	ndb := []byte(testdataFile(t, "rpm", "sle15-bci.Packages.db"))
	le := binary.LittleEndian
	var stream bytes.Buffer
	for off := ndbHeaderSlots * ndbSlotSize; off < ndbSlotPage; off += ndbSlotSize {
		if le.Uint32(ndb[off+4:]) == 0 {
			continue
		}
		blob := int(le.Uint32(ndb[off+8:])) * ndbBlockSize
		n := int(le.Uint32(ndb[blob+12:]))
		stream.Write([]byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0})
		stream.Write(ndb[blob+ndbBlobHeadSize : blob+ndbBlobHeadSize+n])
	}
	dir := t.TempDir()
	sqliteBackend := []string{"--dbpath", dir, "--define", "_db_backend sqlite"}
	imp := exec.Command(rpmdbTool, append([]string{"--importdb"}, sqliteBackend...)...)
	imp.Stdin = &stream
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("rpmdb --importdb: %v\n%s", err, out)
	}
	qa, err := exec.Command(rpmTool, append([]string{"-qa", "--qf",
		"%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH} %{SOURCERPM} %{FILENAMES:arraysize}\n"}, sqliteBackend...)...).Output()
	if err != nil {
		t.Fatalf("rpm -qa: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := readRPMSQLite(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := rpmQA(entries); got != string(qa) || len(entries) != 4 {
		t.Errorf("read\n%s\nrpm -qa printed\n%s", got, qa)
	}
}
