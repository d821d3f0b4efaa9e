package aio

import (
	"encoding/binary"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Names of the system calls in the *os.SyscallError values aio returns.
const (
	epollCreateName = "epoll_create1"
	epollCtlName    = "epoll_ctl"
	epollWaitName   = "epoll_pwait"
	eventfdName     = "eventfd2"
	readName        = "read"
	writeName       = "write"
	closeName       = "close"
)

// ReservedToken is the epoll data of the poller's own wake eventfd; Add
// and Modify refuse it (EINVAL), so Wait can tell a wake from an event.
// Every other 64-bit value is the caller's.
const ReservedToken uint64 = 0x7a6b_5c4d_aa10_e7fd

// maxWaitMsec caps a Wait's timeout, as the runtime's netpoll does:
// 1e9 ms is about 11.5 days.
const maxWaitMsec = 1e9

// A Poller is an epoll instance on one kernel: it reports which of the fds
// registered with it are ready to read or write, so that non-blocking
// calls on them (see Nonblock) succeed instead of saying "would block".
//
// Add, Modify, Delete, Wake and Close may be called from any goroutine,
// at any time. Wait is meant for one goroutine, the loop that owns the
// poller; concurrent Waits are serialized. Each fd is identified in the
// events by the 64-bit token it was registered with, never by a pointer:
// eloop puts a slot index and a generation there, so an event for an fd
// that was closed and whose number was reused can be recognized and
// dropped, as the runtime does with its fdseq tag.
//
// Like the runtime's poller, register an fd once, with
// Read|Write|RDHUP|EdgeTriggered, and track readiness in user space: each
// Modify is a system call, and system calls cost more than tracking bits.
//
// Where the kernels differ:
//   - fd numbers belong to the poller's kernel. LKL has its own fd table,
//     so an fd of the host (os.File.Fd) means nothing to a poller on LKL,
//     and the other way round.
//   - Every call is a system call on the host and a cgo call into LKL
//     there. A Wait that blocks holds an OS thread on both: in
//     epoll_pwait(2) on the host, inside LKL's epoll_pwait on LKL; the Go
//     runtime runs other goroutines on other threads meanwhile.
//   - Timeouts: the host's epoll_pwait uses high-resolution timers; LKL is
//     built with HZ=100 and without them, so a timed Wait on LKL lasts
//     until the next 10 ms tick after the timeout.
//   - LKL (Linux 4.9, pruned) has no timerfd and no AF_UNIX sockets: wait
//     for timers with Wait's timeout, and use pipes, eventfds and TCP or
//     UDP over its loopback.
type Poller struct {
	lc     *libgo.Libc
	epfd   int // the epoll instance
	wakefd int // the eventfd Wake writes to, registered with ReservedToken
	refs   Refs

	// wakeSig is 1 from the Wake that writes to the eventfd until the
	// Wait that drains it, so concurrent Wakes make one write (the
	// runtime's netpollWakeSig).
	wakeSig atomic.Uint32
	// one is the eventfd increment Wake writes: 1 in host byte order.
	// It is a field, not a local, so writing it does not allocate.
	one [8]byte

	waitMu   sync.Mutex
	buf      []unix.EpollEvent // Wait's buffer, as long as the longest events slice given; guarded by waitMu
	drainBuf [8]byte           // Wait reads the eventfd counter into it; guarded by waitMu
}

// New makes a Poller on kernel k: an epoll instance, and an eventfd that
// Wake writes to. A nil k means the process default kernel (sys.Default)
// as it is now; the Poller keeps that kernel even if the default changes.
// Errors are *os.SyscallError ("epoll_create1", "eventfd2", "epoll_ctl").
func New(k sys.Kernel) (*Poller, error) {
	if k == nil {
		k = sys.Default()
	}
	p := &Poller{lc: libgo.New(k)}
	p.refs.InitWait()
	binary.NativeEndian.PutUint64(p.one[:], 1)
	var err error
	if p.epfd, err = p.lc.EpollCreate1(0); err != nil {
		return nil, os.NewSyscallError(epollCreateName, err)
	}
	if p.wakefd, err = p.lc.EventFD(0, unix.EFD_NONBLOCK); err != nil {
		p.lc.Close(p.epfd)
		return nil, os.NewSyscallError(eventfdName, err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setToken(&ev, ReservedToken)
	if err := p.lc.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, p.wakefd, &ev); err != nil {
		p.lc.Close(p.wakefd)
		p.lc.Close(p.epfd)
		return nil, os.NewSyscallError(epollCtlName, err)
	}
	return p, nil
}

// Fd returns the epoll fd. It is pollable (readable while events are
// ready), so a Ring can watch a Poller: eloop's io_uring loop submits a
// poll of it and calls Wait when that completes.
func (p *Poller) Fd() int { return p.epfd }

// Add registers fd, which should be non-blocking, for the events ev, with
// epoll_ctl(2) EPOLL_CTL_ADD. Every event Wait reports for fd carries
// token, all 64 bits of it; ReservedToken is refused. HUP and Error are
// always reported, whether ev holds them or not. An fd already registered
// is EEXIST; a bit outside the constants of Events, one of the poller's
// own fds, or ReservedToken is EINVAL. On a closed poller the error is
// fs.ErrClosed; any other error is an *os.SyscallError "epoll_ctl".
func (p *Poller) Add(fd int, ev Events, token uint64) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, ev, token)
}

