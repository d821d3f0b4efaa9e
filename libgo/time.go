package libgo

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Time: reading clocks and sleeping.

// ClockGettime stores the time of clock clockid (CLOCK_REALTIME,
// CLOCK_MONOTONIC, …) in ts with clock_gettime(2). An unknown clock is
// EINVAL, a nil ts EFAULT (see efaultNil).
func (l *Libc) ClockGettime(clockid int32, ts *unix.Timespec) error {
	if ts == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_CLOCK_GETTIME, uintptr(clockid), uintptr(unsafe.Pointer(ts)), 0, 0, 0, 0)
	return err
}

// Nanosleep sleeps for at least d with nanosleep(2). When a signal
// interrupts it (EINTR), it sleeps again for the time the kernel says is
// left, so the whole d elapses; if the kernel left no such time (as when
// the EINTR did not come from the kernel), the whole remaining request is
// slept again. A negative d is EINVAL, as the kernel says; 0 only yields.
func (l *Libc) Nanosleep(d time.Duration) error {
	req := unix.NsecToTimespec(int64(d))
	for {
		rem := req
		_, _, e := l.syscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&rem)), 0, 0, 0, 0)
		switch e {
		case 0:
			return nil
		case syscall.EINTR:
			req = rem
			continue
		}
		return e
	}
}
