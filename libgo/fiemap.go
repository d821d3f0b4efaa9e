package libgo

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FIEMAP: where a file's data lies on its device, from the FS_IOC_FIEMAP
// ioctl(2) (Documentation/filesystems/fiemap.txt). golang.org/x/sys/unix
// has neither the request nor its structs, so they are defined here from
// include/uapi/linux/fiemap.h and fs.h; their layout is the same on the
// host and on LKL's generic ABI (fixed-size integers only).

// FS_IOC_FIEMAP is _IOWR('f', 11, struct fiemap) (include/uapi/linux/fs.h).
const FS_IOC_FIEMAP = 0xC020660B

// Flags of Fiemap's request and of FiemapExtent.Flags
// (include/uapi/linux/fiemap.h).
const (
	FIEMAP_FLAG_SYNC = 0x00000001 // sync the file before mapping it

	FIEMAP_EXTENT_LAST           = 0x00000001 // the last extent of the file
	FIEMAP_EXTENT_UNKNOWN        = 0x00000002 // the data's location is unknown
	FIEMAP_EXTENT_DELALLOC       = 0x00000004 // location still pending (implies UNKNOWN)
	FIEMAP_EXTENT_ENCODED        = 0x00000008 // data is not readable as it lies (compressed, …)
	FIEMAP_EXTENT_DATA_ENCRYPTED = 0x00000080 // data is encrypted
	FIEMAP_EXTENT_NOT_ALIGNED    = 0x00000100 // extent offsets may not be block aligned
	FIEMAP_EXTENT_DATA_INLINE    = 0x00000200 // data is in a metadata block
	FIEMAP_EXTENT_DATA_TAIL      = 0x00000400 // several files' data in one block
	FIEMAP_EXTENT_UNWRITTEN      = 0x00000800 // allocated but unwritten: reads as zeros
	FIEMAP_EXTENT_MERGED         = 0x00001000 // merged from several; not a real extent
	FIEMAP_EXTENT_SHARED         = 0x00002000 // shared with other files
)

// A FiemapExtent is struct fiemap_extent: Length bytes of the file at
// Logical lie on the device at Physical.
type FiemapExtent struct {
	Logical  uint64
	Physical uint64
	Length   uint64
	_        [2]uint64
	Flags    uint32
	_        [3]uint32
}

// Sizes of struct fiemap (the header) and struct fiemap_extent.
const (
	fiemapHeader = 32
	fiemapExtent = 56
)

// IoctlFiemap maps the bytes [start, start+length) of the file open as fd and
// returns their extents, at most len(extents) of them, in file order; a
// file with more has the rest mapped by a next call starting after the
// last extent returned. flags may be FIEMAP_FLAG_SYNC. A file system
// without FIEMAP answers EOPNOTSUPP (vfat on Linux 4.9 does). EINTR is
// retried.
func (l *Libc) IoctlFiemap(fd int, start, length uint64, flags uint32, extents []FiemapExtent) (n int, err error) {
	if len(extents) == 0 {
		return 0, syscall.EINVAL
	}
	// One buffer holds the header and the extents; uint64s keep it
	// aligned for the kernel.
	words := make([]uint64, (fiemapHeader+fiemapExtent*len(extents))/8)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(words)*8)
	ne := binary.NativeEndian
	ne.PutUint64(buf[0:], start)
	ne.PutUint64(buf[8:], length)
	ne.PutUint32(buf[16:], flags)
	ne.PutUint32(buf[24:], uint32(len(extents))) // fm_extent_count
	if _, err := l.callEINTR(unix.SYS_IOCTL, uintptr(fd), FS_IOC_FIEMAP, uintptr(unsafe.Pointer(&words[0])), 0, 0, 0); err != nil {
		return 0, err
	}
	n = int(ne.Uint32(buf[20:])) // fm_mapped_extents
	if n > len(extents) {
		return 0, syscall.EINVAL // a kernel that says more than it was given room for
	}
	for i := range n {
		e := buf[fiemapHeader+i*fiemapExtent:]
		extents[i] = FiemapExtent{
			Logical:  ne.Uint64(e[0:]),
			Physical: ne.Uint64(e[8:]),
			Length:   ne.Uint64(e[16:]),
			Flags:    ne.Uint32(e[40:]),
		}
	}
	return n, nil
}
