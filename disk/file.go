package disk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk/internal/vecio"
)

// File is a raw disk image: a regular file or a block device on the host,
// read and written in place. Its vectored methods are preadv(2) and
// pwritev(2), Discard punches a hole, WriteZeroes zeroes a range with
// fallocate(2). Its methods are safe for concurrent use; Close waits for
// none of them, and any call after Close returns ErrClosed.
type File struct {
	f        *os.File
	path     string
	size     int64
	readOnly bool
	regular  bool
	closed   atomic.Bool
}

// OpenFile opens the image at path: read-only (O_RDONLY, so nothing
// written through the device can reach the file) or read-write. It
// refuses anything but a regular file or a block device, and a regular
// file smaller than 512 bytes (one sector).
func OpenFile(path string, readOnly bool) (*File, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err // *PathError: names the file
	}
	d, err := newFile(f, path, readOnly)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func newFile(f *os.File, path string, readOnly bool) (*File, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	mode := fi.Mode()
	isBlock := mode&os.ModeDevice != 0 && mode&os.ModeCharDevice == 0
	if !mode.IsRegular() && !isBlock {
		return nil, fmt.Errorf("%s: not a regular file or block device", path)
	}
	size := fi.Size()
	if isBlock {
		// A block device's size is where its end is.
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			return nil, fmt.Errorf("%s: size of block device: %w", path, err)
		}
	} else if size < 512 {
		return nil, fmt.Errorf("%s: %d bytes is too small for a disk image", path, size)
	}
	return &File{f: f, path: path, size: size, readOnly: readOnly, regular: mode.IsRegular()}, nil
}

// File returns the open file, so a caller with a faster path to it (LKL's
// virtio-blk in C) can use its descriptor. It stays owned by d.
func (d *File) File() *os.File { return d.f }

// Size is the image's size in bytes when it was opened.
func (d *File) Size() int64 { return d.size }

// ReadOnly reports whether the image was opened read-only.
func (d *File) ReadOnly() bool { return d.readOnly }

// Local reports true: the image is on the host (LocalDevice).
func (d *File) Local() bool { return true }

// ReadAt reads len(p) bytes at off, as pread(2) does in a loop.
func (d *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.f.ReadAt(p, off)
	return n, d.fileErr(err)
}

// WriteAt writes len(p) bytes at off.
func (d *File) WriteAt(p []byte, off int64) (int, error) {
	if d.readOnly {
		return 0, fmt.Errorf("disk: %s: write at %d: %w", d.path, off, ErrReadOnly)
	}
	n, err := d.f.WriteAt(p, off)
	return n, d.fileErr(err)
}

// ReadvAt reads consecutive bytes at off into bufs with preadv(2),
// repeating it after a short read. It stops with io.EOF at the end of the
// image, as ReadAt does.
func (d *File) ReadvAt(bufs [][]byte, off int64) (int, error) {
	return d.vector("preadv", unix.Preadv, bufs, off, io.EOF)
}

// WritevAt writes bufs to consecutive bytes at off with pwritev(2),
// repeating it after a short write.
func (d *File) WritevAt(bufs [][]byte, off int64) (int, error) {
	if d.readOnly {
		return 0, fmt.Errorf("disk: %s: write at %d: %w", d.path, off, ErrReadOnly)
	}
	return d.vector("pwritev", unix.Pwritev, bufs, off, &os.PathError{Op: "pwritev", Path: d.path, Err: io.ErrShortWrite})
}

// vector calls preadv or pwritev until bufs are done (vecio.Loop); a
// transfer of nothing returns none.
func (d *File) vector(op string, fn func(fd int, bufs [][]byte, off int64) (int, error), bufs [][]byte, off int64, none error) (int, error) {
	total := 0
	err := d.each(func(fd int) error {
		var err error
		total, err = vecio.Loop(fd, fn, bufs, off)
		switch {
		case err == io.EOF:
			return none
		case err != nil:
			return &os.PathError{Op: op, Path: d.path, Err: err}
		}
		return nil
	})
	return total, err
}

// Discard punches a hole over the range in a regular file, so it reads as
// zeroes and its blocks return to the host's file system. Where the host
// file system cannot punch holes, and on a block device, the data stays:
// the Discarder contract allows either.
func (d *File) Discard(off, n int64) error {
	if d.readOnly {
		return fmt.Errorf("disk: %s: discard at %d: %w", d.path, off, ErrReadOnly)
	}
	if !d.regular {
		return d.each(func(int) error { return nil })
	}
	err := d.fallocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		return nil
	}
	return err
}

// WriteZeroes makes the range read as zeroes: fallocate(2) ZERO_RANGE,
// else PUNCH_HOLE, else by writing zeroes (block devices, file systems
// without either).
func (d *File) WriteZeroes(off, n int64) error {
	if d.readOnly {
		return fmt.Errorf("disk: %s: write zeroes at %d: %w", d.path, off, ErrReadOnly)
	}
	if d.regular {
		for _, mode := range []int{unix.FALLOC_FL_ZERO_RANGE, unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE} {
			err := d.fallocate(mode, off, n)
			if !errors.Is(err, syscall.EOPNOTSUPP) {
				return err
			}
		}
	}
	return writeZeroes(d, off, n)
}

// writeZeroes writes n zero bytes at off, a megabyte at a time.
func writeZeroes(d Device, off, n int64) error {
	zero := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zero)))
		if _, err := d.WriteAt(zero[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

func (d *File) fallocate(mode int, off, n int64) error {
	return d.call("fallocate", func(fd int) error { return unix.Fallocate(fd, uint32(mode), off, n) })
}

// Flush makes every completed write durable with fdatasync(2).
func (d *File) Flush() error {
	return d.call("fdatasync", unix.Fdatasync)
}

// call runs the system call fn on the descriptor, again after EINTR, and
// names it and the file in its error.
func (d *File) call(op string, fn func(fd int) error) error {
	return d.each(func(fd int) error {
		err := fn(fd)
		for err == syscall.EINTR {
			err = fn(fd)
		}
		if err != nil {
			return &os.PathError{Op: op, Path: d.path, Err: err}
		}
		return nil
	})
}

// Close closes the file. A second Close returns ErrClosed.
func (d *File) Close() error {
	d.closed.Store(true)
	return d.fileErr(d.f.Close())
}

// each runs fn on the file's descriptor, holding a reference on it (the
// os.File's own count), so a concurrent Close cannot reuse the descriptor
// under fn.
func (d *File) each(fn func(fd int) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return d.fileErr(err)
	}
	var ferr error
	if err := rc.Read(func(fd uintptr) bool { ferr = fn(int(fd)); return true }); err != nil {
		if d.closed.Load() { // the raw conn's closing error is not os.ErrClosed
			err = os.ErrClosed
		}
		return d.fileErr(err)
	}
	return ferr
}

// fileErr turns the os package's closed-file error into ErrClosed.
func (d *File) fileErr(err error) error {
	if errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("disk: %s: %w", d.path, ErrClosed)
	}
	return err
}
