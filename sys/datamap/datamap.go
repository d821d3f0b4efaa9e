package datamap

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Kernel answers system calls: a sys.Kernel (package sys registers
// sys/isolated, which uses this package, so this one cannot name sys).
type Kernel interface {
	Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)
}

// call makes a system call on k, keeping pointer arguments alive and
// unmoved for its duration as sys.SyscallOn does.
//
//go:uintptrescapes
func call(k Kernel, trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	return k.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// Runs yields the [start, end) runs of the file open as fd on k, below
// size, that may hold data, found with lseek's SEEK_DATA and SEEK_HOLE as
// cp --sparse=auto does, so the holes of a sparse file are never read: a
// hostile image's 2 TiB file of one block is one block of work, not 2 TiB
// of zeros. A kernel or file system without them (EINVAL), or an answer
// that makes no sense (an offset before the one asked for), yields the
// rest of the file whole; a reader that truncated its destination to size
// reads what is skipped as zeros. It moves fd's file offset.
func Runs(k Kernel, fd int, size int64) func(yield func(start, end int64) bool) {
	seek := func(off int64, whence int) (int64, syscall.Errno) {
		r, _, e := call(k, unix.SYS_LSEEK, uintptr(fd), uintptr(off), uintptr(whence), 0, 0, 0)
		return int64(r), e
	}
	return func(yield func(int64, int64) bool) {
		for off := int64(0); off < size; {
			data, e := seek(off, unix.SEEK_DATA)
			if e == syscall.ENXIO || (e == 0 && data >= size) {
				return // the rest is a hole
			}
			if e != 0 || data < off {
				yield(off, size)
				return
			}
			hole, e := seek(data, unix.SEEK_HOLE)
			if e != 0 || hole > size || hole <= data {
				hole = size // no hole found (or nonsense): to the end
			}
			if !yield(data, hole) {
				return
			}
			off = hole
		}
	}
}

// FS_IOC_FIEMAP is _IOWR('f', 11, struct fiemap) (include/uapi/linux/fs.h).
// golang.org/x/sys/unix has neither the request nor its structs, so they
// are defined here from include/uapi/linux/fiemap.h; their layout is the
// same on the host and on LKL's generic ABI (fixed-size integers only).
const FS_IOC_FIEMAP = 0xC020660B

// Flags of a FIEMAP request and of FiemapExtent.Flags
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

// A Mapper makes FIEMAP calls with a buffer it keeps for the next call.
// The zero value is ready; a Mapper is not safe for concurrent use.
type Mapper struct {
	words []uint64 // the request: header and extents, uint64s for alignment
	batch []FiemapExtent
}

// Fiemap maps the bytes [start, start+length) of the file open as fd on k
// and decodes their extents into extents, at most len(extents) of them,
// in file order, returning how many; a file with more has the rest mapped
// by a next call starting after the last extent returned. flags may be
// FIEMAP_FLAG_SYNC. A file system without FIEMAP answers EOPNOTSUPP (vfat
// on Linux 4.9 does); a kernel that says it mapped more extents than it
// was given room for is EINVAL. EINTR is retried.
func (m *Mapper) Fiemap(k Kernel, fd int, start, length uint64, flags uint32, extents []FiemapExtent) (int, syscall.Errno) {
	if len(extents) == 0 {
		return 0, syscall.EINVAL
	}
	if need := (fiemapHeader + fiemapExtent*len(extents)) / 8; len(m.words) < need {
		m.words = make([]uint64, need)
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&m.words[0])), len(m.words)*8)
	ne := binary.NativeEndian
	clear(buf[:fiemapHeader])
	ne.PutUint64(buf[0:], start)
	ne.PutUint64(buf[8:], length)
	ne.PutUint32(buf[16:], flags)
	ne.PutUint32(buf[24:], uint32(len(extents))) // fm_extent_count
	for {
		_, _, e := call(k, unix.SYS_IOCTL, uintptr(fd), FS_IOC_FIEMAP, uintptr(unsafe.Pointer(&m.words[0])), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		break
	}
	n := int(ne.Uint32(buf[20:])) // fm_mapped_extents
	if n > len(extents) {
		return 0, syscall.EINVAL
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
	return n, 0
}

// An Extent is Len bytes of a file at Off that lie at Phys on the file
// system's device (in its disk image).
type Extent struct{ Off, Len, Phys int64 }

// Untrusted are the extent flags under which the bytes on the device are
// not the file's bytes as they lie: unknown, delayed, encoded, encrypted,
// not aligned, inline, tail.
const Untrusted = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_ENCODED |
	FIEMAP_EXTENT_DATA_ENCRYPTED | FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
	FIEMAP_EXTENT_DATA_TAIL

// batchSize is how many extents Extents asks for per FIEMAP call.
const batchSize = 256

// Extents returns the written extents of the file open as fd on k (size
// bytes), in order and clipped to size, if its whole map can be trusted
// to copy the file's bytes straight from the device; ok is false, and the
// file must be read through the kernel, if FIEMAP fails or any extent has
// an Untrusted flag, overflows, lies beyond 2^62 on the device, or comes
// out of order (a hostile image's map). Unwritten extents read as zeros
// and are left out, as are empty ones and those at or past size: they
// stay holes. The extents are a new slice the caller may keep.
func (m *Mapper) Extents(k Kernel, fd int, size int64) (exts []Extent, ok bool) {
	if m.batch == nil {
		m.batch = make([]FiemapExtent, batchSize)
	}
	batch := m.batch[:min(batchSize, 1+size/4096)]
	for start := uint64(0); start < uint64(size); {
		n, e := m.Fiemap(k, fd, start, uint64(size)-start, 0, batch)
		if e != 0 {
			return nil, false
		}
		if n == 0 {
			break
		}
		var next uint64
		if exts, next, ok = add(exts, batch[:n], size); !ok {
			return nil, false
		}
		if batch[n-1].Flags&FIEMAP_EXTENT_LAST != 0 || next <= start {
			break
		}
		start = next
	}
	return exts, true
}

// add appends to exts the extents of one FIEMAP batch (at least one) of a
// file of size bytes, under Extents's rules, and returns where the file's
// next batch starts; ok false if the map is not to be trusted.
func add(exts []Extent, batch []FiemapExtent, size int64) (_ []Extent, next uint64, ok bool) {
	for _, x := range batch {
		if x.Flags&Untrusted != 0 || x.Logical+x.Length < x.Logical || x.Physical > 1<<62 {
			return exts, 0, false
		}
		next = x.Logical + x.Length
		if x.Flags&FIEMAP_EXTENT_UNWRITTEN != 0 || x.Length == 0 || x.Logical >= uint64(size) {
			continue
		}
		if len(exts) > 0 && int64(x.Logical) < exts[len(exts)-1].Off+exts[len(exts)-1].Len {
			return exts, 0, false // out of order: not a map to trust
		}
		n := min(x.Length, uint64(size)-x.Logical) // clipped in uint64: a length may not fit an int64
		exts = append(exts, Extent{int64(x.Logical), int64(n), int64(x.Physical)})
	}
	return exts, next, true
}
