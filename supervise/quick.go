//go:build amd64

package supervise

import (
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// quick reports whether the call of notification n returns at once, so
// that the loop answers it itself instead of in a goroutine of its own
// (which costs a thread hand-off on every call): fd table and socket
// set-up calls, waits with a zero timeout, and I/O on a socket of ours
// that is non-blocking (the other kernel says so). A call that may block
// must not be answered in the loop: the call that would unblock it could
// be the next notification.
func quick(s *supervisor, n *seccompNotif) bool {
	a := n.Data.Args
	switch uintptr(n.Data.Nr) {
	case unix.SYS_CLOSE, unix.SYS_DUP, unix.SYS_DUP2, unix.SYS_DUP3, unix.SYS_SOCKET, unix.SYS_SOCKETPAIR,
		unix.SYS_BIND, unix.SYS_LISTEN, unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME, unix.SYS_SETSOCKOPT,
		unix.SYS_GETSOCKOPT, unix.SYS_SHUTDOWN, unix.SYS_EPOLL_CTL, unix.SYS_CLOSE_RANGE, unix.SYS_EXECVE,
		unix.SYS_EXECVEAT, unix.SYS_MMAP, unix.SYS_FSTAT, unix.SYS_LSEEK, unix.SYS_FCHDIR, unix.SYS_GETCWD:
		return true
	case unix.SYS_FCNTL:
		return a[1] != unix.F_SETLKW && a[1] != unix.F_OFD_SETLKW
	case unix.SYS_EPOLL_WAIT, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_PWAIT2:
		if uintptr(n.Data.Nr) != unix.SYS_EPOLL_PWAIT2 && int32(a[3]) == 0 {
			return true
		}
		// An epoll with none of our fds: the host waits (FLAG_CONTINUE),
		// not the supervisor. (Bridged sockets are host fds.)
		s.mu.Lock()
		p := s.tids[int(n.Pid)]
		s.mu.Unlock()
		if p == nil {
			return false
		}
		p.mu.Lock()
		_, mixed := p.epolls[int(int32(a[0]))]
		p.mu.Unlock()
		return !mixed
	case unix.SYS_POLL:
		return int32(a[2]) == 0
	case unix.SYS_OPEN, unix.SYS_OPENAT, unix.SYS_OPENAT2, unix.SYS_CREAT:
		// Opening a FIFO of ours waits for the other end; with no
		// directory ours, only single files are (resolv.conf), and a host
		// path is the host's to open (FLAG_CONTINUE).
		return len(s.dirs) == 0
	case unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_RECVFROM, unix.SYS_SENDTO,
		unix.SYS_RECVMSG, unix.SYS_SENDMSG, unix.SYS_ACCEPT, unix.SYS_ACCEPT4, unix.SYS_CONNECT,
		unix.SYS_PREAD64, unix.SYS_PWRITE64, unix.SYS_PREADV, unix.SYS_PWRITEV, unix.SYS_GETDENTS64, unix.SYS_SENDFILE:
		if !isOurs(uintptr(a[0])) { // a host fd: a bridge's accept, connect or sendto may wait
			nr := uintptr(n.Data.Nr)
			return nr != unix.SYS_ACCEPT && nr != unix.SYS_ACCEPT4 && nr != unix.SYS_CONNECT && nr != unix.SYS_SENDTO
		}
		s.mu.Lock()
		p := s.tids[int(n.Pid)]
		s.mu.Unlock()
		if p == nil {
			return false
		}
		l := p.get(int(int32(a[0])))
		if l == nil {
			return true // EBADF
		}
		defer p.put(s, l)
		if l.file {
			return true
		}
		if !l.sock {
			return false
		}
		fl, _, e := sys.SyscallOn(s.k, unix.SYS_FCNTL, uintptr(l.fd), unix.F_GETFL, 0, 0, 0, 0)
		return e == 0 && fl&unix.O_NONBLOCK != 0
	}
	_, isPath := pathArgs[uintptr(n.Data.Nr)]
	return isPath // stat, mkdir, unlink, …: never wait for another process
}
