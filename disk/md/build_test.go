package md_test

import (
	"encoding/binary"
	"os"
	"testing"
)

// Superblocks written from the documented layout (md_p.h; md(4)): the
// container has no md driver, so mdadm --create cannot make arrays here.
// mdadm --examine checks what these write (TestExamine).

// sb describes one member's superblock.
type sb struct {
	version    string // "0.90", "1.0", "1.1", "1.2"
	uuid       [4]uint32
	name       string // 1.x
	minor      int    // 0.90
	level      int32
	chunk      uint32 // bytes
	raidDisks  int
	role       int // -1: spare
	events     uint64
	devSize    int64 // bytes
	dataOffset int64 // bytes (1.x)
	dataSize   int64 // bytes
}

// csum folds the sum of 32-bit words (and a trailing 16-bit one).
func csum(b []byte) uint32 {
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

// write writes the superblock into the image file img (of s.devSize
// bytes).
func (s sb) write(t testing.TB, img string) {
	t.Helper()
	b, off := s.bytes()
	f, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// bytes returns the superblock and its offset on the device.
func (s sb) bytes() ([]byte, int64) {
	le := binary.LittleEndian
	var b []byte
	var off int64
	if s.version == "0.90" {
		b = make([]byte, 4096)
		w := func(i int, v uint32) { le.PutUint32(b[4*i:], v) }
		w(0, 0xa92b4efc)
		w(1, 0)
		w(2, 90)
		w(5, s.uuid[0])
		w(7, uint32(s.level))
		w(8, uint32(s.dataSize/1024))
		w(9, uint32(s.raidDisks))
		w(10, uint32(s.raidDisks))
		w(11, uint32(s.minor))
		w(13, s.uuid[1])
		w(14, s.uuid[2])
		w(15, s.uuid[3])
		w(32+1, 1) // state: clean
		w(32+2, uint32(s.raidDisks))
		w(32+3, uint32(s.raidDisks))
		w(32+7, uint32(s.events))
		w(32+8, uint32(s.events>>32))
		w(64+1, s.chunk)
		for i := range s.raidDisks { // disks[i]: number, major, minor, raid_disk, state
			w(128+32*i, uint32(i))
			w(128+32*i+3, uint32(i))
			w(128+32*i+4, 6) // active, sync
		}
		copy(b[4*992:4*992+128], b[4*(128+32*max(s.role, 0)):])
		le.PutUint32(b[152:], csum(b))
		off = s.devSize&^(64<<10-1) - 64<<10
	} else {
		const maxDev = 8
		b = make([]byte, 256+2*maxDev)
		le.PutUint32(b[0:], 0xa92b4efc)
		le.PutUint32(b[4:], 1)
		for i, u := range s.uuid {
			binary.BigEndian.PutUint32(b[16+4*i:], u)
		}
		copy(b[32:64], s.name)
		le.PutUint32(b[72:], uint32(s.level))
		le.PutUint64(b[80:], uint64(s.dataSize/512))
		le.PutUint32(b[88:], s.chunk/512)
		le.PutUint32(b[92:], uint32(s.raidDisks))
		le.PutUint64(b[128:], uint64(s.dataOffset/512))
		le.PutUint64(b[136:], uint64(s.dataSize/512))
		switch s.version {
		case "1.0":
			off = (s.devSize - 8192) &^ 4095
		case "1.1":
			off = 0
		case "1.2":
			off = 4096
		}
		le.PutUint64(b[144:], uint64(off/512))
		le.PutUint64(b[208:], ^uint64(0)) // resync_offset: clean
		le.PutUint32(b[160:], uint32(max(s.role, 0)))
		copy(b[168:184], "member-uuid-0000")
		b[168] = byte(s.role)
		le.PutUint64(b[200:], s.events)
		le.PutUint32(b[220:], maxDev)
		for i := range maxDev {
			r := uint16(0xffff)
			if i < s.raidDisks {
				r = uint16(i)
			}
			le.PutUint16(b[256+2*i:], r)
		}
		if s.role < 0 {
			le.PutUint16(b[256:], 0xffff)
		}
		le.PutUint32(b[216:], csum(b))
	}
	return b, off
}
