package ufs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys/datamap"
)

// Direct copies (CopyOptions.Image): a copy out of a disk image asks the
// source's kernel (LKL) only where a file's data lies in the image
// (FIEMAP) and then copies those bytes from the image file on the host,
// on the workers. Through LKL every byte is copied three times (the
// host's page cache into LKL's, LKL's into ours, ours to the output);
// this way twice, as debugfs does, and not on LKL's one CPU.
//
// It is used only for extents without flags that say their bytes are
// not plainly in the image (inline, encoded, encrypted, delayed,
// unknown, unaligned); unwritten extents read as zeros and stay holes.
// Where CopyOptions.Image may be set at all (read-only, whole-disk, ext4
// or xfs) is the caller's to know; anything else is copied through the
// source's kernel.

// direct is the image file on the host.
//
// The bytes go from the image file to the output with copy_file_range(2)
// on the host, which copies once, in the host kernel (page cache to page
// cache); where the host refuses that (the image and the output on
// different file systems, say), with pread and pwrite through a buffer.
type direct struct {
	img   *File          // the image, read-only, on the host
	nocfr atomic.Bool    // copy_file_range was refused: use pread/pwrite
	maps  datamap.Mapper // extents's FIEMAP buffers (only the walker calls it)
}

// extents returns the extents of the file open as fd on the source
// kernel, whose libc is l (size bytes), or false if they cannot all be
// copied directly (sys/datamap's rules), or d is nil.
func (d *direct) extents(l *libgo.Libc, fd int, size int64) ([]datamap.Extent, bool) {
	if d == nil {
		return nil, false
	}
	return d.maps.Extents(l.Kernel(), fd, size)
}

// copyExtents queues the copy of the written extents of a file (clipped
// to size) from the image file to dname: one job, copying in order. The
// rest of the file stays a hole. Writers of one file serialize on its
// inode lock, so one job per chunk on several workers only spins on
// that lock (docs/ufs.md).
func (c *Copier) copyExtents(exts []datamap.Extent, size int64, dst *FS, dname string) {
	c.run(func() error {
		out, err := dst.OpenFile(dname, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		for _, e := range exts {
			if e.Off >= size {
				continue
			}
			for off, end := e.Off, min(e.Off+e.Len, size); off < end && err == nil; off += chunkSize {
				err = c.direct.copy(c, out, off, e.Phys+off-e.Off, min(chunkSize, end-off))
			}
			if err != nil {
				break
			}
		}
		return errors.Join(err, out.Close())
	})
}

// copySmall copies a file of size bytes at most chunkSize, whose extents
// are exts, from the image file to a new dname in dst, with its mode and
// times; holes and unwritten extents stay holes.
func (c *Copier) copySmall(exts []datamap.Extent, size int64, dst *FS, dname string, perm fs.FileMode, atime, mtime time.Time) error {
	out, err := dst.OpenFile(dname, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	end := int64(0)
	for _, e := range exts {
		if e.Off >= size {
			continue
		}
		n := min(e.Off+e.Len, size) - e.Off
		if err = c.direct.copy(c, out, e.Off, e.Phys, n); err != nil {
			break
		}
		end = e.Off + n
	}
	if err == nil && end < size {
		err = out.Truncate(size) // a hole at the end
	}
	return errors.Join(err, out.Chtimes(atime, mtime), out.Close())
}

// copy copies n bytes at phys in the image file to off in out.
func (d *direct) copy(c *Copier, out *File, off, phys, n int64) error {
	for n > 0 && !d.nocfr.Load() {
		m, err := d.img.l.CopyFileRange(d.img.Fd(), &phys, out.Fd(), &off, int(n), 0)
		if err != nil {
			if !cfrRefused(err) {
				return &fs.PathError{Op: "copy_file_range", Path: out.Name(), Err: err}
			}
			d.nocfr.Store(true)
			break
		}
		if m == 0 {
			return io.ErrUnexpectedEOF // an extent past the image's end
		}
		c.progress(0, int64(m))
		n -= int64(m)
	}
	if n == 0 {
		return nil
	}
	buf := c.getSmall(int(min(n, chunkSize)))
	defer c.putSmall(buf)
	for n > 0 {
		b := (*buf)[:min(n, int64(len(*buf)))]
		m, err := d.img.ReadAt(b, phys)
		if err != nil && err != io.EOF {
			return err
		}
		if m < len(b) {
			return io.ErrUnexpectedEOF // an extent past the image's end
		}
		if _, err := out.WriteAt(b, off); err != nil {
			return err
		}
		c.progress(0, int64(m))
		n, off, phys = n-int64(m), off+int64(m), phys+int64(m)
	}
	return nil
}

// cfrRefused reports whether a copy_file_range error means "not between
// these two files" rather than a failed copy: what refused says, or
// EPERM.
func cfrRefused(err error) bool {
	return refused(err) || errors.Is(err, syscall.EPERM)
}
