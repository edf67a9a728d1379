package inventory

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"

	"github.com/shoal-dev/shoal/internal/tempfile"

	"github.com/shoal-dev/shoal/scan"
)

// Executable formats Go builds: ELF, Mach-O (32/64-bit, both byte orders,
// universal), PE.
var execMagics = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
	{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	[]byte("MZ"),
}

// readExecutable reads an executable of size bytes from r and returns the
// packages it was built from (Location unset): Go modules from its build
// info, Rust crates from cargo-auditable's audit data, or nothing. Both
// parsers need an io.ReaderAt, so the file is spooled once to a temporary
// file, removed before returning, and both look at that one copy.
func readExecutable(r io.Reader, size int64) ([]scan.Package, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if !isExecutable(head[:]) {
		return nil, nil
	}
	f, err := tempfile.Unlinked(os.TempDir(), "shoal-inventory-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	spot := &magicSpotter{w: f}
	if _, err := spot.Write(head[:]); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	n, err := io.Copy(spot, io.LimitReader(r, size-int64(len(head))))
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var pkgs []scan.Package
	if spot.found {
		pkgs = append(pkgs, goBinaryPackages(f)...)
	}
	if string(head[:]) == elf.ELFMAG {
		// Section offsets past what was spooled read as errors, so the
		// spooled length, not the header's size, bounds the parse.
		pkgs = append(pkgs, rustELFPackages(io.NewSectionReader(f, 0, n+int64(len(head))))...)
	}
	return pkgs, nil
}

func isExecutable(head []byte) bool {
	for _, m := range execMagics {
		if bytes.HasPrefix(head, m) {
			return true
		}
	}
	return false
}
