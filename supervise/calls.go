//go:build amd64

package supervise

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// cont lets the host run the call.
var cont = result{cont: true}

// noPointers are the calls on an fd whose arguments hold no pointer:
// the supervisor makes them on its own kernel, which needs no access to
// the process's memory.
var noPointers = map[uintptr]bool{
	unix.SYS_LSEEK: true, unix.SYS_FSYNC: true, unix.SYS_FDATASYNC: true, unix.SYS_FTRUNCATE: true,
	unix.SYS_FCHMOD: true, unix.SYS_FCHOWN: true, unix.SYS_FLOCK: true, unix.SYS_FALLOCATE: true,
	unix.SYS_FADVISE64: true, unix.SYS_READAHEAD: true, unix.SYS_SYNCFS: true, unix.SYS_SYNC_FILE_RANGE: true,
	unix.SYS_LISTEN: true, unix.SYS_SHUTDOWN: true,
}

// inetFamilies are the socket families whose sockets are the other
// kernel's: its TCP/IP stack, its routing and links (netlink) and its
// raw packets.
var inetFamilies = map[uintptr]bool{unix.AF_INET: true, unix.AF_INET6: true, unix.AF_NETLINK: true, unix.AF_PACKET: true}

// answer answers c.
func answer(c *call) result {
	if c.p.sharesFiles {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "a process sharing its parent's fd table (clone with CLONE_FILES but not CLONE_THREAD) is not followed")
	}
	if bridgeCalls[c.nr] && !isOurs(c.args[0]) && c.s.bridging() {
		return c.onBridge()
	}
	switch c.nr {
	case unix.SYS_CLOSE:
		return c.close()
	case unix.SYS_DUP:
		return c.dup(c.args[0], 0, false)
	case unix.SYS_DUP2, unix.SYS_DUP3:
		return c.dup2()
	case unix.SYS_FCNTL:
		return c.fcntl()
	case unix.SYS_SOCKET:
		return c.socket()
	case unix.SYS_SOCKETPAIR:
		if inetFamilies[c.args[0]] {
			return result{err: syscall.EOPNOTSUPP} // as Linux answers
		}
		return cont
	case unix.SYS_ACCEPT, unix.SYS_ACCEPT4:
		return c.accept()
	case unix.SYS_SENDMSG:
		if !isOurs(c.args[0]) {
			return c.hostSendmsg()
		}
		return c.onFDs(fd0)
	case unix.SYS_MMAP:
		return c.s.refuse(c, syscall.ENODEV, "mmap of a file of the other kernel")
	case unix.SYS_SENDFILE:
		if isOurs(c.args[0]) && !isOurs(c.args[1]) {
			return c.sendfileFromHost()
		}
	case unix.SYS_FCHDIR:
		return c.fchdir()
	case unix.SYS_GETCWD:
		return c.getcwd()
	case unix.SYS_EPOLL_CTL:
		return c.epollCtl()
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
		return c.epollWait()
	case unix.SYS_POLL, unix.SYS_PPOLL:
		return c.poll()
	case unix.SYS_SELECT, unix.SYS_PSELECT6:
		return c.selectFDs()
	case unix.SYS_CLOSE_RANGE:
		return c.closeRange()
	case unix.SYS_EXECVE, unix.SYS_EXECVEAT:
		return c.execve()
	}
	if pa, ok := pathArgs[c.nr]; ok {
		return c.path(pa.dirfd, pa.path, pa.dirfd2, pa.path2)
	}
	for _, r := range rules {
		if r.nr == c.nr && r.class == fdArgs {
			return c.onFDs(r.fds)
		}
	}
	return c.s.refuse(c, syscall.ENOSYS, "no handler")
}

// kernel returns the kernel for c's pointers, or nil when there is
// none (Options.ForProcess).
func (c *call) kernel() sys.Kernel {
	if noPointers[c.nr] {
		return c.s.k
	}
	return c.p.k
}

// onFDs makes c on the other kernel with its fd arguments (mask)
// translated; a mix of host fds and ours is refused.
func (c *call) onFDs(mask uint8) result {
	args := c.args
	var held []*lfd
	defer func() {
		for _, l := range held {
			c.p.put(c.s, l)
		}
	}()
	host := 0
	for i := range 6 {
		if mask&(1<<i) == 0 {
			continue
		}
		if !isOurs(args[i]) {
			host++
			continue
		}
		l := c.p.get(int(int32(args[i])))
		if l == nil {
			return result{err: errBadFD}
		}
		held = append(held, l)
		args[i] = uintptr(l.fd)
		if l.file && c.s.writePumps.Load() > 0 {
			c.s.barrier()
		}
	}
	if host > 0 {
		if c.nr == unix.SYS_COPY_FILE_RANGE {
			return result{err: syscall.EXDEV} // callers copy by read and write
		}
		return c.s.refuse(c, syscall.EINVAL, "a host fd with an fd of the other kernel")
	}
	k := c.kernel()
	if k == nil {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "no access to the process's memory (Options.ForProcess)")
	}
	r, _, e := sys.SyscallOn(k, c.nr, args[0], args[1], args[2], args[3], args[4], args[5])
	return result{val: r, err: e}
}

// newFD gives fd, just made by the other kernel for c, a child number;
// the undo closes it again.
func (c *call) newFD(fd uintptr, min int, cloexec, sock bool) result {
	n := c.p.add(int(fd), min, cloexec, sock)
	return result{val: uintptr(n), undo: func() {
		if l := c.p.remove(n); l != nil {
			c.p.put(c.s, l)
		}
	}}
}

func (c *call) close() result {
	l := c.p.remove(int(int32(c.args[0])))
	if l == nil {
		return result{err: errBadFD}
	}
	c.p.put(c.s, l)
	return result{}
}

