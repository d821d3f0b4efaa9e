// Package imagemut mutates file system images for the hostile-image
// campaign (issue #20, gkbench imagefuzz): given a valid ext4, xfs, btrfs
// or vfat image and a seed it plans a few deterministic edits of the
// image's metadata — bit flips anywhere in a metadata structure, and
// structure-aware edits of its fields (superblocks, group descriptors,
// inodes, directory blocks, extent trees, xfs AG headers, btrfs tree
// nodes, FAT boot sectors, FATs and directory entries), refreshing the
// structure's checksum or not, so that both the checksum check and what
// lies behind it are exercised.
//
// Locate finds the structures by parsing the image's own headers; the
// file system's type comes from disk/fsprobe. It is bounded: every
// structure is at most MaxRegion bytes, their number is capped, and an
// offset the image gives is used only if it lies inside the image, so a
// garbage image costs a few small reads and an error, never a panic or
// an allocation the image asks for.
//
// imagemut imports disk only; it needs no kernel.
package imagemut

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/fsprobe"
)

// MaxRegion is the largest structure Locate reports, in bytes.
const MaxRegion = 64 << 10

// Caps on how many structures of one kind Locate reports.
const (
	maxGroups  = 32 // ext4 group descriptors, xfs AGs
	maxInodes  = 64 // inodes per file system
	maxDirs    = 16 // directory blocks
	maxNodes   = 64 // btrfs tree nodes
	maxEntries = 16 // directory entries or items described per block
)

// FSTypes are the file systems Locate understands.
var FSTypes = []string{"ext4", "xfs", "btrfs", "vfat"}

// A Field is a field of a structure: Width bytes at Off from the
// structure's start, big-endian when BE.
type Field struct {
	Name  string
	Off   int
	Width int // 1, 2, 4 or 8
	BE    bool
}

// Checksum styles of a Region.
const (
	csumNone   = iota
	csumExt4   // ext4 superblock: raw crc32c(~0) of the bytes before At, little-endian at At
	csumZeroed // xfs: crc32c of the whole structure with the 4 bytes at At zeroed
	csumBtrfs  // btrfs: crc32c of the bytes from 32 on, little-endian at 0
	// ext4 with metadata_csum: Linux's crc32c (no final inversion)
	// seeded with csumSeed, the file system's (ext4Seed).
	csumExt4GD    // a group descriptor: seed, group csumArg, the descriptor with bg_checksum zeroed; low 16 bits at 30
	csumExt4Inode // an inode: seed, inode number csumArg, i_generation, the inode with its checksums zeroed; split at 124 and 130
	csumExt4Tail  // a directory or extent block: the owner inode's seed (csumSeed) over the bytes before csumFrom, at csumAt
)

// A Region is one metadata structure in the image.
type Region struct {
	// Kind names the structure: "ext4-sb", "ext4-gd", "ext4-inode",
	// "ext4-dir", "ext4-extent", "xfs-sb", "xfs-agf", "xfs-agi",
	// "xfs-inode", "btrfs-sb", "btrfs-node", "vfat-boot", "vfat-fat",
	// "vfat-dir".
	Kind string
	Off  int64 // the structure's first byte in the image
	Len  int   // its size, at most MaxRegion
	// Fields are the fields a structure-aware mutation picks from.
	Fields   []Field
	csum     int // csum* style
	csumAt   int
	csumFrom int    // csumExt4Tail: the checksummed bytes' end
	csumSeed uint32 // the ext4 styles' seed
	csumArg  uint32 // csumExt4GD's group, csumExt4Inode's inode number
}

// A Layout is what Locate found on an image.
type Layout struct {
	FSType  string   // one of FSTypes
	Size    int64    // the image's size in bytes
	Regions []Region // the structures found, in the order found
}

// ErrUnsupported is Locate's error for an image whose file system it
// does not mutate (or on which fsprobe recognises nothing).
var ErrUnsupported = errors.New("imagemut: not an ext4, xfs, btrfs or vfat image")

// Locate finds the metadata structures of the file system on d.
func Locate(d disk.Device) (*Layout, error) {
	r, err := fsprobe.Probe(d)
	if errors.Is(err, fsprobe.ErrUnknown) {
		return nil, ErrUnsupported
	}
	if err != nil {
		return nil, err
	}
	l := &locator{d: d, size: d.Size(), out: &Layout{Size: d.Size()}}
	switch r.Type {
	case "ext2", "ext3", "ext4":
		l.out.FSType = "ext4"
		err = l.ext4()
	case "xfs":
		l.out.FSType = "xfs"
		err = l.xfs()
	case "btrfs":
		l.out.FSType = "btrfs"
		err = l.btrfs()
	case "vfat":
		l.out.FSType = "vfat"
		err = l.vfat()
	default:
		return nil, fmt.Errorf("%w (fsprobe: %q)", ErrUnsupported, r.Type)
	}
	if err != nil {
		return nil, err
	}
	if len(l.out.Regions) == 0 {
		return nil, fmt.Errorf("imagemut: %s: no metadata structure found", l.out.FSType)
	}
	return l.out, nil
}

