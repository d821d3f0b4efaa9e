package libgo

import (
	"math"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epoll: readiness notification for many fds.

// EpollCreate1 makes an epoll instance with epoll_create1(2).
// EPOLL_CLOEXEC is always added to flags.
func (l *Libc) EpollCreate1(flags int) (fd int, err error) {
	r, err := l.call(unix.SYS_EPOLL_CREATE1, uintptr(flags|unix.EPOLL_CLOEXEC), 0, 0, 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// EpollCtl adds (EPOLL_CTL_ADD), changes (EPOLL_CTL_MOD) or removes
// (EPOLL_CTL_DEL) fd in the interest list of epfd with epoll_ctl(2). event
// says which events to wait for and holds 64 bits of data (its Fd and Pad
// fields) that come back with them. It may be nil for EPOLL_CTL_DEL; for
// any other op a nil event is EFAULT (see efaultNil).
func (l *Libc) EpollCtl(epfd, op, fd int, event *unix.EpollEvent) error {
	if event == nil && op != unix.EPOLL_CTL_DEL {
		return efaultNil
	}
	_, err := l.call(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(event)), 0, 0)
	return err
}

// epMaxEvents is the kernel's EP_MAX_EVENTS (fs/eventpoll.c): the most
// events one epoll_wait may ask for.
const epMaxEvents = math.MaxInt32 / int(unsafe.Sizeof(unix.EpollEvent{}))

// EpollWait waits up to msec milliseconds (-1: without limit, 0: not at
// all) for events on epfd and stores up to len(events) of them, returning
// how many. It is epoll_pwait(2) with no signal mask, as x/sys/unix's
// EpollWait is on every architecture; LKL's generic ABI has no
// epoll_wait. An empty events is EINVAL, as the kernel says for
// maxevents <= 0; a longer one than the kernel takes is cut to its
// maximum. EINTR is returned to the caller, who recomputes the
// timeout before waiting again.
func (l *Libc) EpollWait(epfd int, events []unix.EpollEvent, msec int) (n int, err error) {
	if len(events) == 0 {
		return 0, syscall.EINVAL
	}
	max := min(len(events), epMaxEvents)
	r, err := l.call(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(max), uintptr(msec), 0, 0)
	if err != nil {
		return 0, err
	}
	return int(r), nil
}
