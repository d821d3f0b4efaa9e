package md

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/gokernel/gokernel/disk"
)

// The superblock layouts are those of the Linux kernel's
// include/uapi/linux/raid/md_p.h (mdp_super_t for 0.90, struct
// mdp_superblock_1 for 1.x) and mdadm's md(4) man page; all fields are
// little-endian (0.90's are host-endian: little on the machines LKL runs
// on).
const (
	magic = 0xa92b4efc

	sb090Size  = 4096
	sb090Align = 64 << 10 // 0.90 sits in the last 64 KiB-aligned 64 KiB

	sb1Head     = 256 // the fixed part of a 1.x superblock; dev_roles follow
	sb1MaxDev   = 384 // dev_roles entries a 1.x superblock may hold (its 1 KiB)
	sb1Size     = sb1Head + 2*sb1MaxDev
	roleSpare   = 0xffff
	roleFaulty  = 0xfffe
	roleJournal = 0xfffd

	// 1.x feature_map bits that change how the data is laid out or which
	// members hold it.
	featRecoveryOffset = 0x2 // the member is partly rebuilt
	featReshapeActive  = 0x4 // a reshape is under way
)

// ErrNoSuperblock is the error of ReadMember for a device that holds no
// MD superblock.
var ErrNoSuperblock = errors.New("md: no MD superblock")

// A Member is a device that holds an MD superblock.
type Member struct {
	// Device is the member device.
	Device disk.Device
	// Version is the metadata version: "0.90", "1.0", "1.1" or "1.2".
	Version string
	// UUID is the array's UUID, as mdadm prints it
	// ("8 hex:8 hex:8 hex:8 hex").
	UUID string
	// Name is the array's name (1.x: "host:name"; 0.90 has none, and
	// Minor names it md<Minor>).
	Name  string
	Minor int // 0.90's preferred minor (md0 is 0); -1 for 1.x
	// Level is the RAID level: -1 linear, 0, 1, 4, 5, 6, 10.
	Level  int
	Layout int
	// Chunk is the chunk size in bytes (raid0, 4, 5, 6, 10).
	Chunk int64
	// RaidDisks is the number of members the array is made of.
	RaidDisks int
	// Role is this member's slot (0 … RaidDisks-1), or -1 for a spare,
	// a faulty or a journal device.
	Role int
	// Events is the superblock's update count: members with fewer than
	// the newest are stale.
	Events uint64
	// DataOffset and DataSize are the member's data area, in bytes.
	DataOffset, DataSize int64
	// InSync is false for a member that is partly rebuilt or marked
	// faulty.
	InSync bool
	// Features is the 1.x feature map (0 for 0.90).
	Features uint32
}

// ReadMember looks for an MD superblock on d: 1.1 at its start, 1.2 at
// 4 KiB, 1.0 and 0.90 near its end. A device with none is
// ErrNoSuperblock; a superblock with a bad checksum or impossible fields
// is an error naming the field.
func ReadMember(d disk.Device) (*Member, error) {
	size := d.Size()
	type place struct {
		version string
		off     int64
	}
	places := []place{{"1.1", 0}, {"1.2", 4096}}
	if size >= 8192 {
		places = append(places, place{"1.0", (size - 8192) &^ 4095})
	}
	if size >= sb090Align {
		places = append(places, place{"0.90", size&^(sb090Align-1) - sb090Align})
	}
	buf := make([]byte, sb090Size)
	for _, p := range places {
		n := sb1Size
		if p.version == "0.90" {
			n = sb090Size
		}
		if p.off+int64(n) > size {
			continue
		}
		b := buf[:n]
		if err := disk.ReadFull(d, b, p.off); err != nil {
			return nil, fmt.Errorf("md: reading a superblock at %d: %w", p.off, err)
		}
		le := binary.LittleEndian
		if le.Uint32(b) != magic {
			continue
		}
		major := le.Uint32(b[4:])
		if p.version == "0.90" {
			if major != 0 {
				continue
			}
			return read090(d, b)
		}
		if major != 1 {
			continue
		}
		if so := int64(le.Uint64(b[144:])); so*512 != p.off {
			// A 1.x superblock says where it is; one found elsewhere is
			// a stale copy or data that happens to look like one.
			continue
		}
		return read1(d, b, p.version)
	}
	return nil, ErrNoSuperblock
}

// bad is a malformed-superblock error naming the field.
func bad(version, field, format string, args ...any) error {
	return fmt.Errorf("md: %s superblock: %s: %s", version, field, fmt.Sprintf(format, args...))
}

