package isolated

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SyscallName names a system call number in a DiedError's reason. sys
// sets it to sys.SyscallName (the generated table) when it registers
// LKL; a program that uses this package without sys gets "syscall_N".
var SyscallName = func(trap uintptr) string { return "syscall_" + strconv.FormatUint(uint64(trap), 10) }

// waitsByDesign are the calls the per-call deadline does not bound: they
// wait for another party (a peer, a timer, another thread, a child) and
// may rightly wait for ever. ctlHalt flushes the disks and is bounded by
// Halt itself.
var waitsByDesign = map[uintptr]bool{
	unix.SYS_POLL: true, unix.SYS_PPOLL: true, unix.SYS_SELECT: true, unix.SYS_PSELECT6: true,
	unix.SYS_EPOLL_WAIT: true, unix.SYS_EPOLL_PWAIT: true, unix.SYS_EPOLL_PWAIT2: true,
	unix.SYS_FUTEX: true, unix.SYS_NANOSLEEP: true, unix.SYS_CLOCK_NANOSLEEP: true, unix.SYS_PAUSE: true,
	unix.SYS_RT_SIGSUSPEND: true, unix.SYS_RT_SIGTIMEDWAIT: true, unix.SYS_WAIT4: true, unix.SYS_WAITID: true,
	unix.SYS_ACCEPT: true, unix.SYS_ACCEPT4: true, unix.SYS_CONNECT: true,
	unix.SYS_RECVFROM: true, unix.SYS_RECVMSG: true, unix.SYS_RECVMMSG: true,
	unix.SYS_SENDTO: true, unix.SYS_SENDMSG: true, unix.SYS_SENDMMSG: true,
	unix.SYS_IO_GETEVENTS: true, unix.SYS_IO_PGETEVENTS: true, unix.SYS_IO_URING_ENTER: true,
	unix.SYS_FLOCK: true, unix.SYS_FCNTL: true, // F_SETLKW, F_OFD_SETLKW
	unix.SYS_MSGRCV: true, unix.SYS_MSGSND: true, unix.SYS_SEMOP: true, unix.SYS_SEMTIMEDOP: true,
	unix.SYS_MQ_TIMEDRECEIVE: true, unix.SYS_MQ_TIMEDSEND: true,
	unix.SYS_SPLICE: true, unix.SYS_TEE: true, unix.SYS_SENDFILE: true,
	ctlHalt: true,
}

// waitsOnFD are the calls that wait by design on a pipe, a socket or a
// character device and not on a file: bounded only when their first
// argument is a regular file, a directory or a block device (fstat'd once
// the call is overdue).
var waitsOnFD = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_WRITE: true, unix.SYS_READV: true, unix.SYS_WRITEV: true,
	unix.SYS_IOCTL: true,
}

// watch kills the child when its heartbeat has not moved for beat (the
// isolation_deadline; 0: not watched), or when a call that does not wait
// by design has been in it for longer than call (isolation_call_deadline;
// 0: not watched). last is the heartbeat's value at the start.
func (k *Kernel) watch(beat, call time.Duration, last uint64) {
	tick := time.Second
	for _, d := range []time.Duration{beat / 4, call / 4} {
		if d > 0 && d < tick {
			tick = d
		}
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	since := time.Now()
	checked := map[uint64]bool{}             // the overdue reads and writes whose fd is checked, by serial
	ticks := int64((call + tick - 1) / tick) // the call deadline in ticks, rounded up
	verdicts := make(chan fdVerdict, Slots)
	for {
		select {
		case <-k.exited:
			return
		case <-t.C:
			k.slots.clock.Add(1)
		case v := <-verdicts:
			if v.onFile && k.state.Load() == stateRunning {
				k.kill("isolation_call_deadline", v.reason)
				return
			}
			continue
		}
		if beat > 0 {
			k.chMu.RLock()
			if k.gone {
				k.chMu.RUnlock()
				return
			}
			b := atomic.LoadUint64(&k.ch.head.beats)
			k.chMu.RUnlock()
			if b != last {
				last, since = b, time.Now()
			} else if time.Since(since) >= beat && k.state.Load() == stateRunning {
				k.kill("isolation_deadline", fmt.Sprintf("LKL did not answer for %v (isolation_deadline)", beat))
				return
			}
		}
		if call == 0 || k.state.Load() != stateRunning {
			continue
		}
		still := map[uint64]bool{}
		for _, c := range k.slots.overdue(ticks) {
			if waitsByDesign[c.trap] || c.trap == ctlHostCopy && k.hostCopyMoving(c) {
				continue
			}
			reason := fmt.Sprintf("the call %s (%d) ran for more than %v (isolation_call_deadline %v)", callName(c.trap), c.trap, time.Duration(k.slots.clock.Load()-c.start-1)*tick, call)
			if !waitsOnFD[c.trap] {
				k.kill("isolation_call_deadline", reason)
				return
			}
			key := c.serial
			still[key] = true
			if !checked[key] {
				go k.checkFD(c.fd, reason, verdicts)
			}
		}
		checked = still
	}
}

// callName names a request: a system call, or a control request.
func callName(trap uintptr) string {
	switch trap {
	case ctlHalt:
		return "halt"
	case ctlProbe:
		return "probe (test hook)"
	case ctlDisk:
		return "disk (AddDisk, Unmount or Mounts)"
	case ctlHostCopy:
		return "host copy (CopyToHost)"
	}
	return SyscallName(trap)
}

// fdVerdict is checkFD's answer: whether an overdue read or write is on a
// file (so bounded), and the reason to give.
type fdVerdict struct {
	onFile bool
	reason string
}

// checkFD asks the kernel what fd is: a read or write that waits on a
// regular file, a directory or a block device is not waiting for another
// party. An fstat that fails (the fd was closed meanwhile) or does not
// come back says nothing.
func (k *Kernel) checkFD(fd uintptr, reason string, out chan<- fdVerdict) {
	var st unix.Stat_t
	_, _, e := k.Syscall(unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)), 0, 0, 0, 0)
	runtime.KeepAlive(&st)
	if e != 0 {
		return
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFDIR, unix.S_IFBLK:
		select {
		case out <- fdVerdict{onFile: true, reason: reason}:
		default: // the watcher has enough to act on
		}
	}
}

// kill kills the child because the deadline of the configuration's key
// passed, for reason.
func (k *Kernel) kill(key, reason string) {
	k.killKey.Store(&key)
	k.killWhy.Store(&reason)
	k.cmd.Process.Kill()
}
