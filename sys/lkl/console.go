//go:build lkl

package lkl

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
)

// consoleFDs wires LKL's fds 0, 1 and 2 to the process's stdin, stdout and
// stderr. LKL 4.9 has no terminal driver, so each console fd is an LKL
// /dev/null that keeps the fd number taken, and the data calls on it (read,
// write, readv, writev) are answered by the host fd it stands for. A dup of a
// console fd is a console fd too; close, dup2 and dup3 over one ends it.
// Other calls (fstat, fcntl flags, epoll) see the /dev/null.
type consoleFDs struct {
	mu  sync.Mutex // serializes changes; readers only load tab
	tab atomic.Pointer[[]int8]
}

// host returns the host fd behind LKL fd fd, if it is a console fd.
func (c *consoleFDs) host(fd uintptr) (int, bool) {
	t := c.tab.Load()
	if t == nil || fd >= uintptr(len(*t)) || (*t)[fd] < 0 {
		return 0, false
	}
	return int((*t)[fd]), true
}

// set makes fd a console fd for host fd h, or, with h < 0, not one. The
// table is copied on write, so readers never lock.
func (c *consoleFDs) set(fd int, h int) {
	if fd < 0 || fd > 1<<16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var t []int8
	if old := c.tab.Load(); old != nil {
		t = append(t, *old...)
	}
	for len(t) <= fd {
		if h < 0 {
			return // already not a console fd
		}
		t = append(t, -1)
	}
	t[fd] = int8(h)
	c.tab.Store(&t)
}

// wire opens /dev/null in LKL as fds 0, 1 and 2 and maps them to the host's.
func (c *consoleFDs) wire(k *Kernel) error {
	dev, _ := unix.BytePtrFromString("/dev")
	null, _ := unix.BytePtrFromString("/dev/null")
	if _, e := k.internal(lklSYS_MKDIRAT, atFDCWD, uintptr(unsafe.Pointer(dev)), 0o755, 0, 0, 0); e != 0 && e != syscall.EEXIST {
		return fmt.Errorf("mkdir /dev: %w", e)
	}
	if _, e := k.internal(lklSYS_MKNODAT, atFDCWD, uintptr(unsafe.Pointer(null)), unix.S_IFCHR|0o666, uintptr(unix.Mkdev(1, 3)), 0, 0); e != 0 && e != syscall.EEXIST {
		return fmt.Errorf("mknod /dev/null: %w", e)
	}
	for want := uintptr(0); want <= 2; want++ {
		fd, e := k.internal(lklSYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(null)), unix.O_RDWR, 0, 0, 0)
		if e != 0 {
			return fmt.Errorf("open /dev/null: %w", e)
		}
		if fd != want {
			return fmt.Errorf("open /dev/null: got fd %d, want %d", fd, want)
		}
		c.set(int(fd), int(fd))
	}
	return nil
}

// consoleIO answers read, write, readv or writev: on a console fd, by the
// host fd (buffers and iovecs have the same layout on both sides); else by
// LKL call nr. The host call goes through the kernel's Config.Host. For
// another process (Process) it moves the data through a buffer of ours
// (consoleCopy).
func consoleIO(nr int, hostTrap uintptr) rewrite {
	return func(c caller, fd, a2, a3, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		if h, ok := c.k.console.host(fd); ok {
			if c.pid != 0 {
				return c.consoleCopy(hostTrap, h, a2, a3)
			}
			return host.Call(c.k.cfg.Host, hostTrap, uintptr(h), a2, a3, 0, 0, 0)
		}
		return c.call(nr, fd, a2, a3, 0, 0, 0)
	}
}

// consoleChunk is the most a console call of another process moves at once.
const consoleChunk = 64 << 10

