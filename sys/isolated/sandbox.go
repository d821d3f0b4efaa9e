package isolated

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// The child's sandbox is two seccomp filters, installed one after the
// other (the kernel runs both and the stricter answer wins):
//
//   - before boot, a deny list: what no part of the child ever needs
//     (execve, ptrace, module loading, namespaces, mounts, keyrings, BPF,
//     reboot...);
//   - once LKL has booted, an allow list: only the calls the child makes
//     from then on, which were taken from strace -f of the child under
//     sys/isolated's tests and the conformance suites on isolated LKL
//     (make test-isolated; docs/isolation.md says how to redo it). No
//     open or exec of any kind; process_vm_readv and process_vm_writev
//     only on the parent; signals only to the child itself; no socket
//     calls (a user network runs in the parent; LKL has its end of the
//     socketpair, read and written like a disk).
//
// A denied call fails with EPERM (the filters never kill: a Go runtime
// path the trace did not see then fails one call instead of the kernel).

// denied is the errno of a call a filter refuses.
const denied = unix.EPERM

// preBootDeny lists the calls the child never makes.
var preBootDeny = []uintptr{
	unix.SYS_EXECVE, unix.SYS_EXECVEAT, unix.SYS_PTRACE,
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT, unix.SYS_SETNS, unix.SYS_UNSHARE,
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_USERFAULTFD, unix.SYS_PERSONALITY, unix.SYS_ACCT, unix.SYS_SWAPON, unix.SYS_SWAPOFF,
	unix.SYS_REBOOT, unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_CLOCK_ADJTIME, unix.SYS_ADJTIMEX,
	unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_MOVE_PAGES, unix.SYS_MIGRATE_PAGES, unix.SYS_LOOKUP_DCOOKIE,
	unix.SYS_FANOTIFY_INIT, unix.SYS_NAME_TO_HANDLE_AT, unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_PROCESS_MADVISE,
	unix.SYS_KCMP, unix.SYS_QUOTACTL, unix.SYS_VHANGUP, unix.SYS_SYSLOG,
}

// postBootCalls are the calls allowed with any arguments once LKL runs.
var postBootCalls = []uintptr{
	// The Go runtime: memory, threads, scheduling, signals, time.
	unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_MADVISE, unix.SYS_MPROTECT, unix.SYS_MREMAP,
	unix.SYS_FUTEX, unix.SYS_SCHED_YIELD, unix.SYS_NANOSLEEP, unix.SYS_CLOCK_NANOSLEEP,
	unix.SYS_CLOCK_GETTIME, unix.SYS_GETTIMEOFDAY, unix.SYS_GETTID, unix.SYS_GETPID, unix.SYS_GETPPID,
	unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_RT_SIGACTION, unix.SYS_SIGALTSTACK,
	unix.SYS_SCHED_GETAFFINITY, unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_RESTART_SYSCALL,
	unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_CREATE1, unix.SYS_EVENTFD2, unix.SYS_PIPE2,
	unix.SYS_GETRLIMIT, unix.SYS_PRLIMIT64, unix.SYS_SET_ROBUST_LIST, unix.SYS_RSEQ, unix.SYS_RT_SIGTIMEDWAIT,
	// LKL's host side: its threads' timers and semaphores, the disks
	// (already open), the console fds (the program's stdin, stdout and
	// stderr), the channel.
	unix.SYS_TIMER_CREATE, unix.SYS_TIMER_SETTIME, unix.SYS_TIMER_DELETE, unix.SYS_TIMER_GETTIME,
	unix.SYS_READ, unix.SYS_WRITE, unix.SYS_READV, unix.SYS_WRITEV, unix.SYS_PREAD64, unix.SYS_PWRITE64,
	unix.SYS_PREADV, unix.SYS_PWRITEV, unix.SYS_PREADV2, unix.SYS_PWRITEV2,
	unix.SYS_FSYNC, unix.SYS_FDATASYNC, unix.SYS_FALLOCATE, unix.SYS_FSTAT, unix.SYS_LSEEK,
	unix.SYS_IOCTL, unix.SYS_FCNTL, unix.SYS_CLOSE, unix.SYS_DUP, unix.SYS_DUP3, unix.SYS_PPOLL, unix.SYS_POLL,
}

// program builds a filter that answers each rule set's calls with its
// action and every other call with def (and kills a call of another
// architecture).
func program(def linux.BPFAction, sets ...seccomp.RuleSet) ([]bpf.Instruction, error) {
	insns, _, err := seccomp.BuildProgram(sets, seccomp.ProgramOptions{
		DefaultAction: def,
		BadArchAction: linux.SECCOMP_RET_KILL_PROCESS,
		Optimize:      false,
	})
	return insns, err
}

// preBootFilter is the deny list's program.
func preBootFilter() ([]bpf.Instruction, error) {
	rules := seccomp.NewSyscallRules()
	for _, nr := range preBootDeny {
		rules.Set(nr, seccomp.MatchAll{})
	}
	return program(linux.SECCOMP_RET_ALLOW, seccomp.RuleSet{Rules: rules, Action: linux.SECCOMP_RET_ERRNO.WithReturnCode(uint16(denied))})
}

// postBootFilter is the allow list's program for a child serving parent
// (its pid) as process self; pidfd is the child's pidfd of the parent
// (-1: none), from which it takes the fds of disks added at run time.
func postBootFilter(parent, self, pidfd int) ([]bpf.Instruction, error) {
	rules := seccomp.NewSyscallRules()
	for _, nr := range postBootCalls {
		rules.Set(nr, seccomp.MatchAll{})
	}
	// The calls' memory is the parent's, and only the parent's.
	for _, nr := range []uintptr{unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV} {
		rules.Set(nr, seccomp.PerArg{seccomp.EqualTo(parent)})
	}
	// A disk added at run time: its fd, taken from the parent's table
	// through the parent's pidfd only (pidfd_getfd needs the same ptrace
	// access process_vm_* has).
	if pidfd >= 0 {
		rules.Set(unix.SYS_PIDFD_GETFD, seccomp.PerArg{seccomp.EqualTo(pidfd)})
	}
	// The Go runtime signals its own threads (preemption).
	rules.Set(unix.SYS_TGKILL, seccomp.PerArg{seccomp.EqualTo(self)})
	// clone for threads only (CLONE_THREAD set): no new processes. clone3
	// keeps its flags in memory, where a filter cannot look: it fails with
	// ENOSYS, and glibc's pthread_create (LKL's threads, cgo's) falls back
	// to clone.
	rules.Set(unix.SYS_CLONE, seccomp.PerArg{seccomp.MaskedEqual(unix.CLONE_THREAD, unix.CLONE_THREAD)})
	noClone3 := seccomp.NewSyscallRules()
	noClone3.Set(unix.SYS_CLONE3, seccomp.MatchAll{})
	return program(linux.SECCOMP_RET_ERRNO.WithReturnCode(uint16(denied)),
		seccomp.RuleSet{Rules: rules, Action: linux.SECCOMP_RET_ALLOW},
		seccomp.RuleSet{Rules: noClone3, Action: linux.SECCOMP_RET_ERRNO.WithReturnCode(uint16(unix.ENOSYS))})
}