// Modify changes the events and the token of fd, registered with Add,
// with epoll_ctl(2) EPOLL_CTL_MOD; it also arms a OneShot registration
// again. An fd not registered is ENOENT; errors are otherwise as for Add.
func (p *Poller) Modify(fd int, ev Events, token uint64) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, ev, token)
}

// Delete removes fd from the poller with epoll_ctl(2) EPOLL_CTL_DEL. An fd
// not registered is ENOENT; errors are otherwise as for Add. Closing an fd
// removes it as well, once no other fd refers to its open file; Delete
// first when the fd may have been duplicated.
func (p *Poller) Delete(fd int) error {
	return p.ctl(unix.EPOLL_CTL_DEL, fd, 0, 0)
}

// ctl makes one epoll_ctl call for Add, Modify or Delete.
func (p *Poller) ctl(op, fd int, ev Events, token uint64) error {
	if ev&^allEvents != 0 {
		return os.NewSyscallError(epollCtlName, syscall.EINVAL)
	}
	if !p.refs.Incref() {
		return File.ErrClosed()
	}
	defer p.refs.Decref()
	if fd == p.epfd || fd == p.wakefd {
		return os.NewSyscallError(epollCtlName, syscall.EINVAL)
	}
	if op != unix.EPOLL_CTL_DEL && token == ReservedToken {
		return os.NewSyscallError(epollCtlName, syscall.EINVAL)
	}
	e := unix.EpollEvent{Events: toLinux(ev)}
	setToken(&e, token)
	if err := p.lc.EpollCtl(p.epfd, op, fd, &e); err != nil {
		return os.NewSyscallError(epollCtlName, err)
	}
	return nil
}

