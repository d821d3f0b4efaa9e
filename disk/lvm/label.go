package lvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/gokernel/gokernel/disk"
)

// The on-disk layout of an LVM2 physical volume (lvm2's
// lib/format_text/layout.h and lib/label/label.h):
//
//   - a 512-byte label in one of sectors 0–3: label_header ("LABELONE",
//     its own sector number, a CRC of the rest of the sector, the offset
//     of the PV header, "LVM2 001"), then the pv_header: the PV's UUID (32
//     characters, no dashes), the device size, a zero-terminated list of
//     data areas and one of metadata areas (disk_locn: offset, size);
//   - each metadata area starts with a 512-byte mda_header (CRC, magic,
//     version 1, the area's start and size, then raw_locn entries:
//     offset, size, CRC, flags). raw_locn[0] is the committed metadata
//     text, at offset bytes into the area; the rest of the area after
//     the header is a circular buffer, so the text may wrap around to
//     just after the header.
const (
	labelSize       = 512
	labelScan       = 4 // sectors searched for the label
	labelID         = "LABELONE"
	labelType       = "LVM2 001"
	mdaHeaderSize   = 512
	mdaMagic        = " LVM2 x[5A%r0N*>"
	idLen           = 32
	rawLocnIgnored  = 1        // raw_locn flag: the area is ignored (pvchange --metadataignore)
	maxMetadataText = 16 << 20 // more than any real VG's metadata (LVM writes ~1 KiB per LV)
	maxAreas        = 16       // data and metadata areas in a PV header (LVM writes 1 + ≤2)
)

// initialCRC is the seed of LVM's checksums (lvm2's lib/misc/crc.h).
const initialCRC = 0xf597a6cf

// lvmCRC is LVM's checksum (lvm2's calc_crc): the reflected CRC-32 of
// IEEE 802.3, but seeded with initialCRC and without the final inversion,
// so it is hash/crc32's with the seed and the result inverted.
func lvmCRC(p ...[]byte) uint32 {
	crc := ^uint32(initialCRC)
	for _, b := range p {
		crc = crc32.Update(crc, crc32.IEEETable, b)
	}
	return ^crc
}

// ErrNoPV is the error of ReadPV for a device without an LVM2 label.
var ErrNoPV = errors.New("lvm: no LVM2 physical volume label")

// A PV is an LVM2 physical volume found on a device, with the metadata
// its metadata areas hold.
type PV struct {
	// UUID is the PV's UUID in LVM's dashed form (pvs -o pv_uuid).
	UUID string
	// Device is the device the PV was found on.
	Device disk.Device
	// Size is the device size the PV header records, in bytes.
	Size int64
	// DataAreas and MetadataAreas are the areas the PV header lists.
	DataAreas, MetadataAreas []Area
	// Metadata are the metadata copies read from the metadata areas, in
	// the areas' order; a copy that could not be read has its Err set.
	Metadata []Metadata
}

// An Area is a range of a PV, in bytes from the device's start; a data
// area's Size 0 means "to the end of the device".
type Area struct{ Offset, Size int64 }

// Metadata is one copy of a VG's metadata text, from one metadata area.
type Metadata struct {
	Area   Area   // the metadata area it was read from
	VGName string // the name of the VG it describes, from the text
	Seqno  int64  // the VG's sequence number: the highest is the newest
	Text   []byte // the text, checksum verified
	Err    error  // why this copy is unusable, if it is
}

// ReadPV looks for an LVM2 label in the first four sectors of d and reads
// the PV header and the metadata of each metadata area. A device without
// a label is ErrNoPV; a label that is there but damaged is another error.
// A metadata area that cannot be read is reported in its Metadata's Err,
// not as ReadPV's error: the VG may have a good copy elsewhere.
func ReadPV(d disk.Device) (*PV, error) {
	head := make([]byte, labelScan*labelSize)
	n, err := d.ReadAt(head, 0)
	if n < len(head) && err != nil && err != io.EOF {
		return nil, fmt.Errorf("lvm: reading the label sectors: %w", err)
	}
	head = head[:n]
	for s := 0; s+labelSize <= len(head); s += labelSize {
		sec := head[s : s+labelSize]
		if string(sec[:8]) != labelID {
			continue
		}
		return readLabel(d, sec, int64(s/labelSize))
	}
	return nil, ErrNoPV
}

