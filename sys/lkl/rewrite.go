//go:build lkl

package lkl

import (
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A rewrite answers one host system call on LKL in another form than the
// same-named LKL call: a different call, a converted struct, or the
// console.
type rewrite func(c caller, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno)

// atFDCWD is AT_FDCWD (-100) as a system call argument.
const atFDCWD = ^uintptr(99)

// entry says how the kernel answers one host system call number.
type entry struct {
	rw      rewrite // if set, answers the call
	nr      int16   // else the LKL number of the same name; -1 if none
	noSleep bool    // the call never sleeps inside LKL (see Kernel.Syscall)
}

// table is indexed by host number. One array of small entries keeps a
// call's lookup to one cache line.
var table [len(hostToLKL)]entry

// noSleepCalls never sleep inside LKL, so they need not be counted as in
// flight. Only calls that take no lock that can sleep belong here.
var noSleepCalls = []uintptr{
	unix.SYS_GETPID, unix.SYS_GETPPID, unix.SYS_GETTID,
	unix.SYS_GETUID, unix.SYS_GETEUID, unix.SYS_GETGID, unix.SYS_GETEGID,
	unix.SYS_UMASK, unix.SYS_CLOCK_GETTIME, unix.SYS_GETTIMEOFDAY,
}

func init() {
	for trap, nr := range hostToLKL {
		table[trap].nr = nr
	}
	for trap, rw := range rewriteTable {
		table[trap].rw = rw
	}
	for _, trap := range noSleepCalls {
		table[trap].noSleep = true
	}
}

// rewriteTable is the hand-written half of the translation; the generated
// half is hostToLKL. One row per call, each with why.
var rewriteTable = map[uintptr]rewrite{
	// Legacy path calls are their *at forms relative to the cwd, as in
	// syscall/syscall_linux.go; the generic ABI is built around the *at
	// calls, so LKL answers these through them.
	unix.SYS_OPEN: func(c caller, path, flags, mode, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_OPENAT, atFDCWD, path, flags, mode, 0, 0)
	},
	// creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode).
	unix.SYS_CREAT: func(c caller, path, mode, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_OPENAT, atFDCWD, path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, mode, 0, 0)
	},
	unix.SYS_ACCESS: func(c caller, path, mode, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_FACCESSAT, atFDCWD, path, mode, 0, 0, 0)
	},
	unix.SYS_MKDIR: func(c caller, path, mode, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_MKDIRAT, atFDCWD, path, mode, 0, 0, 0)
	},
	unix.SYS_MKNOD: func(c caller, path, mode, dev, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_MKNODAT, atFDCWD, path, mode, dev, 0, 0)
	},
	// rmdir is unlinkat with AT_REMOVEDIR; unlink is unlinkat without it.
	unix.SYS_RMDIR: func(c caller, path, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_UNLINKAT, atFDCWD, path, unix.AT_REMOVEDIR, 0, 0, 0)
	},
	unix.SYS_UNLINK: func(c caller, path, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_UNLINKAT, atFDCWD, path, 0, 0, 0, 0)
	},
	unix.SYS_LINK: func(c caller, from, to, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_LINKAT, atFDCWD, from, atFDCWD, to, 0, 0)
	},
	unix.SYS_SYMLINK: func(c caller, target, link, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_SYMLINKAT, target, atFDCWD, link, 0, 0, 0)
	},
	unix.SYS_READLINK: func(c caller, path, buf, n, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_READLINKAT, atFDCWD, path, buf, n, 0, 0)
	},
	unix.SYS_RENAME: func(c caller, from, to, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_RENAMEAT, atFDCWD, from, atFDCWD, to, 0, 0)
	},
	unix.SYS_CHMOD: func(c caller, path, mode, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_FCHMODAT, atFDCWD, path, mode, 0, 0, 0)
	},
	unix.SYS_CHOWN: func(c caller, path, uid, gid, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_FCHOWNAT, atFDCWD, path, uid, gid, 0, 0)
	},
	// lchown is chown that does not follow a final symlink.
	unix.SYS_LCHOWN: func(c caller, path, uid, gid, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_FCHOWNAT, atFDCWD, path, uid, gid, unix.AT_SYMLINK_NOFOLLOW, 0)
	},

	// struct stat differs (asm-generic vs amd64): every stat call goes
	// through newfstatat/fstat into an LKL struct and is converted.
	unix.SYS_STAT: func(c caller, path, st, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.stat(lklSYS_NEWFSTATAT, atFDCWD, path, st, 0)
	},
	unix.SYS_LSTAT: func(c caller, path, st, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.stat(lklSYS_NEWFSTATAT, atFDCWD, path, st, unix.AT_SYMLINK_NOFOLLOW)
	},
	unix.SYS_NEWFSTATAT: func(c caller, dirfd, path, st, flags, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.stat(lklSYS_NEWFSTATAT, dirfd, path, st, flags)
	},
	unix.SYS_FSTAT: func(c caller, fd, st, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.stat(lklSYS_FSTAT, fd, st, 0, 0)
	},

	// Calls whose generic form takes flags: pass 0, or the equivalent.
	unix.SYS_PIPE: func(c caller, fds, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_PIPE2, fds, 0, 0, 0, 0, 0)
	},
	unix.SYS_EVENTFD: func(c caller, initval, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_EVENTFD2, initval, 0, 0, 0, 0, 0)
	},
	unix.SYS_INOTIFY_INIT: func(c caller, _, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_INOTIFY_INIT1, 0, 0, 0, 0, 0, 0)
	},
	// epoll_create's size must be positive and is otherwise ignored.
	unix.SYS_EPOLL_CREATE: func(c caller, size, _, _, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		if int32(size) <= 0 {
			return failed(syscall.EINVAL)
		}
		return c.call(lklSYS_EPOLL_CREATE1, 0, 0, 0, 0, 0, 0)
	},
	// epoll_wait is epoll_pwait with no signal mask (as x/sys/unix does).
	unix.SYS_EPOLL_WAIT: func(c caller, epfd, events, n, msec, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
		return c.call(lklSYS_EPOLL_PWAIT, epfd, events, n, msec, 0, 0)
	},
	// poll is ppoll with the timeout in a timespec (negative: none).
	unix.SYS_POLL: (caller).poll,

	// The console: LKL's fds 0, 1 and 2 (and their dups) carry data to the
	// process's own stdin, stdout and stderr (console.go).
	unix.SYS_READ:     consoleIO(lklSYS_READ, unix.SYS_READ),
	unix.SYS_WRITE:    consoleIO(lklSYS_WRITE, unix.SYS_WRITE),
	unix.SYS_READV:    consoleIO(lklSYS_READV, unix.SYS_READV),
	unix.SYS_WRITEV:   consoleIO(lklSYS_WRITEV, unix.SYS_WRITEV),
	unix.SYS_PREAD64:  consoleNoSeek(lklSYS_PREAD64),
	unix.SYS_PWRITE64: consoleNoSeek(lklSYS_PWRITE64),
	unix.SYS_PREADV:   consoleNoSeek(lklSYS_PREADV),
	unix.SYS_PWRITEV:  consoleNoSeek(lklSYS_PWRITEV),
	unix.SYS_CLOSE:    caller.closeFD,
	unix.SYS_DUP:      caller.dupFD,
	unix.SYS_DUP2:     caller.dup2FD,
	unix.SYS_DUP3:     caller.dup3FD,
	unix.SYS_FCNTL:    caller.fcntlFD,

	// No user processes, signals or reboots inside a library kernel: these
	// would tear down LKL's own threads. Halt the kernel with Kernel.Halt.
	unix.SYS_EXIT:         enosys,
	unix.SYS_EXIT_GROUP:   enosys,
	unix.SYS_CLONE:        enosys,
	unix.SYS_CLONE3:       enosys,
	unix.SYS_FORK:         enosys,
	unix.SYS_VFORK:        enosys,
	unix.SYS_EXECVE:       enosys,
	unix.SYS_EXECVEAT:     enosys,
	unix.SYS_REBOOT:       enosys,
	unix.SYS_RT_SIGRETURN: enosys,
}

