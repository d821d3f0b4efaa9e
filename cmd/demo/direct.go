package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// Direct copies: cp-out of a file asks LKL only where the file's
// data lies in the image (FIEMAP) and then copies those bytes from the
// image file on the host, in parallel. Through LKL every byte is copied
// three times (the host's page cache into LKL's, LKL's into ours, ours
// to the output); this way twice, as debugfs does, and not on LKL's one
// CPU.
//
// It is used only where the extents are the file's bytes as they lie in
// the image file: a read-only mount (nothing can change under the copy),
// of a whole-disk image (partition offsets are not known here), of ext4
// or xfs (whose FIEMAP reports device offsets; btrfs reports its own
// logical addresses, and vfat has no FIEMAP), and only for extents
// without flags that say otherwise (inline, encoded, encrypted, delayed,
// unknown, unaligned). Unwritten extents read as zeros and stay holes.
// Anything else is copied through LKL.

// direct is the image file on the host and the source kernel's libc.
type direct struct {
	img *ufs.File // the image, read-only, on the host
	l   *libgo.Libc
}

// newDirect returns a direct copier for img, or nil where direct copies
// do not apply.
func newDirect(img *image) (*direct, func()) {
	if !img.flags.readOnly || img.flags.partition != 0 || img.fstype != "ext4" && img.fstype != "xfs" {
		return nil, func() {}
	}
	abs, err := filepath.Abs(img.path)
	if err != nil {
		return nil, func() {}
	}
	host := ufs.New(sys.Host(), filepath.Dir(abs))
	f, err := host.OpenFile(filepath.Base(abs), os.O_RDONLY, 0)
	host.Close()
	if err != nil {
		return nil, func() {}
	}
	return &direct{img: f, l: libgo.New(img.fs.Kernel())}, func() { f.Close() }
}

// unsafeExtent are the extent flags under which the bytes in the image
// are not the file's bytes.
const unsafeExtent = libgo.FIEMAP_EXTENT_UNKNOWN | libgo.FIEMAP_EXTENT_DELALLOC | libgo.FIEMAP_EXTENT_ENCODED |
	libgo.FIEMAP_EXTENT_DATA_ENCRYPTED | libgo.FIEMAP_EXTENT_NOT_ALIGNED | libgo.FIEMAP_EXTENT_DATA_INLINE |
	libgo.FIEMAP_EXTENT_DATA_TAIL

// extents returns the extents of the file open as in (size bytes), or
// false if any of them cannot be copied directly, or d is nil.
func (d *direct) extents(in *ufs.File, size int64) ([]libgo.FiemapExtent, bool) {
	if d == nil {
		return nil, false
	}
	var all []libgo.FiemapExtent
	batch := make([]libgo.FiemapExtent, min(256, 1+size/4096))
	for start := uint64(0); start < uint64(size); {
		n, err := d.l.IoctlFiemap(in.Fd(), start, uint64(size)-start, 0, batch)
		if err != nil {
			return nil, false
		}
		if n == 0 {
			break
		}
		for _, e := range batch[:n] {
			if e.Flags&unsafeExtent != 0 {
				return nil, false
			}
			all = append(all, e)
		}
		last := batch[n-1]
		if last.Flags&libgo.FIEMAP_EXTENT_LAST != 0 {
			break
		}
		start = last.Logical + last.Length
	}
	return all, true
}

// copyExtents queues the copy of each written extent (clipped to size)
// from the image file to dname, in chunks; the rest of the file stays a
// hole.
func (c *copier) copyExtents(exts []libgo.FiemapExtent, size int64, dst *ufs.FS, dname string) {
	for _, e := range exts {
		if e.Flags&libgo.FIEMAP_EXTENT_UNWRITTEN != 0 {
			continue
		}
		end := min(int64(e.Logical+e.Length), size)
		for off := int64(e.Logical); off < end; off += chunkSize {
			n := min(chunkSize, end-off)
			phys := int64(e.Physical) + off - int64(e.Logical)
			c.run(func() error {
				buf := c.getBuf()
				m, err := c.direct.img.ReadAt(buf[:n], phys)
				if err != nil && err != io.EOF {
					return err
				}
				if int64(m) < n {
					return io.ErrUnexpectedEOF // an extent past the image's end
				}
				c.prog.bytes.Add(n)
				return c.writeChunk(buf, m, dst, dname, off)
			})
		}
	}
}

// read fills data, a whole small file, from the image file at its
// extents (clipped to len(data)); holes and unwritten extents stay zero.
func (d *direct) read(exts []libgo.FiemapExtent, data []byte) (int, error) {
	for _, e := range exts {
		if e.Flags&libgo.FIEMAP_EXTENT_UNWRITTEN != 0 || e.Logical >= uint64(len(data)) {
			continue
		}
		end := min(e.Logical+e.Length, uint64(len(data)))
		if _, err := d.img.ReadAt(data[e.Logical:end], int64(e.Physical)); err != nil {
			return 0, err
		}
	}
	return len(data), nil
}
