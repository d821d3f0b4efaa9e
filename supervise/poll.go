//go:build amd64

package supervise

import (
	"encoding/binary"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// Readiness. A wait on fds of one kernel waits in that kernel: only
// host fds, the host runs the call; only ours, the supervisor waits in
// the other kernel on its own copy of the fd set. A mixed set (a Go
// program's runtime puts its own eventfd and the program's sockets in one
// epoll) is waited for on both kernels at once: the supervisor takes
// copies of the process's host fds (pidfd_getfd) and blocks on them in
// one goroutine, on ours in another, and the first to wake wakes the
// other through an eventfd. Long waits are cut into slices, after each of
// which the supervisor checks that the caller still waits (a signal may
// have interrupted it).

// waitSlice is the longest a wait blocks before checking its caller.
const waitSlice = 250 * time.Millisecond

// maxPollFDs caps the fd sets the supervisor copies (RLIMIT_NOFILE's
// usual hard limit).
const maxPollFDs = 1 << 20

// hostFD returns a copy, in the supervisor, of host fd n of the process.
func (c *call) hostFD(n int) (int, sys.Errno) {
	pfd, e := c.p.pidfd(c.s)
	if e != 0 {
		return -1, e
	}
	fd, _, e := sys.SyscallOn(sys.Host(), unix.SYS_PIDFD_GETFD, uintptr(pfd), uintptr(n), 0, 0, 0, 0)
	return int(fd), e
}

// sameFile reports whether the process's host fd n and the supervisor's
// fd mine are one open file.
func (c *call) sameFile(n, mine int) bool {
	r, _, e := sys.SyscallOn(sys.Host(), unix.SYS_KCMP, uintptr(c.p.pid), uintptr(os.Getpid()), kcmpFile, uintptr(n), uintptr(mine), 0)
	return e == 0 && r == 0
}

// epoll returns the mixed epoll of the process's epoll fd n; with make,
// it makes one if there is none (or the number now names another file).
func (c *call) epoll(n int, make bool) (*mixedEpoll, sys.Errno) {
	c.p.mu.Lock()
	ep := c.p.epolls[n]
	c.p.mu.Unlock()
	if ep != nil && c.sameFile(n, ep.host) {
		return ep, 0
	}
	if ep != nil {
		c.p.mu.Lock()
		delete(c.p.epolls, n)
		c.p.mu.Unlock()
		ep.close(c.s)
	}
	if !make {
		return nil, 0
	}
	h, e := c.hostFD(n)
	if e != 0 {
		return nil, e
	}
	c.s.host.CloseOnExec(h)
	ours, _, e := sys.SyscallOn(c.s.k, unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC, 0, 0, 0, 0, 0)
	if e != 0 {
		c.s.host.Close(h)
		return nil, e
	}
	ep = &mixedEpoll{host: h, ours: int(ours)}
	c.p.mu.Lock()
	c.p.epolls[n] = ep
	c.p.mu.Unlock()
	return ep, 0
}

// epollCtl answers epoll_ctl(epfd, op, fd, event) for one of our fds: it
// goes into the other kernel's epoll paired with the process's.
func (c *call) epollCtl() result {
	if isOurs(c.args[0]) {
		return result{err: syscall.EINVAL} // the other kernel's epolls are not given out
	}
	l := c.p.get(int(int32(c.args[2])))
	if l == nil {
		return result{err: errBadFD}
	}
	defer c.p.put(c.s, l)
	c.p.mu.Lock()
	_, had := c.p.epolls[int(int32(c.args[0]))]
	c.p.mu.Unlock()
	ep, e := c.epoll(int(int32(c.args[0])), true)
	if e != 0 {
		return result{err: e}
	}
	var ev unix.EpollEvent
	if c.args[1] != unix.EPOLL_CTL_DEL {
		if e := readMem(c.tid, c.args[3], unsafe.Slice((*byte)(unsafe.Pointer(&ev)), unsafe.Sizeof(ev))); e != 0 {
			return result{err: e}
		}
	}
	_, _, e = sys.SyscallOn(c.s.k, unix.SYS_EPOLL_CTL, uintptr(ep.ours), c.args[1], uintptr(l.fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e == 0 && !had {
		c.kickWaiters()
	}
	return result{err: e}
}

// kickWaiters sends SIGURG to the process's other threads: the epoll
// has just become mixed, and a thread may be waiting in it on the host
// already (the host ran its wait), where nothing wakes it for the other
// kernel's events. A Go program's runtime handles SIGURG (its preemption
// signal): the wait returns EINTR and is made again, through the
// supervisor now. SIGURG is ignored by default, so a program without a
// handler is not disturbed (nor woken).
func (c *call) kickWaiters() {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(c.p.pid) + "/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil || tid == c.tid {
			continue
		}
		sys.SyscallOn(sys.Host(), unix.SYS_TGKILL, uintptr(c.p.pid), uintptr(tid), uintptr(syscall.SIGURG), 0, 0, 0)
	}
}

// epollWait answers epoll_wait, epoll_pwait and epoll_pwait2 on an epoll
// holding fds of ours; the host runs it on any other.
func (c *call) epollWait() result {
	ep, e := c.epoll(int(int32(c.args[0])), false)
	if e != 0 || ep == nil {
		return cont
	}
	max := int(int32(c.args[2]))
	if max <= 0 || max > maxPollFDs {
		return result{err: syscall.EINVAL}
	}
	timeout := time.Duration(int32(c.args[3])) * time.Millisecond
	if c.nr == unix.SYS_EPOLL_PWAIT2 {
		timeout = -1
		if c.args[3] != 0 {
			var ts unix.Timespec
			if e := readMem(c.tid, c.args[3], unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))); e != 0 {
				return result{err: e}
			}
			timeout = time.Duration(ts.Nano())
		}
	}
	evs := make([]unix.EpollEvent, max)
	harvest := func() (int, sys.Errno) {
		n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_EPOLL_PWAIT, uintptr(ep.host), uintptr(unsafe.Pointer(&evs[0])), uintptr(max), 0, 0, 0)
		if e != 0 {
			return 0, e
		}
		if int(n) < max {
			m, _, e := sys.SyscallOn(c.s.k, unix.SYS_EPOLL_PWAIT, uintptr(ep.ours), uintptr(unsafe.Pointer(&evs[n])), uintptr(max-int(n)), 0, 0, 0)
			if e == 0 {
				n += m
			}
		}
		return int(n), 0
	}
	hostSet := []unix.PollFd{{Fd: int32(ep.host), Events: unix.POLLIN}}
	ourSet := []unix.PollFd{{Fd: int32(ep.ours), Events: unix.POLLIN}}
	n, e := c.wait(timeout, harvest, hostSet, ourSet)
	if e != 0 || n == 0 {
		return result{err: e}
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&evs[0])), n*int(unsafe.Sizeof(evs[0])))
	if e := writeMem(c.tid, c.args[1], b); e != 0 {
		return result{err: e}
	}
	return result{val: uintptr(n)}
}

