// Package vecio does vectored reads and writes on a host file with
// preadv(2) and pwritev(2), repeated until every buffer is done: the one
// loop disk.File and the qcow2 reader share.
package vecio

import (
	"io"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// Preadv reads consecutive bytes of f at off into bufs. A read that finds
// the end of the file returns what it read and io.EOF.
func Preadv(f *os.File, bufs [][]byte, off int64) (int, error) {
	return onFile(f, unix.Preadv, bufs, off)
}

// Pwritev writes bufs to consecutive bytes of f at off.
func Pwritev(f *os.File, bufs [][]byte, off int64) (int, error) {
	return onFile(f, unix.Pwritev, bufs, off)
}

// onFile runs Loop on f's descriptor, holding a reference on it (the
// os.File's own count), so that a concurrent Close cannot reuse the
// descriptor under it. A closed file is os.ErrClosed.
func onFile(f *os.File, fn func(fd int, bufs [][]byte, off int64) (int, error), bufs [][]byte, off int64) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ferr error
	if err := rc.Read(func(fd uintptr) bool { n, ferr = Loop(int(fd), fn, bufs, off); return true }); err != nil {
		return 0, err
	}
	return n, ferr
}

// Loop calls fn (unix.Preadv or unix.Pwritev) on fd until bufs are done,
// again after EINTR or a short transfer. A transfer of nothing ends it
// with io.EOF; a failed call with its errno. bufs is not changed.
func Loop(fd int, fn func(fd int, bufs [][]byte, off int64) (int, error), bufs [][]byte, off int64) (int, error) {
	total := 0
	bufs = slices.Clone(bufs) // consume trims the slices in place
	for bufs = skipEmpty(bufs); len(bufs) > 0; bufs = skipEmpty(bufs) {
		n, err := fn(fd, bufs, off+int64(total))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.EOF
		}
		total += n
		bufs = consume(bufs, n)
	}
	return total, nil
}

func skipEmpty(bufs [][]byte) [][]byte {
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	return bufs
}

// consume drops the first n bytes of bufs.
func consume(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	return bufs
}
