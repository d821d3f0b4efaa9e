//go:build amd64

package supervise

import (
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// Bridged stream sockets (Options.Sockets == SocketsBridge, docs/run.md).
// A TCP socket the program makes is, in the program, one end of a host
// socketpair(AF_UNIX, SOCK_STREAM), put into its fd table with
// SECCOMP_IOCTL_NOTIF_ADDFD; the supervisor holds the other end ("mine")
// and the other kernel's socket, and moves the bytes between them. So the
// program's read, write, sendfile, epoll, dup, fork… on it are host calls
// with no round trip; the calls that make or name a connection (bind,
// connect, listen, accept, the socket options and names) stay the
// supervisor's, which tells a bridge from any other host socket by the
// inode behind the program's fd number.
//
// Each connected bridge has two pumps, one goroutine per direction, each
// blocking in a read of one side and a write of the other: at most one
// chunk in flight per direction, so the other side's backpressure stops
// the reading. A listening bridge has a poller that keeps one byte (a
// token) readable at the program's end exactly while the other kernel's
// listener has a connection waiting. One watcher, on a host epoll of every
// bridge's end, sees the program close its last copy (EPOLLHUP).

// bridgeChunk is what a pump moves at a time.
const bridgeChunk = 64 << 10

// bridgeCalls are the socket calls the filter sends for every fd when
// bridging: on a bridge they are the other kernel's, on any other host
// fd the host's.
var bridgeCalls = map[uintptr]bool{
	unix.SYS_BIND: true, unix.SYS_LISTEN: true, unix.SYS_ACCEPT: true, unix.SYS_ACCEPT4: true,
	unix.SYS_CONNECT: true, unix.SYS_GETSOCKNAME: true, unix.SYS_GETPEERNAME: true,
	unix.SYS_SETSOCKOPT: true, unix.SYS_GETSOCKOPT: true,
}

// A bridge is one bridged socket.
type bridge struct {
	id   uint32
	ino  uint64 // the program's end's inode
	lfd  int    // the other kernel's socket
	mine int    // the supervisor's end of the pair

	mu        sync.Mutex
	refs      int  // the registry's, the pumps', the poller's, calls'
	pumping   bool // connected: the pumps run
	listening bool
	token     bool // a token byte is readable at the program's end
	hup       bool // the program has closed its last copy
	consumed  chan struct{}
}

// bridges are a supervisor's bridges: by the inode of the program's end
// until it is closed, and by id (the watcher's epoll data) until the
// last reference goes.
type bridges struct {
	mu       sync.Mutex
	byIno    map[uint64]*bridge
	live     map[uint32]*bridge
	next     uint32
	ep, wake int // the watcher's host epoll and the eventfd that ends it; 0 before the first bridge
	stopping bool
}

// bridging reports whether the program's TCP sockets are bridged.
func (s *supervisor) bridging() bool { return s.o.Sockets == SocketsBridge }

// isStream reports whether socket(family, typ, proto) makes a TCP
// socket, which a bridge carries.
func isStream(family, typ, proto uintptr) bool {
	return (family == unix.AF_INET || family == unix.AF_INET6) && typ&0xf == unix.SOCK_STREAM &&
		(proto == 0 || proto == unix.IPPROTO_TCP)
}

// bridgeSocket answers socket() for a TCP socket: a socket of the other
// kernel and a host pair whose end the program gets.
func (c *call) bridgeSocket() result {
	fd, _, e := sys.SyscallOn(c.s.k, unix.SYS_SOCKET, c.args[0], unix.SOCK_STREAM|unix.SOCK_CLOEXEC, c.args[2], 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	return c.s.newBridge(c, int(fd), c.args[1], false)
}

// newBridge makes the bridge of the other kernel's socket lfd, puts its
// program end into the caller's table (flags: SOCK_NONBLOCK,
// SOCK_CLOEXEC) and answers the call with the number; with connected,
// its pumps start.
func (s *supervisor) newBridge(c *call, lfd int, flags uintptr, connected bool) result {
	fail := func(e sys.Errno) result {
		sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(lfd), 0, 0, 0, 0, 0)
		return result{err: e}
	}
	pair, err := s.host.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(errnoOf(err))
	}
	mine, theirs := pair[0], pair[1]
	var st unix.Stat_t
	if err := s.host.Fstat(theirs, &st); err != nil {
		s.host.Close(mine)
		s.host.Close(theirs)
		return fail(errnoOf(err))
	}
	if flags&unix.SOCK_NONBLOCK != 0 {
		s.host.SetNonblock(theirs, true)
	}
	b := &bridge{ino: st.Ino, lfd: lfd, mine: mine, refs: 1, consumed: make(chan struct{}, 1)}
	if e := s.bridges.add(s, b); e != 0 {
		s.host.Close(mine)
		s.host.Close(theirs)
		return fail(e)
	}
	addfd := seccompNotifAddfd{ID: c.id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(theirs)}
	if flags&unix.SOCK_CLOEXEC != 0 {
		addfd.NewfdFlags = unix.O_CLOEXEC
	}
	n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, uintptr(s.listener), unix.SECCOMP_IOCTL_NOTIF_ADDFD, uintptr(unsafe.Pointer(&addfd)), 0, 0, 0)
	s.host.Close(theirs)
	if e != 0 { // the caller is gone
		s.bridges.hangUp(s, b)
		return result{err: e, sent: true}
	}
	if connected {
		b.startPumps(s)
	}
	return result{val: n, sent: true}
}

