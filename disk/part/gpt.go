package part

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"unicode/utf16"

	"github.com/gokernel/gokernel/disk"
)

// GPT layout (UEFI 2.10, section 5.3): the header is at LBA 1 and its
// backup at the disk's last LBA; the partition entry array is where the
// header says.
const (
	gptSignature   = "EFI PART"
	gptHeaderMin   = 92
	gptEntryMin    = 128
	maxEntryBytes  = 4 << 20 // Linux reads any; 4 MiB is 32768 entries of 128 bytes
	maxGPTEntries  = 1 << 16
	typeUnusedGUID = "00000000-0000-0000-0000-000000000000"
)

// protective reports whether the MBR in sector 0 is GPT's protective MBR:
// a partition of type 0xEE.
func protective(mbr []byte) bool {
	for i := range 4 {
		if mbr[446+16*i+4] == 0xee {
			return true
		}
	}
	return false
}

// gptHeader is the fields of a GPT header this package uses.
type gptHeader struct {
	current, backup     uint64
	firstUsable         uint64
	lastUsable          uint64
	diskGUID            string
	entriesLBA          uint64
	numEntries          uint32
	entrySize, entryCRC uint32
}

// readGPT reads the GPT of d, trying 512-byte then 4096-byte sectors, and
// the backup header if the primary is damaged.
func readGPT(d disk.Device) (*Table, error) {
	var firstErr error
	for _, ss := range []int64{512, 4096} {
		if d.Size() < 2*ss {
			continue
		}
		t, err := readGPTSector(d, ss)
		if err == nil {
			return t, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = &Error{Kind: "gpt", Field: "header", Err: errors.New("the disk is too small for one")}
	}
	return nil, firstErr
}

func readGPTSector(d disk.Device, ss int64) (*Table, error) {
	h, err := readGPTHeader(d, 1, ss)
	if err == nil {
		t, eerr := readGPTEntries(d, h, ss)
		if eerr == nil {
			return t, nil
		}
		err = eerr
	}
	if errors.Is(err, errNoSignature) && ss != 512 {
		return nil, err
	}
	// The primary is bad: the backup is at the last LBA.
	last := uint64(d.Size()/ss - 1)
	b, berr := readGPTHeader(d, last, ss)
	if berr != nil {
		return nil, fmt.Errorf("%w (backup header: %v)", err, berr)
	}
	t, berr := readGPTEntries(d, b, ss)
	if berr != nil {
		return nil, fmt.Errorf("%w (backup: %v)", err, berr)
	}
	t.Warnings = append(t.Warnings, fmt.Sprintf("primary GPT header is damaged (%v); the backup header was used", err))
	return t, nil
}

var errNoSignature = errors.New(`no "EFI PART" signature`)

// readGPTHeader reads and checks the GPT header at lba.
func readGPTHeader(d disk.Device, lba uint64, ss int64) (*gptHeader, error) {
	bad := func(field string, format string, args ...any) error {
		return &Error{Kind: "gpt", Field: fmt.Sprintf("header at LBA %d: %s", lba, field), Err: fmt.Errorf(format, args...)}
	}
	buf := make([]byte, ss)
	if err := disk.ReadFull(d, buf, int64(lba)*ss); err != nil {
		return nil, bad("read", "%w", err)
	}
	if string(buf[:8]) != gptSignature {
		return nil, &Error{Kind: "gpt", Field: fmt.Sprintf("header at LBA %d", lba), Err: errNoSignature}
	}
	le := binary.LittleEndian
	hsize := le.Uint32(buf[12:])
	if hsize < gptHeaderMin || int64(hsize) > ss {
		return nil, bad("header size", "%d bytes, want %d to %d", hsize, gptHeaderMin, ss)
	}
	want := le.Uint32(buf[16:])
	hdr := append([]byte(nil), buf[:hsize]...)
	clear(hdr[16:20])
	if got := crc32.ChecksumIEEE(hdr); got != want {
		return nil, bad("header CRC32", "is %#08x, the header's bytes give %#08x", want, got)
	}
	h := &gptHeader{
		current:     le.Uint64(buf[24:]),
		backup:      le.Uint64(buf[32:]),
		firstUsable: le.Uint64(buf[40:]),
		lastUsable:  le.Uint64(buf[48:]),
		diskGUID:    guid(buf[56:72]),
		entriesLBA:  le.Uint64(buf[72:]),
		numEntries:  le.Uint32(buf[80:]),
		entrySize:   le.Uint32(buf[84:]),
		entryCRC:    le.Uint32(buf[88:]),
	}
	if h.current != lba {
		return nil, bad("my LBA", "is %d", h.current)
	}
	if h.entrySize < gptEntryMin || h.entrySize%8 != 0 || h.entrySize > 4096 {
		return nil, bad("partition entry size", "%d bytes, want a multiple of 8 from %d to 4096", h.entrySize, gptEntryMin)
	}
	if h.numEntries > maxGPTEntries || uint64(h.numEntries)*uint64(h.entrySize) > maxEntryBytes {
		return nil, bad("number of partition entries", "%d of %d bytes is more than gokernel reads (%d bytes)", h.numEntries, h.entrySize, maxEntryBytes)
	}
	end := (h.entriesLBA*uint64(ss) + uint64(h.numEntries)*uint64(h.entrySize))
	if h.entriesLBA == 0 || h.entriesLBA > uint64(d.Size())/uint64(ss) || end > uint64(d.Size()) {
		return nil, bad("partition entry LBA", "%d: the entries (%d of %d bytes) are not on the disk (%d bytes)", h.entriesLBA, h.numEntries, h.entrySize, d.Size())
	}
	if h.firstUsable > h.lastUsable {
		return nil, bad("usable LBAs", "first %d is after last %d", h.firstUsable, h.lastUsable)
	}
	return h, nil
}

// readGPTEntries reads and checks the partition entries h points at.
func readGPTEntries(d disk.Device, h *gptHeader, ss int64) (*Table, error) {
	buf := make([]byte, int(h.numEntries)*int(h.entrySize)) // bounded by maxEntryBytes and the disk
	if err := disk.ReadFull(d, buf, int64(h.entriesLBA)*ss); err != nil {
		return nil, &Error{Kind: "gpt", Field: "partition entries", Err: err}
	}
	if got := crc32.ChecksumIEEE(buf); got != h.entryCRC {
		return nil, &Error{Kind: "gpt", Field: "partition entries CRC32", Err: fmt.Errorf("is %#08x, the entries give %#08x", h.entryCRC, got)}
	}
	t := &Table{Kind: "gpt", DiskID: h.diskGUID, SectorSize: int(ss)}
	le := binary.LittleEndian
	for i := range int(h.numEntries) {
		e := buf[i*int(h.entrySize):][:gptEntryMin]
		typ := guid(e[0:16])
		if typ == typeUnusedGUID {
			continue
		}
		first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
		if first > last || last >= uint64(math.MaxInt64)/uint64(ss) {
			return nil, &Error{Kind: "gpt", Field: fmt.Sprintf("partition entry %d", i+1), Err: fmt.Errorf("LBAs %d to %d", first, last)}
		}
		p := Partition{
			Number:   i + 1,
			Start:    int64(first) * ss,
			Size:     int64(last-first+1) * ss,
			Type:     typ,
			TypeName: gptTypes[typ],
			UUID:     guid(e[16:32]),
			Bootable: le.Uint64(e[48:])&(1<<2) != 0,
			Name:     utf16Name(e[56:128]),
		}
		if p.Start+p.Size > d.Size() {
			t.Warnings = append(t.Warnings, fmt.Sprintf("partition %d runs past the end of the disk; it is cut there", p.Number))
		}
		t.Partitions = append(t.Partitions, p)
	}
	return t, nil
}

// guid formats a GUID stored in GPT's mixed-endian layout, upper case.
func guid(b []byte) string {
	le := binary.LittleEndian
	return strings.ToUpper(fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b[0:]), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16]))
}