// consoleCopy answers a console read, write, readv or writev of another
// process with one host call on a buffer of ours of at most consoleChunk
// bytes, for the first non-empty buffer of the call: a short transfer,
// which callers of these calls handle.
func (c caller) consoleCopy(hostTrap uintptr, h int, p, n uintptr) (uintptr, uintptr, syscall.Errno) {
	if hostTrap == unix.SYS_READV || hostTrap == unix.SYS_WRITEV {
		if n > 1024 { // UIO_MAXIOV
			return failed(syscall.EINVAL)
		}
		iov := make([]unix.Iovec, n)
		if n > 0 {
			if e := c.read(p, unsafe.Slice((*byte)(unsafe.Pointer(&iov[0])), n*unsafe.Sizeof(iov[0]))); e != 0 {
				return failed(e)
			}
		}
		p, n = 0, 0
		for _, v := range iov {
			if v.Len != 0 {
				p, n = uintptr(unsafe.Pointer(v.Base)), uintptr(v.Len)
				break
			}
		}
		if hostTrap == unix.SYS_WRITEV {
			hostTrap = unix.SYS_WRITE
		} else {
			hostTrap = unix.SYS_READ
		}
	}
	buf := make([]byte, min(n, consoleChunk))
	if hostTrap == unix.SYS_WRITE {
		if e := c.read(p, buf); e != 0 {
			return failed(e)
		}
		return host.Call(c.k.cfg.Host, unix.SYS_WRITE, uintptr(h), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), 0, 0, 0)
	}
	r, _, e := host.Call(c.k.cfg.Host, unix.SYS_READ, uintptr(h), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), 0, 0, 0)
	if e != 0 {
		return r, 0, e
	}
	if e := c.write(p, buf[:r]); e != 0 {
		return failed(e)
	}
	return r, 0, 0
}

// consoleNoSeek answers the positioned I/O calls: ESPIPE on a console fd,
// as on a terminal or pipe; else LKL call nr.
func consoleNoSeek(nr int) rewrite {
	return func(c caller, fd, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
		if _, ok := c.k.console.host(fd); ok {
			return failed(syscall.ESPIPE)
		}
		return c.call(nr, fd, a2, a3, a4, a5, a6)
	}
}

// closeFD ends a console fd before LKL closes it, so a new file that gets
// the number never writes to the host.
func (c caller) closeFD(fd, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
	if _, ok := c.k.console.host(fd); ok {
		c.k.console.set(int(fd), -1)
	}
	return c.call(lklSYS_CLOSE, fd, 0, 0, 0, 0, 0)
}

// dupFD makes the copy of a console fd a console fd.
func (c caller) dupFD(fd, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
	r, _, e := c.call(lklSYS_DUP, fd, 0, 0, 0, 0, 0)
	if h, ok := c.k.console.host(fd); ok && e == 0 {
		c.k.console.set(int(r), h)
	}
	return r, 0, e
}

// dup2FD is dup3 without flags, except that dup2(fd, fd) checks fd and
// returns it where dup3 fails with EINVAL.
func (c caller) dup2FD(oldfd, newfd, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
	if oldfd == newfd {
		if _, _, e := c.call(lklSYS_FCNTL, oldfd, unix.F_GETFD, 0, 0, 0, 0); e != 0 {
			return failed(e)
		}
		return newfd, 0, 0
	}
	return c.dup3FD(oldfd, newfd, 0, 0, 0, 0)
}

// dup3FD makes newfd a console fd exactly when oldfd is one.
func (c caller) dup3FD(oldfd, newfd, flags, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
	h, isConsole := c.k.console.host(oldfd)
	if _, ok := c.k.console.host(newfd); ok && oldfd != newfd {
		c.k.console.set(int(newfd), -1)
	}
	r, _, e := c.call(lklSYS_DUP3, oldfd, newfd, flags, 0, 0, 0)
	if e == 0 && isConsole {
		c.k.console.set(int(r), h)
	}
	return r, 0, e
}

// fcntlFD passes fcntl through, making an F_DUPFD copy of a console fd a
// console fd.
func (c caller) fcntlFD(fd, cmd, arg, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
	r, _, e := c.call(lklSYS_FCNTL, fd, cmd, arg, 0, 0, 0)
	if e == 0 && (cmd == unix.F_DUPFD || cmd == unix.F_DUPFD_CLOEXEC) {
		if h, ok := c.k.console.host(fd); ok {
			c.k.console.set(int(r), h)
		}
	}
	return r, 0, e
}