// locator holds one Locate's state.
type locator struct {
	d    disk.Device
	size int64
	out  *Layout
	seen map[int64]bool
}

// read returns n bytes at off, or nil if they are not all inside the
// image or cannot be read (n is at most MaxRegion).
func (l *locator) read(off int64, n int) []byte {
	if off < 0 || n <= 0 || n > MaxRegion || off > l.size-int64(n) {
		return nil
	}
	b := make([]byte, n)
	if _, err := l.d.ReadAt(b, off); err != nil {
		return nil
	}
	return b
}

// add records a region if it lies inside the image and is new.
func (l *locator) add(r Region) bool {
	if r.Off < 0 || r.Len <= 0 || r.Len > MaxRegion || r.Off > l.size-int64(r.Len) {
		return false
	}
	if l.seen == nil {
		l.seen = map[int64]bool{}
	}
	if l.seen[r.Off] {
		return false
	}
	l.seen[r.Off] = true
	l.out.Regions = append(l.out.Regions, r)
	return true
}

// mulOff returns a*b as an offset, or -1 if it overflows or is negative.
func mulOff(a, b uint64) int64 {
	if a != 0 && b > (1<<62)/a {
		return -1
	}
	return int64(a * b)
}

var (
	le     = binary.LittleEndian
	be     = binary.BigEndian
	crc32c = crc32.MakeTable(crc32.Castagnoli)
)

// fields builds a field list from name, offset, width triples.
func fields(bigEndian bool, spec ...any) []Field {
	var fs []Field
	for i := 0; i+2 < len(spec); i += 3 {
		fs = append(fs, Field{Name: spec[i].(string), Off: spec[i+1].(int), Width: spec[i+2].(int), BE: bigEndian})
	}
	return fs
}

// An Edit is one planned change: Data written at Off.
type Edit struct {
	Off  int64
	Data []byte
	// What says what the edit does ("ext4-sb flip +1030", "xfs-inode
	// field di_size=0", "btrfs-node csum").
	What string
}

// Plan returns the edits of the mutation seed of the image on d whose
// layout is l: one to four mutations of its metadata, each followed, for
// a structure with a checksum, by the checksum's refresh three times in
// four. The same image, layout and seed give the same edits.
func Plan(d disk.Device, l *Layout, seed uint64) ([]Edit, error) {
	if len(l.Regions) == 0 {
		return nil, errors.New("imagemut: no regions to mutate")
	}
	rng := rand.New(rand.NewPCG(seed, 0x696d6167656d7574))
	// Pick the kind first, so that the few superblocks are not drowned
	// by many inodes.
	var kinds []string
	byKind := map[string][]int{}
	for i, r := range l.Regions {
		if byKind[r.Kind] == nil {
			kinds = append(kinds, r.Kind)
		}
		byKind[r.Kind] = append(byKind[r.Kind], i)
	}
	var edits []Edit
	bufs := map[int][]byte{}
	for range 1 + rng.IntN(4) {
		idxs := byKind[kinds[rng.IntN(len(kinds))]]
		ri := idxs[rng.IntN(len(idxs))]
		r := &l.Regions[ri]
		buf := bufs[ri]
		if buf == nil {
			buf = make([]byte, r.Len)
			if _, err := d.ReadAt(buf, r.Off); err != nil {
				return nil, fmt.Errorf("imagemut: read %s at %d: %w", r.Kind, r.Off, err)
			}
			bufs[ri] = buf
		}
		e := mutate(rng, r, buf)
		edits = append(edits, e)
		if r.csum != csumNone && rng.IntN(4) != 0 {
			for _, c := range checksum(r, buf) {
				edits = append(edits, Edit{Off: r.Off + int64(c.at), Data: c.data, What: r.Kind + " csum"})
			}
		}
	}
	return edits, nil
}