// utf16Name decodes a GPT partition name (UTF-16LE, NUL-terminated).
func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// gptTypes names the common GPT partition types, as util-linux does.
var gptTypes = map[string]string{
	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
	"21686148-6449-6E6F-744E-656564454649": "BIOS boot",
	"0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux filesystem",
	"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
	"E6D6D379-F507-44C2-A23C-238F2A3DF928": "Linux LVM",
	"A19D880F-05FC-4D3B-A006-743F0F84911E": "Linux RAID",
	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": "Linux root (x86-64)",
	"44479540-F297-41B2-9AF7-D131D5F0458A": "Linux root (x86)",
	"B921B045-1DF0-41C3-AF44-4C6F280D3FAE": "Linux root (ARM-64)",
	"933AC7E1-2EB4-4F13-B844-0E14E2AEF915": "Linux home",
	"BC13C2FF-59E6-4262-A352-B275FD6F7172": "Linux extended boot",
	"CA7D7CCB-63ED-4C53-861C-1742536059CC": "Linux LUKS",
	"8DA63339-0007-60C0-C436-083AC8230908": "Linux reserved",
	"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
	"E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft reserved",
	"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC": "Windows recovery environment",
	"48465300-0000-11AA-AA11-00306543ECAC": "Apple HFS/HFS+",
	"6A898CC3-1DD2-11B2-99A6-080020736631": "Solaris /usr & Apple ZFS",
}