// poll answers poll and ppoll whose set holds fds of ours.
func (c *call) poll() result {
	nfds := int(c.args[1])
	if nfds == 0 || nfds > maxPollFDs {
		return cont
	}
	pfds := make([]unix.PollFd, nfds)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&pfds[0])), nfds*int(unsafe.Sizeof(pfds[0])))
	if e := readMem(c.tid, c.args[0], raw); e != 0 {
		return result{err: e}
	}
	if !slices.ContainsFunc(pfds, func(p unix.PollFd) bool { return p.Fd >= fdBase }) {
		return cont
	}
	timeout := time.Duration(-1)
	if c.nr == unix.SYS_POLL {
		if ms := int32(c.args[2]); ms >= 0 {
			timeout = time.Duration(ms) * time.Millisecond
		}
	} else if c.args[2] != 0 {
		var ts unix.Timespec
		if e := readMem(c.tid, c.args[2], unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))); e != 0 {
			return result{err: e}
		}
		timeout = time.Duration(ts.Nano())
	}
	n, e := c.pollFDs(pfds, timeout)
	if e != 0 {
		return result{err: e}
	}
	if e := writeMem(c.tid, c.args[0], raw); e != 0 {
		return result{err: e}
	}
	return result{val: uintptr(n)}
}

// pollFDs waits as poll does for the set pfds of the process's numbers
// (host fds and ours; negative: none) for up to timeout (negative: no
// limit), fills in their Revents (POLLNVAL for an fd the process has
// not got) and returns how many have some.
func (c *call) pollFDs(pfds []unix.PollFd, timeout time.Duration) (int, sys.Errno) {
	var hostIdx, ourIdx []int
	for i, p := range pfds {
		switch {
		case p.Fd < 0:
		case p.Fd >= fdBase:
			ourIdx = append(ourIdx, i)
		default:
			hostIdx = append(hostIdx, i)
		}
	}
	// Our copies of the sets: the process's host fds taken with
	// pidfd_getfd, ours translated; an fd it has not got is POLLNVAL.
	hostSet := make([]unix.PollFd, 0, len(hostIdx))
	ourSet := make([]unix.PollFd, 0, len(ourIdx))
	var held []*lfd
	defer func() {
		for _, l := range held {
			c.p.put(c.s, l)
		}
		for _, p := range hostSet {
			if p.Fd >= 0 {
				c.s.host.Close(int(p.Fd))
			}
		}
	}()
	for _, i := range hostIdx {
		fd, e := c.hostFD(int(pfds[i].Fd))
		if e != 0 {
			fd = -1
		}
		hostSet = append(hostSet, unix.PollFd{Fd: int32(fd), Events: pfds[i].Events})
	}
	for _, i := range ourIdx {
		l := c.p.get(int(pfds[i].Fd))
		fd := -1
		if l != nil {
			held = append(held, l)
			fd = l.fd
		}
		ourSet = append(ourSet, unix.PollFd{Fd: int32(fd), Events: pfds[i].Events})
	}
	check := func() (int, sys.Errno) {
		n := 0
		if len(hostSet) > 0 {
			sys.SyscallOn(sys.Host(), unix.SYS_PPOLL, uintptr(unsafe.Pointer(&hostSet[0])), uintptr(len(hostSet)), uintptr(unsafe.Pointer(&unix.Timespec{})), 0, 0, 0)
		}
		if len(ourSet) > 0 {
			sys.SyscallOn(c.s.k, unix.SYS_PPOLL, uintptr(unsafe.Pointer(&ourSet[0])), uintptr(len(ourSet)), uintptr(unsafe.Pointer(&unix.Timespec{})), 0, 0, 0)
		}
		for j, i := range hostIdx {
			pfds[i].Revents = hostSet[j].Revents
			if hostSet[j].Fd < 0 {
				pfds[i].Revents = unix.POLLNVAL
			}
		}
		for j, i := range ourIdx {
			pfds[i].Revents = ourSet[j].Revents
			if ourSet[j].Fd < 0 {
				pfds[i].Revents = unix.POLLNVAL
			}
		}
		for _, p := range pfds {
			if p.Revents != 0 {
				n++
			}
		}
		return n, 0
	}
	return c.wait(timeout, check, hostSet, ourSet)
}

