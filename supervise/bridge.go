//go:build amd64

package supervise

import (
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// Two event loops move the bytes: one waits on a host epoll of every
// bridge's end, one on an epoll of the other kernel holding every
// bridge's socket (both edge-triggered; the fds are non-blocking). An
// event on either side runs the direction it concerns: read from its
// source into the direction's buffer (one chunk) while that is empty,
// write the buffer to the destination while it is not, until a side says
// EAGAIN. So a side is read only when the other has taken what was read
// before (backpressure), and one wake-up of a loop serves every bridge
// that is ready. A listening bridge keeps one byte (a token) readable at
// the program's end exactly while the other kernel's listener has a
// connection waiting. The host loop also sees the program close its last
// copy of an end (EPOLLHUP).

// bridgeChunk is the most a direction of a bridge holds.
const bridgeChunk = 64 << 10

// bridgeCalls are the socket calls the filter sends for every fd when
// bridging: on a bridge they are the other kernel's, on any other host
// fd the host's.
var bridgeCalls = map[uintptr]bool{
	unix.SYS_BIND: true, unix.SYS_LISTEN: true, unix.SYS_ACCEPT: true, unix.SYS_ACCEPT4: true,
	unix.SYS_CONNECT: true, unix.SYS_GETSOCKNAME: true, unix.SYS_GETPEERNAME: true,
	unix.SYS_SETSOCKOPT: true, unix.SYS_GETSOCKOPT: true,
	unix.SYS_IOCTL: true, // only socket requests (0x89xx) on a host fd: the filter's sockIoctl
	// only with an address or out-of-band data: the filter's msgArgs
	unix.SYS_SENDTO: true, unix.SYS_RECVFROM: true,
}

// A bridge is one bridged socket.
type bridge struct {
	id   uint32
	ino  uint64 // the program's end's inode
	lfd  int    // the other kernel's socket
	mine int    // the supervisor's end of the pair (non-blocking)

	mu        sync.Mutex
	refs      int         // the registry's, and one per call or event using it
	listening bool        // its socket listens
	token     bool        // a token byte is readable at the program's end
	hup       bool        // the program has closed its last copy
	finished  bool        // the registry's reference is gone
	started   bool        // startPumps has begun
	pumping   atomic.Bool // the flows run (set once their fds are ready)

	up, down flow // program to socket, socket to program
}

// A flow is one direction of a bridge: at most one chunk read from its
// source and not yet written to its destination.
type flow struct {
	mu       sync.Mutex
	buf      *[bridgeChunk]byte // from chunks while it holds bytes, else nil
	off, end int                // buf[off:end] is still to be written
	eof      bool               // the source has ended
	shut     bool               // the destination has been told (shutdown)
	dead     bool               // the destination refused: the source is no longer read
}

// done reports whether nothing more will move.
func (f *flow) done() bool { return f.shut || f.dead }

// chunks are the flows' buffers: a flow holds one only while bytes are
// in it, so idle connections cost none.
var chunks = sync.Pool{New: func() any { return new([bridgeChunk]byte) }}

// take gives f a buffer if it has none.
func (f *flow) take() {
	if f.buf == nil {
		f.buf = chunks.Get().(*[bridgeChunk]byte)
	}
}

// giveBack returns f's buffer when it holds nothing.
func (f *flow) giveBack() {
	if f.buf != nil && f.off == f.end {
		chunks.Put(f.buf)
		f.buf = nil
	}
}

// bridges are a supervisor's bridges: by the inode of the program's end
// until it is closed, and by id (the loops' epoll data) until the last
// reference goes; and the two loops' epolls.
type bridges struct {
	mu       sync.Mutex
	byIno    map[uint64]*bridge
	live     map[uint32]*bridge
	next     uint32
	hep      int // the host loop's epoll
	hwake    int // a host eventfd in it that ends the loop
	lep      int // the other kernel's loop's epoll
	lwake    int // an eventfd of the other kernel in it that ends that loop
	loops    sync.WaitGroup
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
// its pumps start. It holds a reference of its own until it returns: once
// the program has the number it may close it at once, and the host loop
// may end the bridge (closing both fds, whose numbers the next socket
// gets) while this call still starts its pumps.
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
	s.host.SetNonblock(mine, true)
	var st unix.Stat_t
	if err := s.host.Fstat(theirs, &st); err != nil {
		s.host.Close(mine)
		s.host.Close(theirs)
		return fail(errnoOf(err))
	}
	if flags&unix.SOCK_NONBLOCK != 0 {
		s.host.SetNonblock(theirs, true)
	}
	b := &bridge{ino: st.Ino, lfd: lfd, mine: mine, refs: 2} // the registry's and this call's
	if e := s.bridges.add(s, b); e != 0 {
		s.host.Close(mine)
		s.host.Close(theirs)
		return fail(e)
	}
	defer b.release(s)
	n, e := s.addFD(c.id, theirs, -1, flags&unix.SOCK_CLOEXEC != 0)
	s.host.Close(theirs)
	if e != 0 { // the caller is gone
		s.bridges.hangUp(s, b)
		return result{err: e, sent: true}
	}
	if connected {
		if e := b.startPumps(s); e != 0 {
			s.bridges.hangUp(s, b) // the program reads the end at once
		}
	}
	return result{val: uintptr(n), sent: true}
}

// edge are the events a bridge's fds are watched for, on both kernels.
const edge = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// add registers b and watches its end; the first bridge starts the loops.
func (bs *bridges) add(s *supervisor, b *bridge) sys.Errno {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.stopping {
		return syscall.ESRCH
	}
	if bs.byIno == nil {
		if e := bs.start(s); e != 0 {
			return e
		}
	}
	bs.next++
	if bs.next == 0 { // 0 is the eventfds'
		bs.next++
	}
	b.id = bs.next
	if err := s.host.EpollCtl(bs.hep, unix.EPOLL_CTL_ADD, b.mine, &unix.EpollEvent{Events: edge, Fd: int32(b.id)}); err != nil {
		return errnoOf(err)
	}
	bs.byIno[b.ino] = b
	bs.live[b.id] = b
	return 0
}

// start makes the loops' epolls and starts them; bs.mu is held.
func (bs *bridges) start(s *supervisor) sys.Errno {
	var fds []int
	fail := func(e sys.Errno) sys.Errno {
		for i, fd := range fds {
			if i < 2 {
				s.host.Close(fd)
			} else {
				sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
			}
		}
		return e
	}
	mk := func(k sys.Kernel) (ep, wake int, e sys.Errno) {
		r, _, e := sys.SyscallOn(k, unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC, 0, 0, 0, 0, 0)
		if e != 0 {
			return 0, 0, e
		}
		fds = append(fds, int(r))
		w, _, e := sys.SyscallOn(k, unix.SYS_EVENTFD2, 0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK, 0, 0, 0, 0)
		if e != 0 {
			return 0, 0, e
		}
		fds = append(fds, int(w))
		ev := unix.EpollEvent{Events: unix.EPOLLIN} // data 0: the wake-up
		if _, _, e := sys.SyscallOn(k, unix.SYS_EPOLL_CTL, r, unix.EPOLL_CTL_ADD, w, uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
			return 0, 0, e
		}
		return int(r), int(w), 0
	}
	var e sys.Errno
	if bs.hep, bs.hwake, e = mk(sys.Host()); e != 0 {
		return fail(e)
	}
	if bs.lep, bs.lwake, e = mk(s.k); e != 0 {
		return fail(e)
	}
	bs.byIno, bs.live = map[uint64]*bridge{}, map[uint32]*bridge{}
	bs.loops.Add(2)
	go bs.loop(s, sys.Host(), bs.hep)
	go bs.loop(s, s.k, bs.lep)
	return 0
}

// loop waits for events on epoll ep of kernel k (the host's ends, or the
// other kernel's sockets) and runs the bridges' flows they concern, until
// stop wakes it.
func (bs *bridges) loop(s *supervisor, k sys.Kernel, ep int) {
	defer bs.loops.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	host := ep == bs.hep
	evs := make([]unix.EpollEvent, 128)
	lkl := make([]unix.EpollEvent, 128)
	for {
		n, _, e := sys.SyscallOn(k, unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), ^uintptr(0), 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return
		}
		if !bs.dispatch(s, host, evs[:n]) {
			return
		}
		if !host {
			continue
		}
		// What the host loop wrote to the other kernel's sockets is most
		// likely there already at the peer's socket (loopback): move it
		// on now rather than after a wake-up of the other loop.
		n, _, e = sys.SyscallOn(s.k, unix.SYS_EPOLL_PWAIT, uintptr(bs.lep), uintptr(unsafe.Pointer(&lkl[0])), uintptr(len(lkl)), 0, 0, 0)
		if e == 0 && n > 0 && !bs.dispatch(s, false, lkl[:n]) {
			// the other loop's stop: give it back
			one := uint64(1)
			sys.SyscallOn(s.k, unix.SYS_WRITE, uintptr(bs.lwake), uintptr(unsafe.Pointer(&one)), 8, 0, 0, 0)
		}
	}
}

