package isolated

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// run runs a filter in gVisor's BPF interpreter on one call.
func run(t *testing.T, insns []bpf.Instruction, arch uint32, nr uintptr, args ...uint64) linux.BPFAction {
	t.Helper()
	p, err := bpf.Compile(insns, false)
	if err != nil {
		t.Fatal(err)
	}
	d := linux.SeccompData{Nr: int32(nr), Arch: arch}
	copy(d.Args[:], args)
	buf := make([]byte, (&d).SizeBytes())
	r, err := bpf.Exec[bpf.NativeEndian](p, seccomp.DataAsBPFInput(&d, buf))
	if err != nil {
		t.Fatal(err)
	}
	return linux.BPFAction(r)
}

// TestFilters runs both filters in the BPF interpreter: what the child
// needs passes, what a hostile image would try is EPERM.
func TestFilters(t *testing.T) {
	const parent, self, other = 1000, 2000, 3000
	allow := linux.SECCOMP_RET_ALLOW
	eperm := linux.SECCOMP_RET_ERRNO.WithReturnCode(uint16(unix.EPERM))
	enosys := linux.SECCOMP_RET_ERRNO.WithReturnCode(uint16(unix.ENOSYS))
	arch := uint32(seccomp.LINUX_AUDIT_ARCH)

	pre, err := preBootFilter()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		nr   uintptr
		want linux.BPFAction
	}{
		{"openat (disks, before boot)", unix.SYS_OPENAT, allow},
		{"socket", unix.SYS_SOCKET, allow},
		{"execve", unix.SYS_EXECVE, eperm},
		{"ptrace", unix.SYS_PTRACE, eperm},
		{"mount", unix.SYS_MOUNT, eperm},
		{"unshare", unix.SYS_UNSHARE, eperm},
		{"bpf", unix.SYS_BPF, eperm},
	} {
		if got := run(t, pre, arch, tc.nr); got != tc.want {
			t.Errorf("before boot, %s: %v, want %v", tc.name, got, tc.want)
		}
	}

	{
		const pidfd = 9
		post, err := postBootFilter(parent, self, pidfd)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			nr   uintptr
			args []uint64
			want linux.BPFAction
		}{
			{"futex", unix.SYS_FUTEX, nil, allow},
			{"pwritev (a disk)", unix.SYS_PWRITEV, nil, allow},
			{"process_vm_readv of the parent", unix.SYS_PROCESS_VM_READV, []uint64{parent}, allow},
			{"process_vm_writev of the parent", unix.SYS_PROCESS_VM_WRITEV, []uint64{parent}, allow},
			{"process_vm_readv of another", unix.SYS_PROCESS_VM_READV, []uint64{other}, eperm},
			{"process_vm_writev of another", unix.SYS_PROCESS_VM_WRITEV, []uint64{other}, eperm},
			{"tgkill of a thread of its own", unix.SYS_TGKILL, []uint64{self, 7, 23}, allow},
			{"tgkill of another process", unix.SYS_TGKILL, []uint64{other, 7, 9}, eperm},
			{"kill", unix.SYS_KILL, []uint64{other, 9}, eperm},
			{"clone of a thread", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, allow},
			{"clone of a process", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, eperm},
			{"clone3", unix.SYS_CLONE3, nil, enosys},
			{"openat", unix.SYS_OPENAT, nil, eperm},
			{"open", unix.SYS_OPEN, nil, eperm},
			{"execve", unix.SYS_EXECVE, nil, eperm},
			{"ptrace", unix.SYS_PTRACE, nil, eperm},
			{"socket", unix.SYS_SOCKET, nil, eperm},
			{"connect", unix.SYS_CONNECT, nil, eperm},
			{"readv (a user network's socketpair)", unix.SYS_READV, nil, allow},
			{"pidfd_getfd from the parent's pidfd", unix.SYS_PIDFD_GETFD, []uint64{pidfd, 5, 0}, allow},
			{"pidfd_getfd from another pidfd", unix.SYS_PIDFD_GETFD, []uint64{pidfd + 1, 5, 0}, eperm},
			{"pidfd_open", unix.SYS_PIDFD_OPEN, []uint64{parent, 0}, eperm},
			// A host copy (hostcopy.go): the delegated fd is written and
			// closed with calls the list has anyway; nothing else is
			// opened for it, and what would change the file beyond its
			// bytes stays denied.
			{"write (a host copy's delegated fd)", unix.SYS_WRITE, []uint64{12}, allow},
			{"ftruncate (a delegated fd)", unix.SYS_FTRUNCATE, []uint64{12, 0}, eperm},
			{"fchmod (a delegated fd)", unix.SYS_FCHMOD, []uint64{12, 0o777}, eperm},
			{"fchown (a delegated fd)", unix.SYS_FCHOWN, []uint64{12, 0, 0}, eperm},
			{"fsetxattr (a delegated fd)", unix.SYS_FSETXATTR, []uint64{12}, eperm},
			{"sendfile", unix.SYS_SENDFILE, nil, eperm},
			{"splice", unix.SYS_SPLICE, nil, eperm},
		} {
			if got := run(t, post, arch, tc.nr, tc.args...); got != tc.want {
				t.Errorf("after boot, %s: %v, want %v", tc.name, got, tc.want)
			}
		}
		if got := run(t, post, 0x40000003 /* AUDIT_ARCH_I386 */, unix.SYS_FUTEX); got != linux.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("a call of another architecture: %v, want kill", got)
		}
	}
}
