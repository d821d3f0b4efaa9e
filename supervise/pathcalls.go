//go:build amd64

package supervise

import (
	"encoding/binary"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// path answers a call with a path (and maybe a second one): the other
// kernel's if the path is under one of its directories, or relative to
// one of its fds or to a working directory there; else the host's.
func (c *call) path(dirfd, path, dirfd2, path2 int8) result {
	cwd, cwdPath := c.p.getCwd()
	if cwd != nil {
		defer c.p.put(c.s, cwd)
	}
	ours, via, p1, e := c.pathIsOurs(dirfd, path, cwd != nil)
	if e != 0 {
		return result{err: e}
	}
	var via2 bool
	if path2 >= 0 {
		var ours2 bool
		ours2, via2, _, e = c.pathIsOurs(dirfd2, path2, cwd != nil)
		if e != 0 {
			return result{err: e}
		}
		if ours != ours2 {
			return result{err: syscall.EXDEV}
		}
	}
	if c.nr == unix.SYS_CHDIR {
		return c.chdir(ours, p1, cwd, cwdPath)
	}
	if !ours {
		return cont
	}
	if c.s.writePumps.Load() > 0 {
		c.s.barrier()
	}
	nr, args := c.nr, c.args
	var held []*lfd
	defer func() {
		for _, l := range held {
			c.p.put(c.s, l)
		}
	}()
	for _, d := range []struct {
		i   int8
		via bool
	}{{dirfd, via}, {dirfd2, via2}} {
		switch {
		case d.i < 0:
		case isOurs(args[d.i]):
			l := c.p.get(int(int32(args[d.i])))
			if l == nil {
				return result{err: errBadFD}
			}
			held = append(held, l)
			args[d.i] = uintptr(l.fd)
		case d.via:
			args[d.i] = uintptr(cwd.fd)
		}
	}
	if (via || via2) && dirfd < 0 {
		var ok bool
		if nr, args, ok = atForm(nr, args, uintptr(cwd.fd)); !ok {
			return c.s.refuse(c, syscall.EOPNOTSUPP, "a relative path from a working directory in the other kernel")
		}
	}
	k := c.p.k
	if k == nil {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "no access to the process's memory (Options.ForProcess)")
	}
	fd, _, e := sys.SyscallOn(k, nr, args[0], args[1], args[2], args[3], args[4], args[5])
	if e != 0 {
		return result{err: e}
	}
	var cloexec bool
	switch c.nr {
	case unix.SYS_OPEN:
		cloexec = c.args[1]&unix.O_CLOEXEC != 0
	case unix.SYS_OPENAT:
		cloexec = c.args[2]&unix.O_CLOEXEC != 0
	case unix.SYS_OPENAT2:
		var how [8]byte
		if readMem(c.tid, c.args[2], how[:]) == 0 {
			cloexec = binary.LittleEndian.Uint64(how[:])&unix.O_CLOEXEC != 0
		}
	case unix.SYS_CREAT:
	default:
		return result{val: fd}
	}
	var st unix.Stat_t
	_, _, e = sys.SyscallOn(c.s.k, unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)), 0, 0, 0, 0)
	nr2 := c.newFD(fd, 0, cloexec, false)
	if e == 0 && (st.Mode&unix.S_IFMT == unix.S_IFREG || st.Mode&unix.S_IFMT == unix.S_IFDIR) {
		c.p.setFile(int(nr2.val))
	}
	return nr2
}

// pathIsOurs says whose the path argument at index path (relative to the
// fd at index dirfd, or the working directory) is: ours, and via when it
// is relative to a working directory of ours (hasCwd). p is the path.
func (c *call) pathIsOurs(dirfd, path int8, hasCwd bool) (ours, via bool, p string, e sys.Errno) {
	fromCwd := dirfd < 0 || int32(uint32(c.args[dirfd])) == unix.AT_FDCWD
	dirOurs := dirfd >= 0 && isOurs(c.args[dirfd])
	if c.args[path] == 0 { // utimensat(fd, NULL, …): the fd itself
		return dirOurs, false, "", 0
	}
	p, e = readPath(c.tid, c.args[path])
	if e != 0 {
		return false, false, "", e
	}
	switch {
	case len(p) > 0 && p[0] == '/':
		return c.s.under(p), false, p, 0
	case dirOurs:
		return true, false, p, 0
	case fromCwd && hasCwd:
		return true, true, p, 0
	}
	return false, false, p, 0 // from a host directory
}