// dispatch runs the bridges' flows that events evs of the host's epoll
// (host) or the other kernel's concern; false means stop.
func (bs *bridges) dispatch(s *supervisor, host bool, evs []unix.EpollEvent) bool {
	for _, ev := range evs {
		if ev.Fd == 0 {
			return false
		}
		bs.mu.Lock()
		b := bs.live[uint32(ev.Fd)]
		bs.mu.Unlock()
		if b == nil || !b.hold() {
			continue
		}
		b.event(s, host, ev.Events)
		b.release(s)
	}
	return true
}

// event runs what events ev of b's host end (host) or other kernel's
// socket say.
func (b *bridge) event(s *supervisor, host bool, ev uint32) {
	const in = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	const out = unix.EPOLLOUT | unix.EPOLLHUP | unix.EPOLLERR
	if !host && b.isListening() {
		if ev&unix.EPOLLIN != 0 {
			b.offerToken(s)
		}
		return
	}
	if host {
		if ev&in != 0 {
			b.pumpUp(s)
		}
		if ev&out != 0 {
			b.pumpDown(s)
		}
		if ev&unix.EPOLLHUP != 0 {
			s.bridges.hangUp(s, b)
		}
		return
	}
	if ev&in != 0 {
		b.pumpDown(s)
	}
	if ev&out != 0 {
		b.pumpUp(s)
	}
}