// read1 reads a 1.x superblock.
func read1(d disk.Device, b []byte, version string) (*Member, error) {
	le := binary.LittleEndian
	maxDev := le.Uint32(b[220:])
	if maxDev > sb1MaxDev {
		return nil, bad(version, "max_dev", "%d, more than a superblock holds (%d)", maxDev, sb1MaxDev)
	}
	sum := b[:sb1Head+2*maxDev]
	if want, got := le.Uint32(b[216:]), csum1(sum); want != got {
		return nil, bad(version, "sb_csum", "is %#08x, the superblock gives %#08x", want, got)
	}
	m := &Member{
		Device:     d,
		Version:    version,
		UUID:       uuid(b[16:32]),
		Name:       cString(b[32:64]),
		Minor:      -1,
		Level:      int(int32(le.Uint32(b[72:]))),
		Layout:     int(le.Uint32(b[76:])),
		Chunk:      int64(le.Uint32(b[88:])) * 512,
		RaidDisks:  int(le.Uint32(b[92:])),
		Events:     le.Uint64(b[200:]),
		DataOffset: int64(le.Uint64(b[128:])) * 512,
		DataSize:   int64(le.Uint64(b[136:])) * 512,
		Features:   le.Uint32(b[8:]),
	}
	devNumber := le.Uint32(b[160:])
	m.Role = -1
	if devNumber < maxDev {
		if r := le.Uint16(b[sb1Head+2*devNumber:]); r < roleJournal {
			m.Role = int(r)
		}
	}
	m.InSync = m.Role >= 0 && m.Features&featRecoveryOffset == 0
	if err := m.check(d); err != nil {
		return nil, err
	}
	return m, nil
}

// csum1 is the 1.x superblock checksum (the kernel's calc_sb_1_csum): the
// sum of its little-endian 32-bit words, sb_csum taken as zero, folded
// to 32 bits.
func csum1(b []byte) uint32 {
	var sum uint64
	le := binary.LittleEndian
	i := 0
	for ; i+4 <= len(b); i += 4 {
		if i != 216 {
			sum += uint64(le.Uint32(b[i:]))
		}
	}
	if i+2 <= len(b) {
		sum += uint64(le.Uint16(b[i:]))
	}
	return uint32(sum&0xffffffff + sum>>32)
}

// read090 reads a 0.90 superblock.
func read090(d disk.Device, b []byte) (*Member, error) {
	le := binary.LittleEndian
	if want, got := le.Uint32(b[152:]), csum090(b); want != got {
		return nil, bad("0.90", "sb_csum", "is %#08x, the superblock gives %#08x", want, got)
	}
	w := func(i int) uint32 { return le.Uint32(b[4*i:]) }
	m := &Member{
		Device:    d,
		Version:   "0.90",
		UUID:      fmt.Sprintf("%08x:%08x:%08x:%08x", w(5), w(13), w(14), w(15)),
		Minor:     int(w(11)),
		Level:     int(int32(w(7))),
		RaidDisks: int(w(10)),
		Events:    uint64(w(40))<<32 | uint64(w(39)), // events_lo, events_hi on little-endian
		Layout:    int(w(64)),
		Chunk:     int64(w(65)),
		DataSize:  int64(w(8)) * 1024,
	}
	// this_disk: the descriptor at word 992 (number, major, minor,
	// raid_disk, state).
	raidDisk, state := w(992+3), w(992+4)
	const faulty, active, sync = 1 << 0, 1 << 1, 1 << 2
	m.Role = -1
	if state&faulty == 0 && state&sync != 0 {
		m.Role = int(raidDisk)
	}
	m.InSync = m.Role >= 0 && state&active != 0
	if m.Level == -1 || m.Level == 0 {
		// linear and raid0 record no size of their own in 0.90: the
		// member's data is the device up to the superblock.
		m.DataSize = d.Size()&^(sb090Align-1) - sb090Align
	}
	if err := m.check(d); err != nil {
		return nil, err
	}
	return m, nil
}

// csum090 is the 0.90 checksum (the kernel's calc_sb_csum): the sum of
// the superblock's 1024 words, sb_csum taken as zero, folded to 32 bits.
func csum090(b []byte) uint32 {
	var sum uint64
	le := binary.LittleEndian
	for i := 0; i < sb090Size; i += 4 {
		if i != 152 {
			sum += uint64(le.Uint32(b[i:]))
		}
	}
	return uint32(sum&0xffffffff + sum>>32)
}

// check checks the fields the layout depends on against the device.
func (m *Member) check(d disk.Device) error {
	switch {
	case m.RaidDisks <= 0 || m.RaidDisks > sb1MaxDev:
		return bad(m.Version, "raid_disks", "%d", m.RaidDisks)
	case m.Role >= m.RaidDisks:
		return bad(m.Version, "role", "slot %d of an array of %d", m.Role, m.RaidDisks)
	case m.DataOffset < 0 || m.DataSize < 0 || m.DataOffset > d.Size() || m.DataSize > d.Size()-m.DataOffset:
		return bad(m.Version, "data area", "%d bytes at %d on a device of %d", m.DataSize, m.DataOffset, d.Size())
	case m.Chunk < 0 || m.Chunk > 1<<30 || (m.Level == 0 || m.Level >= 4) && (m.Chunk < 512 || m.Chunk%512 != 0):
		return bad(m.Version, "chunk size", "%d bytes", m.Chunk)
	}
	return nil
}

func uuid(b []byte) string {
	return fmt.Sprintf("%x:%x:%x:%x", b[0:4], b[4:8], b[8:12], b[12:16])
}

func cString(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}
