package part

import (
	"encoding/binary"
	"fmt"

	"github.com/gokernel/gokernel/disk"
)

// maxLogical bounds the chain of extended boot records (Linux's
// DOS_EXTENDED_PARTITION reader stops at disk_max_parts too).
const maxLogical = 128

// readMBR reads the four primary partitions of the MBR in sector 0 and
// the logical partitions of an extended one.
func readMBR(d disk.Device, mbr []byte) (*Table, error) {
	sig := binary.LittleEndian.Uint32(mbr[440:])
	t := &Table{Kind: "mbr", DiskID: fmt.Sprintf("0x%08x", sig), SectorSize: 512}
	var ext *mbrEntry
	for i := range 4 {
		e := parseEntry(mbr, i)
		if e.typ == 0 || e.size == 0 {
			continue
		}
		t.add(d, i+1, 0, e)
		if isExtended(e.typ) && ext == nil {
			ext = &e
		}
	}
	if ext != nil {
		if err := t.readLogical(d, int64(ext.start)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// mbrEntry is one 16-byte MBR partition entry.
type mbrEntry struct {
	boot        bool
	typ         byte
	start, size uint32 // in sectors, relative to the record's base
}

func parseEntry(rec []byte, i int) mbrEntry {
	e := rec[446+16*i:][:16]
	return mbrEntry{boot: e[0] == 0x80, typ: e[4], start: binary.LittleEndian.Uint32(e[8:]), size: binary.LittleEndian.Uint32(e[12:])}
}

func isExtended(typ byte) bool { return typ == 0x05 || typ == 0x0f || typ == 0x85 }

// add appends partition n of type e at base+e.start sectors.
func (t *Table) add(d disk.Device, n int, base int64, e mbrEntry) {
	p := Partition{
		Number:   n,
		Start:    (base + int64(e.start)) * 512,
		Size:     int64(e.size) * 512,
		Type:     fmt.Sprintf("0x%x", e.typ),
		TypeName: mbrTypes[e.typ],
		UUID:     fmt.Sprintf("%s-%02x", t.DiskID[2:], n),
		Bootable: e.boot,
	}
	if p.Start+p.Size > d.Size() {
		t.Warnings = append(t.Warnings, fmt.Sprintf("partition %d runs past the end of the disk; it is cut there", n))
	}
	t.Partitions = append(t.Partitions, p)
}

// readLogical follows the chain of extended boot records that starts at
// sector extStart: each holds one logical partition (relative to itself)
// and a link to the next record (relative to extStart).
func (t *Table) readLogical(d disk.Device, extStart int64) error {
	rec := make([]byte, 512)
	seen := map[int64]bool{}
	for at, n := extStart, 5; ; n++ {
		if len(seen) >= maxLogical {
			t.Warnings = append(t.Warnings, fmt.Sprintf("more than %d extended boot records: the rest are ignored", maxLogical))
			return nil
		}
		if seen[at] {
			t.Warnings = append(t.Warnings, fmt.Sprintf("the chain of extended boot records loops at sector %d", at))
			return nil
		}
		seen[at] = true
		if err := disk.ReadFull(d, rec, at*512); err != nil {
			return &Error{Kind: "mbr", Field: fmt.Sprintf("extended boot record at sector %d", at), Err: err}
		}
		if rec[510] != 0x55 || rec[511] != 0xaa {
			t.Warnings = append(t.Warnings, fmt.Sprintf("extended boot record at sector %d has no 0x55aa signature; the chain ends there", at))
			return nil
		}
		if e := parseEntry(rec, 0); e.typ != 0 && e.size != 0 && !isExtended(e.typ) {
			t.add(d, n, at, e)
		} else {
			n-- // Linux numbers only the logical partitions there are
		}
		next := parseEntry(rec, 1)
		if !isExtended(next.typ) || next.start == 0 {
			return nil
		}
		at = extStart + int64(next.start)
	}
}

// mbrTypes names the common MBR partition types, as util-linux does.
var mbrTypes = map[byte]string{
	0x01: "FAT12", 0x04: "FAT16 <32M", 0x05: "Extended", 0x06: "FAT16",
	0x07: "HPFS/NTFS/exFAT", 0x0b: "W95 FAT32", 0x0c: "W95 FAT32 (LBA)",
	0x0e: "W95 FAT16 (LBA)", 0x0f: "W95 Ext'd (LBA)", 0x82: "Linux swap / Solaris",
	0x83: "Linux", 0x85: "Linux extended", 0x8e: "Linux LVM", 0xee: "GPT",
	0xef: "EFI (FAT-12/16/32)", 0xfd: "Linux raid autodetect",
}