func (b *bridge) isListening() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.listening
}

// hangUp marks b's program end closed (or Run ending), once: it leaves
// the registry, and b ends once what the program wrote is forwarded.
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
	s.host.EpollCtl(bs.hep, unix.EPOLL_CTL_DEL, b.mine, nil)
	bs.mu.Unlock()
	b.maybeFinish(s, false)
}

// maybeFinish drops the registry's reference once the program has
// closed its end and what it wrote has been forwarded (or cannot be), or
// with force.
func (b *bridge) maybeFinish(s *supervisor, force bool) {
	b.up.mu.Lock()
	upDone := b.up.done() || !b.pumping.Load()
	b.up.mu.Unlock()
	b.mu.Lock()
	fin := !b.finished && (force || b.hup && upDone)
	if fin {
		b.finished = true
	}
	b.mu.Unlock()
	if fin {
		b.release(s)
	}
}

// stop ends every bridge (Run is ending: the program has exited): the
// loops end, and each socket of the other kernel is shut down, which
// returns a call blocked on one (connect, accept). No bridge is made
// after it.
func (bs *bridges) stop(s *supervisor) {
	bs.mu.Lock()
	bs.stopping = true
	if bs.byIno == nil {
		bs.mu.Unlock()
		return
	}
	one := uint64(1)
	sys.SyscallOn(sys.Host(), unix.SYS_WRITE, uintptr(bs.hwake), uintptr(unsafe.Pointer(&one)), 8, 0, 0, 0)
	sys.SyscallOn(s.k, unix.SYS_WRITE, uintptr(bs.lwake), uintptr(unsafe.Pointer(&one)), 8, 0, 0, 0)
	var all []*bridge
	for _, b := range bs.live {
		if b.hold() {
			all = append(all, b)
		}
	}
	bs.mu.Unlock()
	bs.loops.Wait()
	for _, b := range all {
		sys.SyscallOn(s.k, unix.SYS_SHUTDOWN, uintptr(b.lfd), unix.SHUT_RDWR, 0, 0, 0, 0)
		bs.hangUp(s, b)
		b.maybeFinish(s, true)
		b.release(s)
	}
}

// close closes the loops' fds, once they have ended.
func (bs *bridges) close(s *supervisor) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if bs.hep > 0 {
		s.host.Close(bs.hep)
		s.host.Close(bs.hwake)
		sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(bs.lep), 0, 0, 0, 0, 0)
		sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(bs.lwake), 0, 0, 0, 0, 0)
		bs.hep, bs.hwake, bs.lep, bs.lwake = 0, 0, 0, 0
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
	case unix.SYS_SENDTO, unix.SYS_RECVFROM:
		return c.bridgeMsg()
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