// readLabel reads the label in sector sec (number n) and what it points at.
func readLabel(d disk.Device, sec []byte, n int64) (*PV, error) {
	le := binary.LittleEndian
	bad := func(format string, args ...any) error {
		return fmt.Errorf("lvm: label in sector %d: %s", n, fmt.Sprintf(format, args...))
	}
	if got := le.Uint64(sec[8:]); got != uint64(n) {
		return nil, bad("it says it is in sector %d", got)
	}
	if want, got := le.Uint32(sec[16:]), lvmCRC(sec[20:]); want != got {
		return nil, bad("checksum is %#08x, the sector gives %#08x", want, got)
	}
	if string(sec[24:32]) != labelType {
		return nil, bad("type %q, want %q", sec[24:32], labelType)
	}
	off := le.Uint32(sec[20:])
	if off < 32 || off > labelSize-idLen-8 {
		return nil, bad("PV header offset %d is outside the sector", off)
	}
	h := sec[off:]
	pv := &PV{UUID: dashed(h[:idLen]), Device: d, Size: int64(le.Uint64(h[idLen:]))}
	if pv.Size < 0 {
		return nil, bad("device size %d", le.Uint64(h[idLen:]))
	}
	// Two zero-terminated lists of (offset, size), data areas first.
	rest := h[idLen+8:]
	var lists [2][]Area
	for l := range lists {
		for {
			if len(rest) < 16 {
				return nil, bad("area lists run past the end of the sector")
			}
			a := Area{int64(le.Uint64(rest)), int64(le.Uint64(rest[8:]))}
			rest = rest[16:]
			if a.Offset == 0 && a.Size == 0 {
				break
			}
			if a.Offset < 0 || a.Size < 0 || len(lists[l]) == maxAreas {
				return nil, bad("area list %d: bad entry %+v", l, a)
			}
			lists[l] = append(lists[l], a)
		}
	}
	pv.DataAreas, pv.MetadataAreas = lists[0], lists[1]
	for _, a := range pv.MetadataAreas {
		pv.Metadata = append(pv.Metadata, readMetadata(d, a))
	}
	return pv, nil
}

// readMetadata reads the committed metadata text of the metadata area a.
func readMetadata(d disk.Device, a Area) Metadata {
	m := Metadata{Area: a}
	fail := func(format string, args ...any) Metadata {
		m.Err = fmt.Errorf("lvm: metadata area at %d: %s", a.Offset, fmt.Sprintf(format, args...))
		return m
	}
	if a.Size < 2*mdaHeaderSize || a.Offset > d.Size() || a.Size > d.Size()-a.Offset {
		return fail("%d bytes is not a metadata area on a device of %d bytes", a.Size, d.Size())
	}
	hdr := make([]byte, mdaHeaderSize)
	if err := disk.ReadFull(d, hdr, a.Offset); err != nil {
		return fail("reading its header: %v", err)
	}
	le := binary.LittleEndian
	if want, got := le.Uint32(hdr), lvmCRC(hdr[4:]); want != got {
		return fail("header checksum is %#08x, the header gives %#08x", want, got)
	}
	if string(hdr[4:20]) != mdaMagic {
		return fail("no metadata area magic")
	}
	if v := le.Uint32(hdr[20:]); v != 1 {
		return fail("version %d, want 1", v)
	}
	if start, size := int64(le.Uint64(hdr[24:])), int64(le.Uint64(hdr[32:])); start != a.Offset || size != a.Size {
		return fail("header says it is %d bytes at %d, the PV header %d at %d", size, start, a.Size, a.Offset)
	}
	loc := hdr[40:]
	off, size, sum, flags := int64(le.Uint64(loc)), int64(le.Uint64(loc[8:])), le.Uint32(loc[16:]), le.Uint32(loc[20:])
	switch {
	case off == 0 && size == 0:
		m.Err = errNoVG
		return m
	case flags&rawLocnIgnored != 0:
		return fail("marked ignored (pvchange --metadataignore)")
	case off < mdaHeaderSize || off >= a.Size || size <= 0 || size > a.Size-mdaHeaderSize:
		return fail("metadata of %d bytes at %d does not fit the area", size, off)
	case size > maxMetadataText:
		return fail("metadata of %d bytes is more than gokernel reads (%d)", size, maxMetadataText)
	}
	text := make([]byte, size) // bounded by the area, which is on the device
	first := min(size, a.Size-off)
	if err := disk.ReadFull(d, text[:first], a.Offset+off); err != nil {
		return fail("reading its text: %v", err)
	}
	if first < size { // wrapped around to just after the header
		if err := disk.ReadFull(d, text[first:], a.Offset+mdaHeaderSize); err != nil {
			return fail("reading its text: %v", err)
		}
	}
	if got := lvmCRC(text); got != sum {
		return fail("metadata checksum is %#08x, the text gives %#08x (damaged metadata; pvck --dump metadata_all lists older copies, vgcfgrestore writes one back)", sum, got)
	}
	name, seqno, err := peekVG(text)
	if err != nil {
		return fail("%v", err)
	}
	m.Text, m.VGName, m.Seqno = text, name, seqno
	return m
}

// peekVG parses text just enough to name its VG and seqno.
func peekVG(text []byte) (string, int64, error) {
	root, err := parseConfig(text)
	if err != nil {
		return "", 0, err
	}
	vg, err := vgSection(root)
	if err != nil {
		return "", 0, err
	}
	seqno, err := vg.int("seqno")
	return vg.name, seqno, err
}

// dashed writes a 32-character LVM UUID in its 6-4-4-4-4-4-6 dashed form.
func dashed(id []byte) string {
	var b []byte
	for i, c := range id {
		if i == 6 || i == 10 || i == 14 || i == 18 || i == 22 || i == 26 {
			b = append(b, '-')
		}
		b = append(b, c)
	}
	return string(b)
}

// errNoVG is the Metadata.Err of a metadata area that holds no metadata:
// the PV belongs to no VG yet.
var errNoVG = errors.New("lvm: no metadata (the PV belongs to no VG)")