// mutate applies one random mutation to buf, region r's bytes, and
// returns it as an edit.
func mutate(rng *rand.Rand, r *Region, buf []byte) Edit {
	op := rng.IntN(3)
	if len(r.Fields) == 0 {
		op = 0
	}
	switch op {
	case 1, 2: // a field set to an interesting value
		f := r.Fields[rng.IntN(len(r.Fields))]
		if f.Off+f.Width > len(buf) {
			break
		}
		b := buf[f.Off : f.Off+f.Width]
		old := getUint(b, f.BE)
		v := interesting(rng, old, f.Width)
		putUint(b, v, f.BE)
		return Edit{Off: r.Off + int64(f.Off), Data: clone(b), What: fmt.Sprintf("%s field %s %#x->%#x", r.Kind, f.Name, old, v)}
	}
	// A bit flip or a random byte anywhere in the structure.
	i := rng.IntN(len(buf))
	if rng.IntN(2) == 0 {
		buf[i] ^= 1 << rng.IntN(8)
	} else {
		buf[i] ^= byte(1 + rng.IntN(255))
	}
	return Edit{Off: r.Off + int64(i), Data: []byte{buf[i]}, What: fmt.Sprintf("%s flip +%d", r.Kind, i)}
}

// interesting returns a value for a field of width bytes that held old.
func interesting(rng *rand.Rand, old uint64, width int) uint64 {
	mask := ^uint64(0) >> (64 - 8*width)
	var v uint64
	switch rng.IntN(9) {
	case 0:
		v = 0
	case 1:
		v = 1
	case 2:
		v = mask
	case 3:
		v = mask >> 1
	case 4:
		v = (mask >> 1) + 1
	case 5:
		v = old + 1
	case 6:
		v = old - 1
	case 7:
		v = old << (1 + rng.IntN(4))
	default:
		v = rng.Uint64()
	}
	v &= mask
	if v == old {
		v = old ^ 1<<rng.IntN(8*width)
	}
	return v
}

func getUint(b []byte, bigEndian bool) uint64 {
	var v uint64
	for i := range b {
		j := i
		if !bigEndian {
			j = len(b) - 1 - i
		}
		v = v<<8 | uint64(b[j])
	}
	return v
}

func putUint(b []byte, v uint64, bigEndian bool) {
	for i := range b {
		j := len(b) - 1 - i
		if !bigEndian {
			j = i
		}
		b[j] = byte(v)
		v >>= 8
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// A csumField is where a checksum goes in its structure and its bytes.
type csumField struct {
	at   int
	data []byte
}

// checksum computes region r's checksum over its bytes buf, stores it
// in buf and returns where it went.
func checksum(r *Region, buf []byte) []csumField {
	var out []csumField
	put := func(at int, data []byte) {
		copy(buf[at:], data)
		out = append(out, csumField{at, data})
	}
	switch r.csum {
	case csumExt4:
		put(r.csumAt, le.AppendUint32(nil, ^crc32.Checksum(buf[:r.csumAt], crc32c)))
	case csumZeroed:
		c := crc32.Update(0, crc32c, buf[:r.csumAt])
		c = crc32.Update(c, crc32c, []byte{0, 0, 0, 0})
		put(r.csumAt, le.AppendUint32(nil, crc32.Update(c, crc32c, buf[r.csumAt+4:])))
	case csumBtrfs:
		put(0, le.AppendUint32(nil, crc32.Checksum(buf[32:], crc32c)))
	case csumExt4GD:
		c := linuxCRC(r.csumSeed, le.AppendUint32(nil, r.csumArg))
		c = linuxCRC(c, buf[:30])
		c = linuxCRC(c, []byte{0, 0})
		c = linuxCRC(c, buf[32:])
		put(30, le.AppendUint16(nil, uint16(c)))
	case csumExt4Inode:
		c := linuxCRC(r.csumSeed, le.AppendUint32(nil, r.csumArg))
		c = linuxCRC(c, buf[100:104]) // i_generation
		hi := len(buf) > 128 && 128+int(le.Uint16(buf[128:])) >= 132
		z := bytes.Clone(buf)
		z[124], z[125] = 0, 0
		if hi {
			z[130], z[131] = 0, 0
		}
		c = linuxCRC(c, z)
		put(124, le.AppendUint16(nil, uint16(c)))
		if hi {
			put(130, le.AppendUint16(nil, uint16(c>>16)))
		}
	case csumExt4Tail:
		put(r.csumAt, le.AppendUint32(nil, linuxCRC(r.csumSeed, buf[:r.csumFrom])))
	}
	return out
}

// linuxCRC is Linux's crc32c(seed, p): Castagnoli without the final
// inversion hash/crc32 does.
func linuxCRC(seed uint32, p []byte) uint32 { return ^crc32.Update(^seed, crc32c, p) }

// Apply writes the edits to w (the copy of the image being mutated).
func Apply(w interface {
	WriteAt([]byte, int64) (int, error)
}, edits []Edit) error {
	for _, e := range edits {
		if _, err := w.WriteAt(e.Data, e.Off); err != nil {
			return fmt.Errorf("imagemut: write %s: %w", e.What, err)
		}
	}
	return nil
}