// bridgeMsg answers a sendto or recvfrom on a bridge that the host end
// could not honour (the filter's msgArgs). Out-of-band data and fast
// open are refused: the pair carries one ordered stream. A sendto with an
// address sends without it, as TCP ignores the address of a connected
// socket (the host's AF_UNIX would say EISCONN): the supervisor sends the
// bytes, at most sendfileChunk of them, on its copy of the program's end.
func (c *call) bridgeMsg() result {
	flags := c.args[3]
	if flags&(unix.MSG_OOB|unix.MSG_FASTOPEN) != 0 {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "out-of-band data or fast open on a bridged TCP socket")
	}
	if c.nr != unix.SYS_SENDTO {
		return cont
	}
	theirs, e := c.hostFD(int(int32(c.args[0])))
	if e != 0 {
		return result{err: e}
	}
	defer c.s.host.Close(theirs)
	buf := make([]byte, min(c.args[2], sendfileChunk))
	if len(buf) == 0 {
		return result{}
	}
	if e := readMem(c.tid, c.args[1], buf); e != 0 {
		return result{err: e}
	}
	// MSG_NOSIGNAL: the supervisor takes no SIGPIPE (nor, then, the program).
	n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_SENDTO, uintptr(theirs), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), flags|unix.MSG_NOSIGNAL, 0, 0)
	return result{val: n, err: e}
}

// bridgeConnect connects the other kernel's socket, blocking until it is
// connected or has failed (for a non-blocking socket too: the program
// never sees a writable end that is not connected), then starts the flows.
func (c *call) bridgeConnect(b *bridge, k sys.Kernel) result {
	_, _, e := sys.SyscallOn(k, unix.SYS_CONNECT, uintptr(b.lfd), c.args[1], c.args[2], 0, 0, 0)
	if e == syscall.EINTR {
		e = syscall.ETIMEDOUT
	}
	if e != 0 {
		return result{err: e}
	}
	if e := b.startPumps(c.s); e != 0 {
		return result{err: e}
	}
	return result{}
}

// startPumps makes b's socket non-blocking, puts it in the other
// kernel's loop and moves what is already there, once.
func (b *bridge) startPumps(s *supervisor) sys.Errno {
	b.mu.Lock()
	again := b.started
	b.started = true
	b.mu.Unlock()
	if again {
		return 0
	}
	if err := s.other.SetNonblock(b.lfd, true); err != nil {
		return errnoOf(err)
	}
	ev := unix.EpollEvent{Events: edge, Fd: int32(b.id)}
	if _, _, e := sys.SyscallOn(s.k, unix.SYS_EPOLL_CTL, uintptr(s.bridges.lep), unix.EPOLL_CTL_ADD, uintptr(b.lfd), uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
		return e
	}
	b.pumping.Store(true) // the loops run the flows from now on
	if testHookPumping != nil {
		testHookPumping()
	}
	b.pumpUp(s)
	b.pumpDown(s)
	return 0
}

// testHookPumping, if set, runs when a bridge's flows have started
// running in the loops, before startPumps runs them itself.
var testHookPumping func()

// A side is one fd of a bridge: the host end (send: written with
// sendto, MSG_NOSIGNAL) or the other kernel's socket.
type side struct {
	k    sys.Kernel
	fd   int
	send bool
}

