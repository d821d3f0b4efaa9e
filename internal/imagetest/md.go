package imagetest

import (
	"encoding/binary"
	"os"
	"testing"
)

// MD members. The container has no md driver, so mdadm --create cannot
// make arrays here: WriteMDSuperblock writes a member's superblock from
// the documented layout (the kernel's include/uapi/linux/raid/md_p.h,
// md(4)), which disk/md's tests check with mdadm --examine.

// An MDSuperblock describes one member's superblock.
type MDSuperblock struct {
	Version   string // "0.90", "1.0", "1.1" or "1.2"
	UUID      [16]byte
	Name      string // 1.x: "host:name"
	Minor     int    // 0.90: the preferred minor (md0 is 0)
	Level     int32  // -1 linear, 0, 1, 4, 5, 6, 10
	Chunk     uint32 // bytes; 0 means 64 KiB
	RaidDisks int
	Role      int // this member's slot
	Events    uint64
	// DataOffset and DataSize are the member's data area in bytes
	// (0.90 and 1.0 put the data at 0).
	DataOffset, DataSize int64
}

// WriteMDSuperblock writes s into the image file img.
func WriteMDSuperblock(t testing.TB, img string, s MDSuperblock) {
	t.Helper()
	fi, err := os.Stat(img)
	must(t, err)
	b, off := s.Bytes(fi.Size())
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = f.WriteAt(b, off)
	must(t, err)
}

// mdCsum folds the sum of 32-bit little-endian words (and a trailing
// 16-bit one), as the kernel's calc_sb_csum and calc_sb_1_csum do.
func mdCsum(b []byte) uint32 {
	var s uint64
	i := 0
	for ; i+4 <= len(b); i += 4 {
		s += uint64(binary.LittleEndian.Uint32(b[i:]))
	}
	if i+2 <= len(b) {
		s += uint64(binary.LittleEndian.Uint16(b[i:]))
	}
	return uint32(s&0xffffffff + s>>32)
}

// Bytes returns the superblock of a member of devSize bytes and its
// offset there.
func (s MDSuperblock) Bytes(devSize int64) ([]byte, int64) {
	le, be := binary.LittleEndian, binary.BigEndian
	chunk := s.Chunk
	if chunk == 0 {
		chunk = 64 << 10
	}
	if s.Version == "0.90" {
		b := make([]byte, 4096)
		w := func(i int, v uint32) { le.PutUint32(b[4*i:], v) }
		w(0, 0xa92b4efc)
		w(2, 90)
		w(5, be.Uint32(s.UUID[0:]))
		w(7, uint32(s.Level))
		w(8, uint32(s.DataSize/1024))
		w(9, uint32(s.RaidDisks))
		w(10, uint32(s.RaidDisks))
		w(11, uint32(s.Minor))
		w(13, be.Uint32(s.UUID[4:]))
		w(14, be.Uint32(s.UUID[8:]))
		w(15, be.Uint32(s.UUID[12:]))
		w(32+1, 1) // state: clean
		w(32+2, uint32(s.RaidDisks))
		w(32+3, uint32(s.RaidDisks))
		w(32+7, uint32(s.Events))
		w(32+8, uint32(s.Events>>32))
		w(64+1, chunk)
		for i := range s.RaidDisks { // disks[i]: number, major, minor, raid_disk, state
			w(128+32*i, uint32(i))
			w(128+32*i+3, uint32(i))
			w(128+32*i+4, 6) // active, sync
		}
		copy(b[4*992:4*992+128], b[4*(128+32*max(s.Role, 0)):])
		le.PutUint32(b[152:], mdCsum(b))
		return b, devSize&^(64<<10-1) - 64<<10
	}
	const maxDev = 8
	b := make([]byte, 256+2*maxDev)
	le.PutUint32(b[0:], 0xa92b4efc)
	le.PutUint32(b[4:], 1)
	copy(b[16:32], s.UUID[:])
	copy(b[32:64], s.Name)
	le.PutUint32(b[72:], uint32(s.Level))
	le.PutUint64(b[80:], uint64(s.DataSize/512))
	le.PutUint32(b[88:], chunk/512)
	le.PutUint32(b[92:], uint32(s.RaidDisks))
	le.PutUint64(b[128:], uint64(s.DataOffset/512))
	le.PutUint64(b[136:], uint64(s.DataSize/512))
	var off int64
	switch s.Version {
	case "1.0":
		off = (devSize - 8192) &^ 4095
	case "1.2":
		off = 4096
	}
	le.PutUint64(b[144:], uint64(off/512))
	le.PutUint64(b[208:], ^uint64(0)) // resync_offset: clean
	le.PutUint32(b[160:], uint32(max(s.Role, 0)))
	copy(b[168:184], "member-uuid-0000")
	b[168] = byte(s.Role)
	le.PutUint64(b[200:], s.Events)
	le.PutUint32(b[220:], maxDev)
	for i := range maxDev {
		r := uint16(0xffff)
		if i < s.RaidDisks {
			r = uint16(i)
		}
		le.PutUint16(b[256+2*i:], r)
	}
	if s.Role < 0 {
		le.PutUint16(b[256:], 0xffff)
	}
	le.PutUint32(b[216:], mdCsum(b))
	return b, off
}