// dup duplicates child fd a to the lowest free number from min.
func (c *call) dup(a uintptr, min int, cloexec bool) result {
	l := c.p.get(int(int32(a)))
	if l == nil {
		return result{err: errBadFD}
	}
	defer c.p.put(c.s, l)
	fd, _, e := sys.SyscallOn(c.s.k, unix.SYS_DUP, uintptr(l.fd), 0, 0, 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	return c.newFD(fd, min, cloexec, l.sock)
}

func (c *call) dup2() result {
	oldOurs, newOurs := isOurs(c.args[0]), isOurs(c.args[1])
	var flags uintptr
	if c.nr == unix.SYS_DUP3 {
		flags = c.args[2]
		if flags&^unix.O_CLOEXEC != 0 || c.args[0] == c.args[1] {
			return result{err: syscall.EINVAL}
		}
	}
	if oldOurs && !newOurs && int32(uint32(c.args[1])) >= 0 {
		return c.redirect(flags)
	}
	if !oldOurs || !newOurs {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "dup2 of a host fd onto a number of the other kernel")
	}
	l := c.p.get(int(int32(c.args[0])))
	if l == nil {
		return result{err: errBadFD}
	}
	defer c.p.put(c.s, l)
	if c.args[0] == c.args[1] {
		return result{val: c.args[1]}
	}
	fd, _, e := sys.SyscallOn(c.s.k, unix.SYS_DUP, uintptr(l.fd), 0, 0, 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	if old := c.p.set(int(int32(c.args[1])), int(fd), flags&unix.O_CLOEXEC != 0, l.sock); old != nil {
		c.p.put(c.s, old)
	}
	return result{val: c.args[1]}
}

func (c *call) fcntl() result {
	n := int(int32(c.args[0]))
	switch c.args[1] {
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC:
		if min := int32(c.args[2]); min < 0 || min >= maxFD {
			return result{err: syscall.EINVAL}
		}
		return c.dup(c.args[0], int(int32(c.args[2])), c.args[1] == unix.F_DUPFD_CLOEXEC)
	case unix.F_GETFD, unix.F_SETFD:
		l := c.p.get(n)
		if l == nil {
			return result{err: errBadFD}
		}
		defer c.p.put(c.s, l)
		if c.args[1] == unix.F_SETFD {
			c.p.setCloexec(n, c.args[2]&unix.FD_CLOEXEC != 0)
			return result{}
		}
		if l.cloexec {
			return result{val: unix.FD_CLOEXEC}
		}
		return result{}
	case unix.F_GETFL, unix.F_SETFL:
		c.nr = unix.SYS_FCNTL
		l := c.p.get(n)
		if l == nil {
			return result{err: errBadFD}
		}
		defer c.p.put(c.s, l)
		r, _, e := sys.SyscallOn(c.s.k, unix.SYS_FCNTL, uintptr(l.fd), c.args[1], c.args[2], 0, 0, 0)
		return result{val: r, err: e}
	}
	return c.onFDs(fd0)
}

// maxFD bounds the child numbers of our fds (F_DUPFD's minimum).
const maxFD = 1 << 30

// execve closes the process's fds marked close-on-exec and lets the host
// run the call; when the program is not there to execute (a shell's
// search along PATH tries several), nothing is closed: the call will
// fail and the process goes on with its fds.
func (c *call) execve() result {
	if c.nr == unix.SYS_EXECVE {
		path, e := readPath(c.tid, c.args[0])
		if e != 0 {
			return cont // the host says EFAULT
		}
		if !strings.HasPrefix(path, "/") { // from the process's working directory
			if cwd, _ := c.p.getCwd(); cwd != nil {
				c.p.put(c.s, cwd)
				// The host would look for it in the host's working
				// directory: another file, or none.
				return c.s.refuse(c, syscall.EOPNOTSUPP, "executing a program by a path relative to a working directory in the other kernel")
			}
			path = "/proc/" + strconv.Itoa(c.tid) + "/cwd/" + path
		}
		if err := c.s.host.Access(path, unix.X_OK); err != nil {
			return cont
		}
	}
	c.p.closeOnExec(c.s)
	return cont
}

func (c *call) socket() result {
	if !inetFamilies[c.args[0]] {
		return cont
	}
	if c.s.bridging() && isStream(c.args[0], c.args[1], c.args[2]) {
		return c.bridgeSocket()
	}
	fd, _, e := sys.SyscallOn(c.s.k, unix.SYS_SOCKET, c.args[0], c.args[1], c.args[2], 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	return c.newFD(fd, 0, c.args[1]&unix.SOCK_CLOEXEC != 0, true)
}

func (c *call) accept() result {
	r := c.onFDs(fd0)
	if r.err != 0 || r.refused != "" {
		return r
	}
	cloexec := c.nr == unix.SYS_ACCEPT4 && c.args[3]&unix.SOCK_CLOEXEC != 0
	return c.newFD(r.val, 0, cloexec, true)
}

func (c *call) closeRange() result {
	first, last, flags := uint32(c.args[0]), uint32(c.args[1]), c.args[2]
	if last >= fdBase && first <= last {
		c.p.mu.Lock()
		var gone []*lfd
		for n, l := range c.p.fds {
			if uint32(n) < first || uint32(n) > last {
				continue
			}
			if flags&unix.CLOSE_RANGE_CLOEXEC != 0 {
				l.cloexec = true
				continue
			}
			delete(c.p.fds, n)
			gone = append(gone, l)
		}
		c.p.mu.Unlock()
		for _, l := range gone {
			c.p.put(c.s, l)
		}
	}
	return cont // the host closes its own fds in the range
}
