package supervise

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// A proc is one supervised process: its fds of the other kernel, as the
// child numbers them (fdBase up), and the host epolls into which it has
// put some of them.
type proc struct {
	pid int
	k   sys.Kernel // the other kernel for this process's pointers; nil: none

	mu     sync.Mutex
	fds    map[int]*lfd
	epolls map[int]*mixedEpoll // by the child's epoll fd (a host fd)
	// cwd, when the working directory is the other kernel's: a directory
	// fd there, and its path when known (chdir; "" after fchdir).
	cwd     *lfd
	cwdPath string
	pfd     int // a pidfd of the process, once made
	// sharesFiles: the process shares its parent's fd table without
	// being one of its threads (clone with CLONE_FILES but not
	// CLONE_THREAD). The supervisor keeps a table per process, so its
	// calls are refused rather than answered from a copy that would
	// drift from the parent's.
	sharesFiles bool
}

// An lfd is one fd of the other kernel that a child fd number names. The
// table holds a reference; every call using it holds one more, so that a
// close by one thread never closes (and lets the kernel reuse) the fd
// under another thread's call: the last reference closes it.
type lfd struct {
	fd      int // the other kernel's fd
	cloexec bool
	refs    int
	sock    bool
	// file: a regular file or a directory, whose calls never wait for
	// another process (quick answers them in the loop)
	file bool
}

// get returns the entry of child fd n with a reference, or nil.
func (p *proc) get(n int) *lfd {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.fds[n]
	if l != nil {
		l.refs++
	}
	return l
}

// put drops a reference got by get; the last one closes the fd.
func (p *proc) put(s *supervisor, l *lfd) {
	p.mu.Lock()
	l.refs--
	last := l.refs == 0
	p.mu.Unlock()
	if last {
		s.closeFD(l)
	}
}

// closeFD closes fd l of the other kernel.
func (s *supervisor) closeFD(l *lfd) {
	sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(l.fd), 0, 0, 0, 0, 0)
}

// add gives the other kernel's fd a child number, the lowest free one
// from at least min (and fdBase), and returns it.
func (p *proc) add(fd int, min int, cloexec, sock bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := max(min, fdBase)
	for p.fds[n] != nil {
		n++
	}
	p.fds[n] = &lfd{fd: fd, cloexec: cloexec, sock: sock, refs: 1}
	return n
}

// set makes child number n name fd (dup2), and returns the entry it
// replaced, whose table reference the caller drops.
func (p *proc) set(n, fd int, cloexec, sock bool) *lfd {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.fds[n]
	p.fds[n] = &lfd{fd: fd, cloexec: cloexec, sock: sock, refs: 1}
	return old
}

// remove takes child number n out of the table and returns its entry
// (nil if none), whose table reference the caller drops.
func (p *proc) remove(n int) *lfd {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.fds[n]
	delete(p.fds, n)
	return l
}

// setFile marks child fd n a regular file or directory.
func (p *proc) setFile(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.fds[n]; l != nil {
		l.file = true
	}
}

// setCloexec sets or clears the close-on-exec flag of child fd n.
func (p *proc) setCloexec(n int, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.fds[n]; l != nil {
		l.cloexec = on
	}
}

// closeOnExec closes the fds marked close-on-exec: the process is
// executing a new program.
func (p *proc) closeOnExec(s *supervisor) {
	p.mu.Lock()
	var gone []*lfd
	for n, l := range p.fds {
		if l.cloexec {
			delete(p.fds, n)
			gone = append(gone, l)
		}
	}
	p.mu.Unlock()
	for _, l := range gone {
		p.put(s, l)
	}
}

// closeAll closes every fd of the process (it has exited) and the
// supervisor's copies of its epolls. With shutdown, its sockets are shut
// down first, which wakes a call blocked on one (a shutdown acts on the
// socket, not the fd: this is for when no process is left that could
// share it).
func (p *proc) closeAll(s *supervisor, shutdown bool) {
	p.mu.Lock()
	fds, eps, pfd, cwd := p.fds, p.epolls, p.pfd, p.cwd
	p.fds, p.epolls, p.pfd, p.cwd = map[int]*lfd{}, map[int]*mixedEpoll{}, 0, nil
	p.mu.Unlock()
	if cwd != nil {
		p.put(s, cwd)
	}
	if pfd > 0 {
		s.host.Close(pfd)
	}
	for _, l := range fds {
		if shutdown && l.sock {
			sys.SyscallOn(s.k, unix.SYS_SHUTDOWN, uintptr(l.fd), unix.SHUT_RDWR, 0, 0, 0, 0)
		}
		p.put(s, l)
	}
	for _, ep := range eps {
		ep.close(s)
	}
}

// forkInto gives child, a process p forked, copies (dups) of p's fds
// under the same numbers, as fork does.
func (p *proc) forkInto(s *supervisor, child *proc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, l := range p.fds {
		fd, _, e := sys.SyscallOn(s.k, unix.SYS_FCNTL, uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0, 0, 0, 0)
		if e != 0 {
			continue
		}
		child.fds[n] = &lfd{fd: int(fd), cloexec: l.cloexec, sock: l.sock, file: l.file, refs: 1}
	}
	if p.cwd != nil {
		if fd, _, e := sys.SyscallOn(s.k, unix.SYS_FCNTL, uintptr(p.cwd.fd), unix.F_DUPFD_CLOEXEC, 0, 0, 0, 0); e == 0 {
			child.cwd, child.cwdPath = &lfd{fd: int(fd), file: true, refs: 1}, p.cwdPath
		}
	}
}

// isOurs reports whether fd number a (a system call argument) is in the
// range of the other kernel's fds.
func isOurs(a uintptr) bool {
	n := int32(uint32(a))
	return n >= fdBase
}

// errBadFD is the answer for a number in our range that the process has
// not got.
const errBadFD = syscall.EBADF

// A mixedEpoll is a host epoll of a process into which it has put fds of
// the other kernel: the supervisor's copy of the host epoll, and an epoll
// of the other kernel holding those fds with the process's data.
type mixedEpoll struct {
	host int // the supervisor's fd for the process's epoll
	ours int // the other kernel's epoll
}

func (ep *mixedEpoll) close(s *supervisor) {
	s.host.Close(ep.host)
	sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(ep.ours), 0, 0, 0, 0, 0)
}

// pidfd returns a pidfd of the process, made on first use.
func (p *proc) pidfd(s *supervisor) (int, sys.Errno) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pfd > 0 {
		return p.pfd, 0
	}
	fd, _, e := sys.SyscallOn(sys.Host(), unix.SYS_PIDFD_OPEN, uintptr(p.pid), 0, 0, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	s.host.CloseOnExec(int(fd))
	p.pfd = int(fd)
	return p.pfd, 0
}

// getCwd returns the working directory's entry with a reference and its
// path, or nil when the working directory is the host's.
func (p *proc) getCwd() (*lfd, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cwd != nil {
		p.cwd.refs++
	}
	return p.cwd, p.cwdPath
}

// setCwd makes the other kernel's directory fd (nil: none, the host's)
// the working directory and drops the old one.
func (p *proc) setCwd(s *supervisor, fd *lfd, path string) {
	p.mu.Lock()
	old := p.cwd
	p.cwd, p.cwdPath = fd, path
	p.mu.Unlock()
	if old != nil {
		p.put(s, old)
	}
}