// add registers b and watches its end.
func (bs *bridges) add(s *supervisor, b *bridge) sys.Errno {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.stopping {
		return syscall.ESRCH
	}
	if bs.byIno == nil {
		ep, err := s.host.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return errnoOf(err)
		}
		wake, err := s.host.EventFD(0, unix.EFD_CLOEXEC)
		if err != nil {
			s.host.Close(ep)
			return errnoOf(err)
		}
		if err := s.host.EpollCtl(ep, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
			s.host.Close(ep)
			s.host.Close(wake)
			return errnoOf(err)
		}
		bs.ep, bs.wake = ep, wake
		bs.byIno, bs.live = map[uint64]*bridge{}, map[uint32]*bridge{}
		s.calls.Add(1)
		go func() {
			defer s.calls.Done()
			bs.watch(s)
		}()
	}
	bs.next++
	if bs.next == 0 { // 0 is the eventfd's
		bs.next++
	}
	b.id = bs.next
	// Events 0: EPOLLHUP and EPOLLERR only, which epoll always reports.
	if err := s.host.EpollCtl(bs.ep, unix.EPOLL_CTL_ADD, b.mine, &unix.EpollEvent{Fd: int32(b.id)}); err != nil {
		return errnoOf(err)
	}
	bs.byIno[b.ino] = b
	bs.live[b.id] = b
	return 0
}

// watch waits for the program to close its ends (EPOLLHUP; also when
// both directions have ended) and hangs each bridge up.
func (bs *bridges) watch(s *supervisor) {
	evs := make([]unix.EpollEvent, 64)
	for {
		n, err := s.host.EpollWait(bs.ep, evs, -1)
		if err != nil && errnoOf(err) != syscall.EINTR {
			return
		}
		for _, ev := range evs[:max(n, 0)] {
			if ev.Fd == 0 {
				return // stop
			}
			bs.mu.Lock()
			b := bs.live[uint32(ev.Fd)]
			bs.mu.Unlock()
			if b != nil {
				bs.hangUp(s, b)
			}
		}
	}
}

