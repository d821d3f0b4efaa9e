//go:build lkl && amd64

package supervise_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

func init() {
	programs["select"] = progSelect
}

// TestRunLKLSelect: select and pselect6 with LKL sockets, host pipes
// and both in one set; bad input is an errno.
func TestRunLKLSelect(t *testing.T) {
	k := lklKernel(t)
	kerneltest.CheckFDs(t, k)
	kerneltest.CheckFDs(t, sys.Host())
	trace := runTraced(t, lklOptions(k), "select")
	require.Regexp(t, `(?m)^\[\d+\] pselect6\(.*\) = 1 .*\[lkl\]$`, trace, "pselect6 answered by the supervisor")
	require.NotContains(t, trace, "not handled")
}

// fdSet is an fd_set sized for the numbers it is given (LKL's are past
// FD_SETSIZE, as a program that sizes its own sets has them).
type fdSet []uint64

func newFDSet(max uintptr, fds ...uintptr) fdSet {
	s := make(fdSet, max/64+1)
	for _, fd := range fds {
		s[fd/64] |= 1 << (fd % 64)
	}
	return s
}

func (s fdSet) has(fd uintptr) bool { return s[fd/64]&(1<<(fd%64)) != 0 }

func (s fdSet) ptr() uintptr {
	if s == nil {
		return 0
	}
	return uintptr(unsafe.Pointer(&s[0]))
}

// progSelect checks select and pselect6 from the program's side.
func progSelect() error {
	ln, cl, srv, err := lklPair()
	if err != nil {
		return err
	}
	var p [2]int32
	if _, e := raw(unix.SYS_PIPE2, uintptr(unsafe.Pointer(&p)), unix.O_CLOEXEC); e != 0 {
		return e
	}
	rd, wr := uintptr(p[0]), uintptr(p[1])
	top := max(ln, cl, srv)
	nfds := top + 1
	one := []byte{'x'}
	write := func(fd uintptr) { raw(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&one[0])), 1) }
	read := func(fd uintptr) { raw(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&one[0])), 1) }
	sel := func(r, w fdSet, tv *unix.Timeval) (uintptr, syscall.Errno) {
		return raw(unix.SYS_SELECT, nfds, r.ptr(), w.ptr(), 0, uintptr(unsafe.Pointer(tv)))
	}
	var errs []error
	check := func(what string, ok bool, r uintptr, e syscall.Errno) {
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %d, %v", what, int(r), e))
		}
	}

	// Nothing ready: 0 after the timeout, the sets cleared, no time left.
	r := newFDSet(top, srv, rd)
	tv := unix.Timeval{Usec: 20000}
	n, e := sel(r, nil, &tv)
	check("select, nothing ready", e == 0 && n == 0 && !r.has(srv) && !r.has(rd) && tv.Usec == 0 && tv.Sec == 0, n, e)

	// Mixed, ready at once: the pipe to read, the LKL client to write.
	write(wr)
	r, w := newFDSet(top, srv, rd), newFDSet(top, cl)
	tv = unix.Timeval{Sec: 5}
	n, e = sel(r, w, &tv)
	check("select, the pipe and a socket ready", e == 0 && n == 2 && r.has(rd) && !r.has(srv) && w.has(cl) && tv.Sec < 5 && tv.Sec >= 4, n, e)
	read(rd)

	// pselect6 (timespec), an LKL socket ready.
	write(cl)
	r = newFDSet(top, srv, rd)
	ts := unix.Timespec{Sec: 5}
	n, e = raw(unix.SYS_PSELECT6, nfds, r.ptr(), 0, 0, uintptr(unsafe.Pointer(&ts)), 0)
	check("pselect6, a socket ready", e == 0 && n == 1 && r.has(srv) && !r.has(rd), n, e)
	read(srv)

	// Blocking with no timeout until either kernel's fd is ready.
	for _, c := range []struct {
		name     string
		from, to uintptr
	}{{"pipe", wr, rd}, {"socket", cl, srv}} {
		go func() {
			time.Sleep(50 * time.Millisecond)
			write(c.from)
		}()
		r = newFDSet(top, srv, rd)
		n, e = sel(r, nil, nil)
		check("select blocking, woken by the "+c.name, e == 0 && n == 1 && r.has(c.to), n, e)
		read(c.to)
	}

	// Only host fds below nfds: the host's call.
	r = newFDSet(top, rd)
	tv = unix.Timeval{}
	n, e = sel(r, nil, &tv)
	check("select, host fds only", e == 0 && n == 0, n, e)

	// Bad input.
	n, e = raw(unix.SYS_SELECT, ^uintptr(0), 0, 0, 0, 0)
	check("select nfds -1", e == unix.EINVAL, n, e)
	n, e = raw(unix.SYS_SELECT, nfds, 0x10, 0, 0, 0)
	check("select, sets at a wild pointer", e == unix.EFAULT, n, e)
	tv = unix.Timeval{Usec: 2_000_000}
	n, e = sel(newFDSet(top, srv), nil, &tv)
	check("select, bad timeval", e == unix.EINVAL, n, e)
	n, e = raw(unix.SYS_PSELECT6, nfds, newFDSet(top, srv).ptr(), 0, 0, 0x10, 0)
	check("pselect6, timespec at a wild pointer", e == unix.EFAULT, n, e)
	// An LKL number below the highest that the program has not got, and
	// a closed host fd: EBADF.
	high, e := raw(unix.SYS_FCNTL, cl, unix.F_DUPFD_CLOEXEC, fdBase+100)
	if e != 0 {
		return fmt.Errorf("F_DUPFD: %v", e)
	}
	n, e = raw(unix.SYS_SELECT, high+1, newFDSet(high, fdBase+50).ptr(), 0, 0, 0)
	check("select, an LKL number not open", e == unix.EBADF, n, e)
	d, _ := raw(unix.SYS_DUP, rd)
	raw(unix.SYS_CLOSE, d)
	n, e = raw(unix.SYS_SELECT, high+1, newFDSet(high, d, srv).ptr(), 0, 0, 0)
	check("select, a closed host fd with a socket", e == unix.EBADF, n, e)

	for _, fd := range []uintptr{high, rd, wr, srv, cl, ln} {
		raw(unix.SYS_CLOSE, fd)
	}
	return errors.Join(errs...)
}
