// Package testelf builds the small ELF files tests need: an executable
// holding one section (cargo-auditable's .dep-v0, say), without a
// toolchain.
package testelf

import (
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/binary"
	"testing"
)

// WithSection builds a minimal little-endian ELF64 executable holding
// one section, name, of type typ with data, and the section-name table,
// then pads it to pad bytes.
func WithSection(t testing.TB, name string, typ elf.SectionType, data []byte, pad int) []byte {
	t.Helper()
	const ehsize, shentsize = 64, 64
	shstrtab := "\x00" + name + "\x00.shstrtab\x00"
	dataOff := uint64(ehsize)
	strOff := dataOff + uint64(len(data))
	shoff := (strOff + uint64(len(shstrtab)) + 7) &^ 7
	var buf bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shoff, Ehsize: ehsize, Phentsize: 56, Shentsize: shentsize, Shnum: 3, Shstrndx: 2,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	sections := []elf.Section64{
		{},
		{Name: 1, Type: uint32(typ), Off: dataOff, Size: uint64(len(data)), Addralign: 1},
		{Name: uint32(len(name) + 2), Type: uint32(elf.SHT_STRTAB), Off: strOff, Size: uint64(len(shstrtab)), Addralign: 1},
	}
	write := func(v any) {
		if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
			t.Fatal(err)
		}
	}
	write(hdr)
	buf.Write(data)
	buf.WriteString(shstrtab)
	buf.Write(make([]byte, int(shoff)-buf.Len()))
	write(sections)
	if buf.Len() < pad {
		buf.Write(make([]byte, pad-buf.Len()))
	}
	return buf.Bytes()
}

// Zlib is raw compressed with zlib, as cargo-auditable stores its list.
func Zlib(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
