package libgo

import (
	"math"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// File descriptors: duplicating them, their flags, and the fds that are not
// files (pipes, eventfds, timerfds).

// Dup returns a new fd for the open file description of oldfd: the lowest
// free number. It is fcntl(2) with F_DUPFD_CLOEXEC rather than dup(2), so
// the copy is close-on-exec from the start.
func (l *Libc) Dup(oldfd int) (fd int, err error) {
	r, err := l.call(unix.SYS_FCNTL, uintptr(oldfd), unix.F_DUPFD_CLOEXEC, 0, 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// Dup3 makes newfd a copy of oldfd with dup3(2), closing newfd first if it
// was open. O_CLOEXEC is always added to flags; oldfd == newfd is EINVAL,
// as the kernel says. EINTR is not retried: newfd may have been closed by
// then.
func (l *Libc) Dup3(oldfd, newfd, flags int) error {
	_, err := l.call(unix.SYS_DUP3, uintptr(oldfd), uintptr(newfd), uintptr(flags|unix.O_CLOEXEC), 0, 0, 0)
	return err
}

// FcntlInt makes fcntl(2) command cmd with an integer argument and returns
// its integer result (the flags for F_GETFD and F_GETFL, 0 for the set
// commands). Commands that take a pointer (F_GETLK, F_SETOWN_EX, …) do not
// belong here. F_DUPFD is passed as the caller wrote it and makes an fd
// that is not close-on-exec; use Dup.
func (l *Libc) FcntlInt(fd, cmd, arg int) (int, error) {
	r, err := l.call(unix.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg), 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// CloseOnExec sets FD_CLOEXEC on fd with fcntl(2) F_SETFD. Unlike
// x/sys/unix's, it returns the kernel's error (EBADF for a bad fd).
func (l *Libc) CloseOnExec(fd int) error {
	_, err := l.FcntlInt(fd, unix.F_SETFD, unix.FD_CLOEXEC)
	return err
}

// FcntlGetfl returns fd's file status flags (O_NONBLOCK, O_APPEND, the
// access mode, …) with fcntl(2) F_GETFL.
func (l *Libc) FcntlGetfl(fd int) (flags int, err error) {
	return l.FcntlInt(fd, unix.F_GETFL, 0)
}

// FcntlSetfl sets fd's file status flags with fcntl(2) F_SETFL. The kernel
// changes only O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME and O_NONBLOCK and
// ignores the other bits.
func (l *Libc) FcntlSetfl(fd, flags int) error {
	_, err := l.FcntlInt(fd, unix.F_SETFL, flags)
	return err
}

// SetNonblock sets or clears O_NONBLOCK on fd: fcntl(2) F_GETFL, then
// F_SETFL only if the flag has to change.
func (l *Libc) SetNonblock(fd int, nonblocking bool) error {
	flags, err := l.FcntlGetfl(fd)
	if err != nil {
		return err
	}
	want := flags &^ unix.O_NONBLOCK
	if nonblocking {
		want |= unix.O_NONBLOCK
	}
	if want == flags {
		return nil
	}
	return l.FcntlSetfl(fd, want)
}

// Pipe2 makes a pipe with pipe2(2) and returns its read end p[0] and write
// end p[1]. O_CLOEXEC is always added to flags.
func (l *Libc) Pipe2(flags int) (p [2]int, err error) {
	var fds [2]int32
	if _, err := l.call(unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), uintptr(flags|unix.O_CLOEXEC), 0, 0, 0, 0); err != nil {
		return [2]int{-1, -1}, err
	}
	return [2]int{int(fds[0]), int(fds[1])}, nil
}

// EventFD makes an eventfd counter starting at initval with eventfd2(2).
// EFD_CLOEXEC is always added to flags. initval is a 32-bit unsigned int
// in the kernel: a larger value is EINVAL, not silently truncated.
func (l *Libc) EventFD(initval uint, flags int) (fd int, err error) {
	if initval > math.MaxUint32 {
		return -1, syscall.EINVAL
	}
	r, err := l.call(unix.SYS_EVENTFD2, uintptr(initval), uintptr(flags|unix.EFD_CLOEXEC), 0, 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// TimerfdCreate makes a timer fd on clock clockid (CLOCK_MONOTONIC,
// CLOCK_REALTIME, …) with timerfd_create(2). TFD_CLOEXEC is always added to
// flags. Reading the fd gives the number of expirations as 8 bytes in host
// byte order.
func (l *Libc) TimerfdCreate(clockid, flags int) (fd int, err error) {
	r, err := l.call(unix.SYS_TIMERFD_CREATE, uintptr(clockid), uintptr(flags|unix.TFD_CLOEXEC), 0, 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// TimerfdSettime arms (or, with a zero newValue.Value, disarms) timer fd
// fd with timerfd_settime(2); flags may hold TFD_TIMER_ABSTIME. If
// oldValue is not nil it receives the previous setting. A nil newValue is
// EFAULT (see efaultNil).
func (l *Libc) TimerfdSettime(fd, flags int, newValue, oldValue *unix.ItimerSpec) error {
	if newValue == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_TIMERFD_SETTIME, uintptr(fd), uintptr(flags), uintptr(unsafe.Pointer(newValue)), uintptr(unsafe.Pointer(oldValue)), 0, 0)
	return err
}

// TimerfdGettime stores the time left until timer fd fd next fires, and its
// interval, in cur with timerfd_gettime(2). A nil cur is EFAULT (see
// efaultNil).
func (l *Libc) TimerfdGettime(fd int, cur *unix.ItimerSpec) error {
	if cur == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_TIMERFD_GETTIME, uintptr(fd), uintptr(unsafe.Pointer(cur)), 0, 0, 0, 0)
	return err
}

// CloseRange closes (or, with CLOSE_RANGE_CLOEXEC, marks close-on-exec)
// every fd from first to last inclusive with close_range(2), Linux 5.9+.
// Kernels without it, LKL's Linux 4.9 among them, return ENOSYS.
func (l *Libc) CloseRange(first, last uint, flags uint) error {
	_, err := l.call(unix.SYS_CLOSE_RANGE, uintptr(first), uintptr(last), uintptr(flags), 0, 0, 0)
	return err
}