func (sd side) read(p []byte) (uintptr, sys.Errno) {
	n, _, e := sys.SyscallOn(sd.k, unix.SYS_READ, uintptr(sd.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	return n, e
}

func (sd side) write(p []byte) (uintptr, sys.Errno) {
	if sd.send {
		n, _, e := sys.SyscallOn(sd.k, unix.SYS_SENDTO, uintptr(sd.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT, 0, 0)
		return n, e
	}
	n, _, e := sys.SyscallOn(sd.k, unix.SYS_WRITE, uintptr(sd.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	return n, e
}

func (sd side) shutdown(how int) {
	sys.SyscallOn(sd.k, unix.SYS_SHUTDOWN, uintptr(sd.fd), uintptr(how), 0, 0, 0, 0)
}

// pumpUp runs the flow from the program to the other kernel's socket
// (flow.run).
func (b *bridge) pumpUp(s *supervisor) {
	if b.pumping.Load() && b.up.run(side{sys.Host(), b.mine, true}, side{s.k, b.lfd, false}) {
		b.maybeFinish(s, false) // the program's writing has ended
	}
}

// pumpDown runs the flow from the other kernel's socket to the program.
func (b *bridge) pumpDown(s *supervisor) {
	if b.pumping.Load() {
		b.down.run(side{s.k, b.lfd, false}, side{sys.Host(), b.mine, true})
	}
}

// run moves bytes from src to dst until a side says EAGAIN, and reports
// whether the flow is done. At src's end (the program shut its end for
// writing or closed it; the peer's FIN, or a reset: the program reads the
// end of the stream either way) dst is shut for writing, after every
// byte. If dst refuses (the other kernel's socket is reset; the program
// has closed its end or shut it for reading), src is shut for reading:
// the program's writes fail (EPIPE), or the socket stops being read.
func (f *flow) run(src, dst side) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.giveBack()
	for !f.done() {
		if f.off == f.end && !f.eof {
			f.take()
			n, e := src.read(f.buf[:])
			switch {
			case e == syscall.EAGAIN:
				return false
			case e == syscall.EINTR:
				continue
			case e != 0 || n == 0:
				f.eof = true
			default:
				f.off, f.end = 0, int(n)
			}
		}
		if f.off < f.end {
			w, e := dst.write(f.buf[f.off:f.end])
			switch {
			case e == syscall.EAGAIN:
				return false
			case e == syscall.EINTR:
			case e != 0:
				f.dead, f.off = true, f.end // what is left is dropped
				src.shutdown(unix.SHUT_RD)
			default:
				f.off += int(w)
			}
			continue
		}
		if f.eof {
			dst.shutdown(unix.SHUT_WR)
			f.shut = true
		}
	}
	return true
}

// bridgeListen makes the other kernel's socket listen, non-blocking
// (accept decides whether to wait), in the other kernel's loop.
func (c *call) bridgeListen(b *bridge) result {
	_, _, e := sys.SyscallOn(c.s.k, unix.SYS_LISTEN, uintptr(b.lfd), c.args[1], 0, 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	b.mu.Lock()
	again := b.listening
	b.listening = true
	b.mu.Unlock()
	if again || b.pumping.Load() {
		return result{}
	}
	b.mu.Lock()
	b.started = true // no flows for a listener
	b.mu.Unlock()
	if err := c.s.other.SetNonblock(b.lfd, true); err != nil {
		return result{err: errnoOf(err)}
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(b.id)}
	if _, _, e := sys.SyscallOn(c.s.k, unix.SYS_EPOLL_CTL, uintptr(c.s.bridges.lep), unix.EPOLL_CTL_ADD, uintptr(b.lfd), uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
		return result{err: e}
	}
	b.offerToken(c.s)
	return result{}
}

// offerToken makes the program's end of a listener readable (a token
// byte) if the other kernel's listener has a connection waiting.
func (b *bridge) offerToken(s *supervisor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token || b.hup {
		return
	}
	pfd := []unix.PollFd{{Fd: int32(b.lfd), Events: unix.POLLIN}}
	ts := unix.Timespec{}
	if n, _, e := sys.SyscallOn(s.k, unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0); e != 0 || n == 0 || pfd[0].Revents&unix.POLLIN == 0 {
		return
	}
	if writeAll(sys.Host(), b.mine, []byte{0}, unix.MSG_NOSIGNAL) == 0 {
		b.token = true
	}
}

// bridgeAccept accepts a connection on the other kernel's listener and
// gives the program a new bridge for it. A program's non-blocking
// listener gets EAGAIN when none waits; a blocking one waits in the other
// kernel. The token goes, and comes back if more connections wait.
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
	for {
		fd, _, e := sys.SyscallOn(k, unix.SYS_ACCEPT4, uintptr(b.lfd), c.args[1], c.args[2], unix.SOCK_CLOEXEC, 0, 0)
		if e == 0 {
			b.takeToken(c.s, theirs) // before the answer: the program may poll at once
			return c.s.newBridge(c, int(fd), flags, true)
		}
		if e != syscall.EAGAIN || fl&unix.O_NONBLOCK != 0 {
			b.takeToken(c.s, theirs)
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
// supervisor's copy of it) and offers it again if more connections wait.
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
	b.offerToken(s)
}
