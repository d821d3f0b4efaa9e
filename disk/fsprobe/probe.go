package fsprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"

	"github.com/gokernel/gokernel/disk"
)

// Usage values, as blkid's USAGE names them.
const (
	UsageFilesystem = "filesystem" // a file system
	UsageCrypto     = "crypto"     // an encrypted volume (LUKS)
	UsageRAID       = "raid"       // a member of a volume: LVM PV, MD RAID
	UsageOther      = "other"      // swap
)

// A Result is what Probe found on a device. Its JSON form is part of
// demo info's --json output (docs/inspect.md) and keeps its keys.
type Result struct {
	// Type is blkid's TYPE: ext2, ext3, ext4, xfs, btrfs, vfat, exfat,
	// ntfs, f2fs, squashfs, iso9660, crypto_LUKS, swap, LVM2_member,
	// linux_raid_member; "" when the device holds only a partition table.
	Type string `json:"type,omitempty"`
	// Usage is blkid's USAGE (the Usage* constants); "" for a partition
	// table.
	Usage string `json:"usage,omitempty"`
	// Version is the format's version as blkid prints it: FAT12, FAT16 or
	// FAT32 for vfat, "2" for LUKS2, "1.2" for MD, "4.0" for squashfs;
	// "" when the format has none.
	Version string `json:"version,omitempty"`
	// Label and UUID are as blkid prints them ("" when there is none, or
	// for ntfs's label, which lives in the MFT and is not read).
	Label string `json:"label,omitempty"`
	UUID  string `json:"uuid,omitempty"`
	// Size is the bytes the file system or volume says it spans (0 when
	// the format does not say).
	Size int64 `json:"size,omitempty"`
	// BlockSize is the file system's allocation unit in bytes (block,
	// cluster), 0 when the format has none.
	BlockSize int `json:"block_size,omitempty"`
	// Features are the feature flags set, for ext2/3/4, xfs and btrfs,
	// in the superblock's order (compat, ro_compat, incompat,
	// log_incompat; lowest bit first).
	Features []Feature `json:"features,omitempty"`
	// PartitionTable is "gpt" or "dos" when the device starts with a
	// partition table (and Type is ""): disk/part reads it.
	PartitionTable string `json:"partition_table,omitempty"`
	// Check is the verdict for Linux 4.9 and gokernel's LKL build.
	Check Check `json:"check"`

	unmountable string // why Linux 4.9 cannot mount it, feature flags aside
}

// ErrUnknown is Probe's error for a device on which it recognises
// nothing: no file system, volume, swap or partition table it knows.
var ErrUnknown = errors.New("fsprobe: no file system, volume or partition table recognised")

// An Error is a read of the device that failed.
type Error struct {
	Off int64 // where the read was
	Err error
}

// Error says where the read was and why it failed.
func (e *Error) Error() string { return fmt.Sprintf("fsprobe: read at %d: %v", e.Off, e.Err) }

// Unwrap returns the device's error.
func (e *Error) Unwrap() error { return e.Err }

// headSize is how much of the device's start Probe reads: up to btrfs's
// superblock (64 KiB) and its 4 KiB.
const headSize = 0x11000

// maxExtra bounds each read Probe makes beyond the head (a FAT or exFAT
// root directory cluster, the end of the device for MD): whatever the
// superblock claims, no more is read or allocated.
const maxExtra = 64 << 10

// Probe identifies what d holds. It reads the first 68 KiB, at most one
// root directory cluster (the label of FAT and exFAT), and what disk/md
// and disk/lvm read to recognise an MD member (its superblock, at the
// start or near the end) or an LVM PV (its label, header and metadata
// areas). A device on which nothing is recognised returns ErrUnknown; a
// failed read of the first 68 KiB or of a root directory an *Error (a
// failed read of disk/md or disk/lvm is "not a member").
func Probe(d disk.Device) (*Result, error) {
	p := &prober{d: d, size: d.Size()}
	if p.size < 0 {
		return nil, fmt.Errorf("fsprobe: device size %d", p.size)
	}
	head, err := p.read(0, headSize)
	if err != nil {
		return nil, err
	}
	p.head = head
	r, err := p.probe()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrUnknown
	}
	r.Check = check(r)
	return r, nil
}

// prober holds what one Probe has read.
type prober struct {
	d    disk.Device
	size int64
	head []byte // the device's first headSize bytes, fewer if it is smaller
}

// read reads n bytes at off, fewer where the device ends; nothing past
// the end is an empty slice, not an error.
func (p *prober) read(off int64, n int) ([]byte, error) {
	if off < 0 || off >= p.size {
		return nil, nil
	}
	n = int(min(int64(n), p.size-off))
	b := make([]byte, n)
	k, err := p.d.ReadAt(b, off)
	if k == n {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, &Error{Off: off, Err: err}
}

// probe tries every format in blkid's spirit: volumes whose members may
// also look like a file system first (LUKS, LVM, MD), then file systems,
// then partition tables. A nil Result is "nothing".
func (p *prober) probe() (*Result, error) {
	for _, f := range []func() (*Result, error){
		p.luks, p.lvm, p.md, p.swap, p.squashfs, p.xfs, p.btrfs, p.ext,
		p.f2fs, p.iso9660, p.exfat, p.ntfs, p.fat, p.partitionTable,
	} {
		r, err := f()
		if r != nil || err != nil {
			return r, err
		}
	}
	return nil, nil
}

// at returns the head's bytes [off, off+n), or nil when the head is
// shorter.
func (p *prober) at(off, n int) []byte {
	if off < 0 || n < 0 || off+n > len(p.head) {
		return nil
	}
	return p.head[off : off+n]
}

// magic reports whether the head holds m at off.
func (p *prober) magic(off int, m string) bool {
	b := p.at(off, len(m))
	return b != nil && string(b) == m
}

var (
	le = binary.LittleEndian
	be = binary.BigEndian
)

// cstr is a NUL-padded string field, with trailing spaces trimmed.
func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), " ")
}

// utf16le decodes a NUL-terminated UTF-16LE field.
func utf16le(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := le.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.TrimRight(string(utf16.Decode(u)), " ")
}

// uuid formats 16 bytes the standard way (8-4-4-4-12 hex digits); all
// zeroes is no UUID.
func uuid(b []byte) string {
	if len(b) < 16 || allZero(b[:16]) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func isPow2(n uint64) bool { return n != 0 && n&(n-1) == 0 }

// mul multiplies two sizes read from a superblock, or returns 0 when the
// product does not fit an int64 (a size nobody's disk has).
func mul(a, b uint64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > (1<<63-1)/b {
		return 0
	}
	return int64(a * b)
}

// FormatSize prints a size in binary units, as lsblk does: "300 MiB",
// "32.5 GiB", "512 B".
func FormatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/1024, 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d %ciB", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %ciB", f, units[i])
}