// hangUp ends a bridge whose program end is closed (or Run is ending),
// once: it leaves the registry, the other kernel's socket stops being
// read (which wakes the pump or poller blocked on it; what the program
// wrote before is still forwarded), and the registry's reference goes.
func (bs *bridges) hangUp(s *supervisor, b *bridge) {
	b.mu.Lock()
	done := b.hup
	b.hup = true
	b.mu.Unlock()
	if done {
		return
	}
	bs.mu.Lock()
	if bs.byIno[b.ino] == b {
		delete(bs.byIno, b.ino)
	}
	s.host.EpollCtl(bs.ep, unix.EPOLL_CTL_DEL, b.mine, nil)
	bs.mu.Unlock()
	select {
	case b.consumed <- struct{}{}:
	default:
	}
	sys.SyscallOn(s.k, unix.SYS_SHUTDOWN, uintptr(b.lfd), unix.SHUT_RD, 0, 0, 0, 0)
	b.release(s)
}

// stop ends every bridge (Run is ending: the program has exited): the
// watcher ends, and both sides of each bridge are shut down, so that
// every pump, poller and call blocked on one returns. No bridge is made
// after it.
func (bs *bridges) stop(s *supervisor) {
	bs.mu.Lock()
	bs.stopping = true
	if bs.byIno == nil {
		bs.mu.Unlock()
		return
	}
	one := uint64(1)
	sys.SyscallOn(sys.Host(), unix.SYS_WRITE, uintptr(bs.wake), uintptr(unsafe.Pointer(&one)), 8, 0, 0, 0)
	var all []*bridge
	for _, b := range bs.live {
		if b.hold() {
			all = append(all, b)
		}
	}
	bs.mu.Unlock()
	for _, b := range all {
		sys.SyscallOn(s.k, unix.SYS_SHUTDOWN, uintptr(b.lfd), unix.SHUT_RDWR, 0, 0, 0, 0)
		sys.SyscallOn(sys.Host(), unix.SYS_SHUTDOWN, uintptr(b.mine), unix.SHUT_RDWR, 0, 0, 0, 0)
		bs.hangUp(s, b)
		b.release(s)
	}
}

// close closes the watcher's fds, once every goroutine has ended.
func (bs *bridges) close(s *supervisor) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.ep > 0 {
		s.host.Close(bs.ep)
		s.host.Close(bs.wake)
		bs.ep, bs.wake = 0, 0
	}
}

// hold takes a reference to b, unless it has ended.
func (b *bridge) hold() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refs == 0 {
		return false
	}
	b.refs++
	return true
}

// release drops a reference; the last closes both fds.
func (b *bridge) release(s *supervisor) {
	b.mu.Lock()
	b.refs--
	last := b.refs == 0
	b.mu.Unlock()
	if last {
		s.bridges.mu.Lock()
		delete(s.bridges.live, b.id)
		s.bridges.mu.Unlock()
		sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(b.lfd), 0, 0, 0, 0, 0)
		s.host.Close(b.mine)
	}
}