func enosys(caller, uintptr, uintptr, uintptr, uintptr, uintptr, uintptr) (uintptr, uintptr, syscall.Errno) {
	return failed(syscall.ENOSYS)
}

var timespecPool = sync.Pool{New: func() any { return new(unix.Timespec) }}

// stat makes an LKL stat call (newfstatat or fstat) and converts its result
// into the caller's unix.Stat_t at address st. LKL's struct (128 bytes) is
// written into the caller's (144), read back and converted in place: all
// pointers of a call for another process are that process's, so there is
// no buffer of ours to pass. For fstat, a1 is the fd and a2 the struct; for
// newfstatat, a1..a4 are dirfd, path, struct and flags.
func (c caller) stat(nr int, a1, a2, a3, a4 uintptr) (uintptr, uintptr, syscall.Errno) {
	dst := a3
	if nr == lklSYS_FSTAT {
		dst = a2
	}
	if dst == 0 {
		return failed(syscall.EFAULT) // as the kernel would, before any work
	}
	r, _, e := c.call(nr, a1, a2, a3, a4, 0, 0)
	if e != 0 {
		return r, 0, e
	}
	var ls lklStat
	if e := c.read(dst, unsafe.Slice((*byte)(unsafe.Pointer(&ls)), unsafe.Sizeof(ls))); e != 0 {
		return failed(e)
	}
	st := statToHost(&ls)
	if e := c.write(dst, unsafe.Slice((*byte)(unsafe.Pointer(&st)), unsafe.Sizeof(st))); e != 0 {
		return failed(e)
	}
	return r, 0, 0
}

// maxPollFDs bounds the pollfd array poll copies for another process:
// LKL's own limit is RLIMIT_NOFILE, far below it.
const maxPollFDs = 1 << 16

// poll is ppoll with the timeout in a timespec of ours. For another process
// (whose call can carry no pointer of ours) a call with a timeout runs on a
// copy of its pollfd array, and the revents are copied back.
func (c caller) poll(fds, n, msec, _, _, _ uintptr) (uintptr, uintptr, syscall.Errno) {
	if int32(msec) < 0 {
		return c.call(lklSYS_PPOLL, fds, n, 0, 0, 0, 0)
	}
	ts := timespecPool.Get().(*unix.Timespec)
	defer timespecPool.Put(ts)
	*ts = unix.NsecToTimespec(int64(int32(msec)) * 1e6)
	if c.pid == 0 {
		return c.call(lklSYS_PPOLL, fds, n, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	}
	if n > maxPollFDs {
		return failed(syscall.EINVAL)
	}
	local := caller{k: c.k}
	if n == 0 {
		return local.call(lklSYS_PPOLL, 0, 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	}
	pfds := make([]unix.PollFd, n)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&pfds[0])), uintptr(len(pfds))*unsafe.Sizeof(pfds[0]))
	if e := c.read(fds, b); e != 0 {
		return failed(e)
	}
	r, _, e := local.call(lklSYS_PPOLL, uintptr(unsafe.Pointer(&pfds[0])), n, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return r, 0, e
	}
	if e := c.write(fds, b); e != 0 {
		return failed(e)
	}
	return r, 0, 0
}