// wait calls check until it finds something ready or timeout (negative:
// none) has passed, blocking in between on hostSet (host fds of the
// supervisor's) and ourSet (the other kernel's) at once. It returns
// EINTR when the caller has stopped waiting.
func (c *call) wait(timeout time.Duration, check func() (int, sys.Errno), hostSet, ourSet []unix.PollFd) (int, sys.Errno) {
	deadline := time.Now().Add(timeout)
	for {
		n, e := check()
		if n > 0 || e != 0 || timeout == 0 {
			return n, e
		}
		slice := waitSlice
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return 0, 0
			}
			slice = min(slice, left)
		}
		if !c.s.idValid(c.id) {
			return 0, syscall.EINTR
		}
		if e := c.s.block(slice, hostSet, ourSet); e != 0 {
			return 0, e
		}
	}
}

// block waits for up to d until an fd of hostSet (host) or ourSet (the
// other kernel) is ready, on both kernels at once.
func (s *supervisor) block(d time.Duration, hostSet, ourSet []unix.PollFd) sys.Errno {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	ppoll := func(k sys.Kernel, set []unix.PollFd) sys.Errno {
		_, _, e := sys.SyscallOn(k, unix.SYS_PPOLL, uintptr(unsafe.Pointer(&set[0])), uintptr(len(set)), uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		if e == syscall.EINTR {
			e = 0
		}
		return e
	}
	valid := func(set []unix.PollFd) []unix.PollFd {
		out := make([]unix.PollFd, 0, len(set)+1)
		for _, p := range set {
			if p.Fd >= 0 {
				out = append(out, unix.PollFd{Fd: p.Fd, Events: p.Events})
			}
		}
		return out
	}
	hs, os := valid(hostSet), valid(ourSet)
	switch {
	case len(hs) == 0 && len(os) == 0:
		time.Sleep(d)
		return 0
	case len(os) == 0:
		return ppoll(sys.Host(), hs)
	case len(hs) == 0:
		return ppoll(s.k, os)
	}
	// Both at once: ours in this goroutine, the host's in a helper, each
	// woken by the other through an eventfd. The other kernel's side
	// waits here because that is where a program's sockets are: when one
	// becomes ready, this returns at once (the caller harvests and
	// answers) instead of first waking the helper and waiting for it,
	// one thread wake-up less between the event and the answer. The
	// helper finishes on its own; whichever of the two is last closes
	// the eventfds, so neither writes to a closed one.
	ours := s.other
	hw, err := s.host.EventFD(0, unix.EFD_CLOEXEC)
	if err != nil {
		return syscall.ENOMEM
	}
	ow, err := ours.EventFD(0, unix.EFD_CLOEXEC)
	if err != nil {
		s.host.Close(hw)
		return syscall.ENOMEM
	}
	one := make([]byte, 8)
	binary.NativeEndian.PutUint64(one, 1)
	var users atomic.Int32
	users.Store(2)
	release := func() {
		if users.Add(-1) == 0 {
			s.host.Close(hw)
			ours.Close(ow)
		}
	}
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		ppoll(sys.Host(), append(hs, unix.PollFd{Fd: int32(hw), Events: unix.POLLIN}))
		ours.Write(ow, one)
		release()
	}()
	e := ppoll(s.k, append(os, unix.PollFd{Fd: int32(ow), Events: unix.POLLIN}))
	s.host.Write(hw, one)
	release()
	return e
}

// kcmpFile is KCMP_FILE from <linux/kcmp.h> (x/sys/unix has no kcmp
// constants).
const kcmpFile = 0