// Wait waits for events on the registered fds with epoll_pwait(2) and
// stores up to len(events) of them in events, returning how many.
//
// timeout < 0 waits without limit; 0 only polls; otherwise Wait returns
// after timeout at the latest: a timeout is rounded up to whole
// milliseconds (so under 1 ms waits 1 ms) and capped at about 11.5 days,
// as the runtime's netpoll does.
//
// Wait may return 0 events with a nil error before the timeout: after a
// Wake, or when a signal interrupted the wait (EINTR). The caller then
// recomputes its timeout and waits again. The poller's own eventfd is
// never reported.
//
// Wait does not allocate: it keeps a buffer as long as the longest events
// slice it has been given. An empty events is EINVAL. If the poller is
// closed, before or during the wait, the error is fs.ErrClosed. Other
// errors are *os.SyscallError ("epoll_pwait", "read"), and n is 0 with
// them.
func (p *Poller) Wait(events []Event, timeout time.Duration) (n int, err error) {
	if len(events) == 0 {
		return 0, os.NewSyscallError(epollWaitName, syscall.EINVAL)
	}
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	if !p.refs.Incref() {
		return 0, File.ErrClosed()
	}
	defer p.refs.Decref()
	if len(p.buf) < len(events) {
		p.buf = make([]unix.EpollEvent, len(events))
	}
	buf := p.buf[:len(events)]
	got, err := p.lc.EpollWait(p.epfd, buf, waitMsec(timeout))
	switch {
	case p.refs.Closed():
		return 0, File.ErrClosed()
	case err == syscall.EINTR:
		return 0, nil
	case err != nil:
		return 0, os.NewSyscallError(epollWaitName, err)
	}
	var drainErr error
	for i := range got {
		ev := &buf[i]
		token := getToken(ev)
		if token == ReservedToken { // the wake eventfd, never the caller's
			if err := p.drainWake(); err != nil {
				drainErr = err
			}
			continue
		}
		events[n] = Event{Token: token, Events: fromLinux(ev.Events)}
		n++
	}
	if n == 0 && drainErr != nil {
		// With events to report, the failure waits for the next Wait:
		// the eventfd stays readable until it is drained.
		return 0, drainErr
	}
	return n, nil
}

// waitMsec converts Wait's timeout to epoll_pwait's milliseconds.
func waitMsec(d time.Duration) int {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	case d >= maxWaitMsec*time.Millisecond:
		return maxWaitMsec
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// drainWake reads the wake eventfd's counter, which resets it, then
// clears wakeSig so the next Wake writes again: in this order, a Wake is
// never lost between the two. EAGAIN (no wake pending, which should not
// happen) changes nothing.
func (p *Poller) drainWake() error {
	_, err := p.lc.Read(p.wakefd, p.drainBuf[:])
	switch err {
	case nil:
		p.wakeSig.Store(0)
		return nil
	case syscall.EAGAIN:
		return nil
	}
	return os.NewSyscallError(readName, err)
}

// Wake makes a Wait that is blocked return, or the next Wait if none is,
// with 0 events unless others are ready. It may be called from any
// goroutine. Concurrent Wakes cost one write to the eventfd: until a Wait
// has drained it, further Wakes return at once. On a closed poller the
// error is fs.ErrClosed; a failed write is an *os.SyscallError "write".
func (p *Poller) Wake() error {
	if !p.refs.Incref() {
		return File.ErrClosed()
	}
	defer p.refs.Decref()
	if !p.wakeSig.CompareAndSwap(0, 1) {
		return nil // a wake is on its way and not drained yet
	}
	if err := p.signal(); err != nil {
		p.wakeSig.Store(0)
		return err
	}
	return nil
}

// signal adds 1 to the wake eventfd's counter. EAGAIN means the counter
// is at its maximum, so a wake is pending anyway.
func (p *Poller) signal() error {
	_, err := p.lc.Write(p.wakefd, p.one[:])
	if err == nil || err == syscall.EAGAIN {
		return nil
	}
	return os.NewSyscallError(writeName, err)
}

// Close closes the poller: later calls fail with fs.ErrClosed, a Wait
// blocked in the kernel is woken and returns fs.ErrClosed, and once every
// call in progress has returned the epoll fd and the eventfd are closed.
// Closing does not close the registered fds. A second Close returns
// fs.ErrClosed; a failure to close is an *os.SyscallError "close".
func (p *Poller) Close() error {
	if ok, _ := p.refs.Close(); !ok {
		return File.ErrClosed()
	}
	// No new call can start; wake a Wait that is blocked, so that it
	// sees the closed state and drops its reference. The write bypasses
	// wakeSig: one count more does no harm, the eventfd is closed next.
	p.signal()
	p.refs.Wait()
	err := p.lc.Close(p.epfd)
	if werr := p.lc.Close(p.wakefd); err == nil {
		err = werr
	}
	if err != nil {
		return os.NewSyscallError(closeName, err)
	}
	return nil
}
