//go:build amd64

package supervise

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// Redirection: dup2 of a file of ours onto a host fd number (a shell's
// "cmd < /mnt/img/file" or "cmd > /mnt/img/out"). The host's fd table
// cannot hold a file of the other kernel, so the number gets one end of a
// host pipe (SECCOMP_IOCTL_NOTIF_ADDFD, which also answers the call), and
// a goroutine of the supervisor pumps the file into the pipe (a file open
// for reading) or the pipe into the file (for writing) until the other
// side is done. The program sees a pipe: it cannot seek it, and fstat
// says FIFO.

// redirect answers dup2(old, new) or dup3 for old ours and new a host
// number.
func (c *call) redirect(flags uintptr) result {
	l := c.p.get(int(int32(c.args[0])))
	if l == nil {
		return result{err: errBadFD}
	}
	defer c.p.put(c.s, l)
	fl, _, e := sys.SyscallOn(c.s.k, unix.SYS_FCNTL, uintptr(l.fd), unix.F_GETFL, 0, 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	mode := fl & unix.O_ACCMODE
	if l.sock || mode == unix.O_RDWR {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "dup2 of a socket or read-write file of the other kernel onto a host fd number")
	}
	pipe, err := c.s.host.Pipe2(unix.O_CLOEXEC)
	if err != nil {
		return result{err: errnoOf(err)}
	}
	theirs, mine := pipe[0], pipe[1] // the file is read: the program reads the pipe
	if mode == unix.O_WRONLY {
		theirs, mine = pipe[1], pipe[0]
		c.s.host.SetNonblock(mine, true) // pumpToFile reads it under a lock
	}
	// The pump's own fd of the file: the program may close old at once.
	fd, _, e := sys.SyscallOn(c.s.k, unix.SYS_FCNTL, uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		c.s.host.Close(theirs)
		c.s.host.Close(mine)
		return result{err: e}
	}
	_, e = c.s.addFD(c.id, theirs, int(int32(c.args[1])), flags&unix.O_CLOEXEC != 0)
	c.s.host.Close(theirs)
	if e != 0 {
		c.s.host.Close(mine)
		sys.SyscallOn(c.s.k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
		return result{err: e}
	}
	c.s.calls.Add(1)
	go func() {
		defer c.s.calls.Done()
		c.s.pump(int(fd), mine, mode == unix.O_WRONLY)
	}()
	return result{val: c.args[1], sent: true}
}