// bridgeOf returns, with a reference, the bridge behind host fd n of
// thread tid, or nil when n is no bridge (a host socket, a pipe, no fd).
func (s *supervisor) bridgeOf(tid, n int) *bridge {
	if n < 0 {
		return nil
	}
	buf := make([]byte, 64)
	m, err := s.host.Readlink("/proc/"+strconv.Itoa(tid)+"/fd/"+strconv.Itoa(n), buf)
	if err != nil {
		return nil
	}
	v, ok := strings.CutPrefix(string(buf[:m]), "socket:[")
	if !ok {
		return nil
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
	if err != nil {
		return nil
	}
	s.bridges.mu.Lock()
	b := s.bridges.byIno[ino]
	s.bridges.mu.Unlock()
	if b == nil || !b.hold() {
		return nil
	}
	return b
}

// onBridge answers a bridgeCalls call on host fd args[0]: the other
// kernel's on a bridge, else the host's.
func (c *call) onBridge() result {
	b := c.s.bridgeOf(c.tid, int(int32(c.args[0])))
	if b == nil {
		return cont
	}
	defer b.release(c.s)
	k := c.kernel()
	if k == nil {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "no access to the process's memory (Options.ForProcess)")
	}
	switch c.nr {
	case unix.SYS_CONNECT:
		return c.bridgeConnect(b, k)
	case unix.SYS_LISTEN:
		return c.bridgeListen(b)
	case unix.SYS_ACCEPT, unix.SYS_ACCEPT4:
		return c.bridgeAccept(b, k)
	case unix.SYS_SETSOCKOPT, unix.SYS_GETSOCKOPT:
		// The timeouts are the program's end's: its reads and writes
		// are the host's. The pumps never time out.
		if c.args[1] == unix.SOL_SOCKET {
			switch c.args[2] {
			case unix.SO_RCVTIMEO, unix.SO_SNDTIMEO, unix.SO_RCVTIMEO_NEW, unix.SO_SNDTIMEO_NEW:
				return cont
			}
		}
	}
	r, _, e := sys.SyscallOn(k, c.nr, uintptr(b.lfd), c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
	return result{val: r, err: e}
}

// bridgeConnect connects the other kernel's socket, blocking until it is
// connected or has failed (for a non-blocking socket too: the program
// never sees a writable end that is not connected), then starts the pumps.
func (c *call) bridgeConnect(b *bridge, k sys.Kernel) result {
	_, _, e := sys.SyscallOn(k, unix.SYS_CONNECT, uintptr(b.lfd), c.args[1], c.args[2], 0, 0, 0)
	if e == syscall.EINTR {
		e = syscall.ETIMEDOUT
	}
	if e != 0 {
		return result{err: e}
	}
	b.startPumps(c.s)
	return result{}
}

// startPumps starts b's two pumps, once.
func (b *bridge) startPumps(s *supervisor) {
	b.mu.Lock()
	if b.pumping || b.refs == 0 {
		b.mu.Unlock()
		return
	}
	b.pumping = true
	b.refs += 2
	b.mu.Unlock()
	s.calls.Add(2)
	go func() {
		defer s.calls.Done()
		b.up(s)
	}()
	go func() {
		defer s.calls.Done()
		b.down(s)
	}()
}

// up moves what the program writes to the other kernel's socket until
// the program's end is shut for writing or closed (then the socket is
// shut down for writing: the peer reads the end after every byte), or the
// socket refuses (then the program's writes fail, EPIPE).
func (b *bridge) up(s *supervisor) {
	defer b.release(s)
	buf := make([]byte, bridgeChunk)
	for {
		n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_READ, uintptr(b.mine), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || n == 0 {
			break
		}
		if writeAll(s.k, b.lfd, buf[:n]) != 0 {
			sys.SyscallOn(sys.Host(), unix.SYS_SHUTDOWN, uintptr(b.mine), unix.SHUT_RD, 0, 0, 0, 0)
			return
		}
	}
	sys.SyscallOn(s.k, unix.SYS_SHUTDOWN, uintptr(b.lfd), unix.SHUT_WR, 0, 0, 0, 0)
}

// down moves what the other kernel's socket receives to the program
// until the socket's end (the peer's FIN, or a reset: the program reads
// the end of the stream either way), or the program has closed its end
// or shut it for reading (then the socket is shut for reading).
func (b *bridge) down(s *supervisor) {
	defer b.release(s)
	buf := make([]byte, bridgeChunk)
	for {
		n, _, e := sys.SyscallOn(s.k, unix.SYS_READ, uintptr(b.lfd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || n == 0 {
			sys.SyscallOn(sys.Host(), unix.SYS_SHUTDOWN, uintptr(b.mine), unix.SHUT_WR, 0, 0, 0, 0)
			return
		}
		if sendAll(b.mine, buf[:n]) != 0 {
			sys.SyscallOn(s.k, unix.SYS_SHUTDOWN, uintptr(b.lfd), unix.SHUT_RD, 0, 0, 0, 0)
			return
		}
	}
}

// sendAll sends p on host socket fd, with no SIGPIPE.
func sendAll(fd int, p []byte) sys.Errno {
	for len(p) > 0 {
		n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		p = p[n:]
	}
	return 0
}

// bridgeListen makes the other kernel's socket listen (non-blocking:
// accept decides whether to wait) and starts the poller.
func (c *call) bridgeListen(b *bridge) result {
	_, _, e := sys.SyscallOn(c.s.k, unix.SYS_LISTEN, uintptr(b.lfd), c.args[1], 0, 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	b.mu.Lock()
	if b.listening || b.refs == 0 {
		b.mu.Unlock()
		return result{}
	}
	b.listening = true
	b.refs++
	b.mu.Unlock()
	fl, _, _ := sys.SyscallOn(c.s.k, unix.SYS_FCNTL, uintptr(b.lfd), unix.F_GETFL, 0, 0, 0, 0)
	sys.SyscallOn(c.s.k, unix.SYS_FCNTL, uintptr(b.lfd), unix.F_SETFL, fl|unix.O_NONBLOCK, 0, 0, 0)
	c.s.calls.Add(1)
	go func() {
		defer c.s.calls.Done()
		b.poll(c.s)
	}()
	return result{}
}

// poll keeps a token byte readable at the program's end of a listener
// while the other kernel's listener has a connection waiting: it waits
// for one, writes the token and waits for an accept to take it.
func (b *bridge) poll(s *supervisor) {
	defer b.release(s)
	token := []byte{0}
	for {
		b.mu.Lock()
		hup := b.hup
		b.mu.Unlock()
		if hup {
			return
		}
		pfd := []unix.PollFd{{Fd: int32(b.lfd), Events: unix.POLLIN}}
		_, _, e := sys.SyscallOn(s.k, unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1, 0, 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || pfd[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			return
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		b.mu.Lock()
		if !b.token && !b.hup {
			if sendAll(b.mine, token) == 0 {
				b.token = true
			}
		}
		b.mu.Unlock()
		<-b.consumed
	}
}

// bridgeAccept accepts a connection on the other kernel's listener and
// gives the program a new bridge for it. A program's non-blocking
// listener gets EAGAIN when none waits; a blocking one waits in the other
// kernel. The token goes (the poller writes it again if more wait).
func (c *call) bridgeAccept(b *bridge, k sys.Kernel) result {
	theirs, e := c.hostFD(int(int32(c.args[0])))
	if e != 0 {
		return result{err: e}
	}
	defer c.s.host.Close(theirs)
	fl, err := c.s.host.FcntlGetfl(theirs)
	if err != nil {
		return result{err: errnoOf(err)}
	}
	flags := uintptr(0)
	if c.nr == unix.SYS_ACCEPT4 {
		flags = c.args[3]
		if flags&^(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0 {
			return result{err: syscall.EINVAL}
		}
	}
	defer b.takeToken(c.s, theirs)
	for {
		fd, _, e := sys.SyscallOn(k, unix.SYS_ACCEPT4, uintptr(b.lfd), c.args[1], c.args[2], unix.SOCK_CLOEXEC, 0, 0)
		if e == 0 {
			return c.s.newBridge(c, int(fd), flags, true)
		}
		if e != syscall.EAGAIN || fl&unix.O_NONBLOCK != 0 {
			return result{err: e}
		}
		// A blocking accept: wait for a connection, in slices, while the
		// caller still waits and the program still has the listener.
		pfd := []unix.PollFd{{Fd: int32(b.lfd), Events: unix.POLLIN}}
		ts := unix.Timespec{Nsec: 250e6}
		sys.SyscallOn(c.s.k, unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		b.mu.Lock()
		hup := b.hup
		b.mu.Unlock()
		if hup || !c.s.idValid(c.id) {
			return result{err: syscall.EINTR}
		}
	}
}

// takeToken takes the token byte from the program's end (theirs, the
// supervisor's copy) and lets the poller look again.
func (b *bridge) takeToken(s *supervisor, theirs int) {
	var t [1]byte
	b.mu.Lock()
	if b.token {
		n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_RECVFROM, uintptr(theirs), uintptr(unsafe.Pointer(&t[0])), 1, unix.MSG_DONTWAIT, 0, 0)
		if e == 0 && n == 1 {
			b.token = false
		}
	}
	b.mu.Unlock()
	select {
	case b.consumed <- struct{}{}:
	default:
	}
}
