package lkl

import (
	"bytes"
	"encoding/binary"
)

// detectSize is how much of a device detectFS needs: the iso9660 volume
// descriptor at 32 KiB and btrfs's superblock at 64 KiB.
const detectSize = 0x10040 + 8

// detectFS names the file system whose superblock starts the given bytes
// of a device, or returns "" if it knows none. It reads only magic numbers;
// the kernel checks the rest when it mounts.
func detectFS(b []byte) string {
	at := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case len(b) >= 1082 && binary.LittleEndian.Uint16(b[1080:]) == 0xEF53: // ext2/3/4 s_magic
		return "ext4"
	case at(0, "XFSB"):
		return "xfs"
	case at(0x10040, "_BHRfS_M"):
		return "btrfs"
	case at(0, "hsqs"): // squashfs, little-endian
		return "squashfs"
	case at(0x8001, "CD001"):
		return "iso9660"
	case len(b) >= 512 && b[510] == 0x55 && b[511] == 0xAA &&
		(bytes.HasPrefix(b[54:], []byte("FAT")) || bytes.HasPrefix(b[82:], []byte("FAT32"))):
		return "vfat"
	}
	return ""
}
