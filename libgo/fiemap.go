package libgo

import (
	"github.com/gokernel/gokernel/sys/datamap"
)

// FIEMAP: where a file's data lies on its device, from the FS_IOC_FIEMAP
// ioctl(2) (Documentation/filesystems/fiemap.txt). The request, its
// structs and their decoding are sys/datamap's (golang.org/x/sys/unix has
// none of them); these are its names in libgo's x/sys/unix style.

// FS_IOC_FIEMAP is _IOWR('f', 11, struct fiemap) (include/uapi/linux/fs.h).
const FS_IOC_FIEMAP = datamap.FS_IOC_FIEMAP

// Flags of Fiemap's request and of FiemapExtent.Flags
// (include/uapi/linux/fiemap.h).
const (
	FIEMAP_FLAG_SYNC = datamap.FIEMAP_FLAG_SYNC // sync the file before mapping it

	FIEMAP_EXTENT_LAST           = datamap.FIEMAP_EXTENT_LAST           // the last extent of the file
	FIEMAP_EXTENT_UNKNOWN        = datamap.FIEMAP_EXTENT_UNKNOWN        // the data's location is unknown
	FIEMAP_EXTENT_DELALLOC       = datamap.FIEMAP_EXTENT_DELALLOC       // location still pending (implies UNKNOWN)
	FIEMAP_EXTENT_ENCODED        = datamap.FIEMAP_EXTENT_ENCODED        // data is not readable as it lies (compressed, …)
	FIEMAP_EXTENT_DATA_ENCRYPTED = datamap.FIEMAP_EXTENT_DATA_ENCRYPTED // data is encrypted
	FIEMAP_EXTENT_NOT_ALIGNED    = datamap.FIEMAP_EXTENT_NOT_ALIGNED    // extent offsets may not be block aligned
	FIEMAP_EXTENT_DATA_INLINE    = datamap.FIEMAP_EXTENT_DATA_INLINE    // data is in a metadata block
	FIEMAP_EXTENT_DATA_TAIL      = datamap.FIEMAP_EXTENT_DATA_TAIL      // several files' data in one block
	FIEMAP_EXTENT_UNWRITTEN      = datamap.FIEMAP_EXTENT_UNWRITTEN      // allocated but unwritten: reads as zeros
	FIEMAP_EXTENT_MERGED         = datamap.FIEMAP_EXTENT_MERGED         // merged from several; not a real extent
	FIEMAP_EXTENT_SHARED         = datamap.FIEMAP_EXTENT_SHARED         // shared with other files
)

// A FiemapExtent is struct fiemap_extent: Length bytes of the file at
// Logical lie on the device at Physical.
type FiemapExtent = datamap.FiemapExtent

// IoctlFiemap maps the bytes [start, start+length) of the file open as fd and
// returns their extents, at most len(extents) of them, in file order; a
// file with more has the rest mapped by a next call starting after the
// last extent returned. flags may be FIEMAP_FLAG_SYNC. A file system
// without FIEMAP answers EOPNOTSUPP (vfat on Linux 4.9 does). EINTR is
// retried.
func (l *Libc) IoctlFiemap(fd int, start, length uint64, flags uint32, extents []FiemapExtent) (n int, err error) {
	var m datamap.Mapper
	n, e := m.Fiemap(l.Kernel(), fd, start, length, flags, extents)
	if e != 0 {
		return 0, e
	}
	return n, nil
}
