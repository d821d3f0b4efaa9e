package libgo

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// File I/O: opening, closing, reading, writing and sizing regular files.

// maxRW caps the byte count of one stream read or write at 1 GiB, as
// internal/poll's maxRW does: Linux transfers at most MAX_RW_COUNT (just
// under 2 GiB) per call anyway, and some file systems fail larger counts
// with EINVAL instead of transferring less. A capped call is a short
// transfer, which callers of read and write must handle in any case.
const maxRW = 1 << 30

// iovMax is IOV_MAX on Linux: the most buffers one readv or writev takes.
const iovMax = 1024

// Open opens path relative to the current directory; it is openat(2) with
// AT_FDCWD, as open(2) is on the generic ABI. O_CLOEXEC is always added.
// EINTR is retried.
func (l *Libc) Open(path string, mode int, perm uint32) (fd int, err error) {
	return l.Openat(unix.AT_FDCWD, path, mode, perm)
}

// Openat opens path relative to the directory dirfd with openat(2).
// O_CLOEXEC is always added, so no fd libgo makes leaks into a child
// process. EINTR is retried.
func (l *Libc) Openat(dirfd int, path string, flags int, mode uint32) (fd int, err error) {
	p, err := cstring(path)
	if err != nil {
		return -1, err
	}
	r, err := l.callEINTR(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags|unix.O_CLOEXEC), uintptr(mode), 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// Creat creates or truncates path for writing; it is openat(2) with
// AT_FDCWD and O_CREAT|O_WRONLY|O_TRUNC|O_CLOEXEC, which is what creat(2)
// means. EINTR is retried.
func (l *Libc) Creat(path string, mode uint32) (fd int, err error) {
	return l.Openat(unix.AT_FDCWD, path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, mode)
}

// Close closes fd with close(2). EINTR is not retried: Linux has released
// the fd number by then, and a retry could close an fd another goroutine
// has just been given.
func (l *Libc) Close(fd int) error {
	_, err := l.call(unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	return err
}

// Read reads up to len(p) bytes from fd with read(2), at most 1 GiB per
// call. A zero-length p still makes the call, as x/sys/unix does, so the
// kernel checks fd (and a 0 result is not necessarily end of file). On
// error n is 0, never the kernel's -1; this holds for every byte count
// libgo returns. EINTR is retried.
func (l *Libc) Read(fd int, p []byte) (n int, err error) {
	p = capRW(p)
	r, err := l.callEINTR(unix.SYS_READ, uintptr(fd), uintptr(bufp(p)), uintptr(len(p)), 0, 0, 0)
	return countResult(r, err)
}

// Write writes up to len(p) bytes to fd with write(2), at most 1 GiB per
// call, and reports a short write as n < len(p) with a nil error, as the
// kernel does: Write does not loop. A zero-length p still makes the call,
// so the kernel checks fd. EINTR is retried.
func (l *Libc) Write(fd int, p []byte) (n int, err error) {
	p = capRW(p)
	r, err := l.callEINTR(unix.SYS_WRITE, uintptr(fd), uintptr(bufp(p)), uintptr(len(p)), 0, 0, 0)
	return countResult(r, err)
}

// Pread reads up to len(p) bytes from fd at offset with pread64(2),
// without moving the file offset; at most 1 GiB per call. EINTR is
// retried.
func (l *Libc) Pread(fd int, p []byte, offset int64) (n int, err error) {
	p = capRW(p)
	r, err := l.callEINTR(unix.SYS_PREAD64, uintptr(fd), uintptr(bufp(p)), uintptr(len(p)), uintptr(offset), 0, 0)
	return countResult(r, err)
}

// Pwrite writes up to len(p) bytes to fd at offset with pwrite64(2),
// without moving the file offset; at most 1 GiB per call. EINTR is
// retried.
func (l *Libc) Pwrite(fd int, p []byte, offset int64) (n int, err error) {
	p = capRW(p)
	r, err := l.callEINTR(unix.SYS_PWRITE64, uintptr(fd), uintptr(bufp(p)), uintptr(len(p)), uintptr(offset), 0, 0)
	return countResult(r, err)
}

// Readv reads into the buffers of iovs in order with readv(2), at most
// 1 GiB in all per call. More than 1024 buffers (IOV_MAX) is EINVAL, as
// the kernel would say. EINTR is retried.
func (l *Libc) Readv(fd int, iovs [][]byte) (n int, err error) {
	iov, err := iovecs(iovs)
	if err != nil {
		return 0, err
	}
	r, err := l.callEINTR(unix.SYS_READV, uintptr(fd), uintptr(iovp(iov)), uintptr(len(iov)), 0, 0, 0)
	return countResult(r, err)
}

// Writev writes the buffers of iovs in order with writev(2), at most
// 1 GiB in all per call, and reports a short write as n less than their
// total. More than 1024 buffers (IOV_MAX) is EINVAL. EINTR is retried.
func (l *Libc) Writev(fd int, iovs [][]byte) (n int, err error) {
	iov, err := iovecs(iovs)
	if err != nil {
		return 0, err
	}
	r, err := l.callEINTR(unix.SYS_WRITEV, uintptr(fd), uintptr(iovp(iov)), uintptr(len(iov)), 0, 0, 0)
	return countResult(r, err)
}

// Seek sets fd's file offset with lseek(2); whence is unix.SEEK_SET,
// SEEK_CUR, SEEK_END, SEEK_DATA or SEEK_HOLE. It returns the new offset.
func (l *Libc) Seek(fd int, offset int64, whence int) (off int64, err error) {
	r, err := l.call(unix.SYS_LSEEK, uintptr(fd), uintptr(offset), uintptr(whence), 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int64(r), nil
}

// Fsync flushes fd's data and metadata to its device with fsync(2). EINTR
// is retried.
func (l *Libc) Fsync(fd int) error {
	_, err := l.callEINTR(unix.SYS_FSYNC, uintptr(fd), 0, 0, 0, 0, 0)
	return err
}

// Fdatasync flushes fd's data, and only the metadata needed to read it
// back, with fdatasync(2). EINTR is retried.
func (l *Libc) Fdatasync(fd int) error {
	_, err := l.callEINTR(unix.SYS_FDATASYNC, uintptr(fd), 0, 0, 0, 0, 0)
	return err
}

// Ftruncate sets the size of the file open as fd with ftruncate(2). EINTR
// is retried.
func (l *Libc) Ftruncate(fd int, length int64) error {
	_, err := l.callEINTR(unix.SYS_FTRUNCATE, uintptr(fd), uintptr(length), 0, 0, 0, 0)
	return err
}

// Truncate sets the size of the file at path with truncate(2). EINTR is
// retried.
func (l *Libc) Truncate(path string, length int64) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.callEINTR(unix.SYS_TRUNCATE, uintptr(unsafe.Pointer(p)), uintptr(length), 0, 0, 0, 0)
	return err
}

// Fallocate allocates (or, with mode flags such as unix.FALLOC_FL_PUNCH_HOLE,
// deallocates) the byte range [off, off+len) of fd with fallocate(2). A file
// system without fallocate gives EOPNOTSUPP (ramfs, LKL's root, is one).
// EINTR is retried.
func (l *Libc) Fallocate(fd int, mode uint32, off int64, len int64) error {
	_, err := l.callEINTR(unix.SYS_FALLOCATE, uintptr(fd), uintptr(mode), uintptr(off), uintptr(len), 0, 0)
	return err
}

// CopyFileRange copies up to len bytes from rfd to wfd inside the kernel
// with copy_file_range(2). A nil roff (woff) uses and advances rfd's (wfd's)
// file offset; otherwise the copy starts at *roff (*woff), which is
// advanced, and the file offset is left alone. flags must be 0. EINTR is
// retried.
func (l *Libc) CopyFileRange(rfd int, roff *int64, wfd int, woff *int64, len int, flags int) (n int, err error) {
	r, err := l.callEINTR(unix.SYS_COPY_FILE_RANGE, uintptr(rfd), uintptr(unsafe.Pointer(roff)), uintptr(wfd), uintptr(unsafe.Pointer(woff)), uintptr(len), uintptr(flags))
	return countResult(r, err)
}

// Sendfile copies up to count bytes from infd to outfd inside the kernel
// with sendfile(2). A nil offset reads from infd's file offset and advances
// it; otherwise the copy starts at *offset, which is advanced, and infd's
// offset is left alone. EINTR is retried.
func (l *Libc) Sendfile(outfd, infd int, offset *int64, count int) (written int, err error) {
	r, err := l.callEINTR(unix.SYS_SENDFILE, uintptr(outfd), uintptr(infd), uintptr(unsafe.Pointer(offset)), uintptr(count), 0, 0)
	return countResult(r, err)
}

// Splice moves up to n bytes between infd and outfd, one of which must be
// a pipe, inside the kernel with splice(2), from and to the fds' offsets;
// flags are unix.SPLICE_F_* (SPLICE_F_NONBLOCK makes the pipe side
// non-blocking). It returns the bytes moved; 0 is end of input. EINTR is
// retried.
func (l *Libc) Splice(infd, outfd, n, flags int) (int, error) {
	r, err := l.callEINTR(unix.SYS_SPLICE, uintptr(infd), 0, uintptr(outfd), 0, uintptr(n), uintptr(flags))
	return countResult(r, err)
}

// countResult turns a byte-count call's outcome into (n, err), with n 0
// rather than the kernel's -1 on error.
func countResult(r uintptr, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	return int(r), nil
}

// capRW cuts p to maxRW bytes.
func capRW(p []byte) []byte {
	if len(p) > maxRW {
		return p[:maxRW]
	}
	return p
}

// iovecs builds the iovec array for readv and writev, cutting the total at
// maxRW. Empty buffers point at a static byte, as bufp does.
func iovecs(bufs [][]byte) ([]unix.Iovec, error) {
	if len(bufs) > iovMax {
		return nil, syscall.EINVAL
	}
	iov := make([]unix.Iovec, len(bufs))
	left := maxRW
	for i, b := range bufs {
		b = b[:min(len(b), left)]
		left -= len(b)
		iov[i].Base = (*byte)(bufp(b))
		iov[i].SetLen(len(b))
	}
	return iov, nil
}

// iovp returns the address of iov's first element, or nil for none (the
// kernel reads no iovec when the count is 0).
func iovp(iov []unix.Iovec) unsafe.Pointer {
	if len(iov) == 0 {
		return nil
	}
	return unsafe.Pointer(&iov[0])
}
