//go:build amd64

package supervise

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompInput is struct seccomp_data as x/net/bpf's VM loads it: the VM
// reads 32-bit words big-endian, the kernel in host order, so each word
// is written big-endian here for the VM to see the value the kernel
// would (the low half of an argument at its offset, the high half after).
func seccompInput(arch uint32, nr uintptr, args ...uint64) []byte {
	b := make([]byte, sizeofSeccompData)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[argOff(i):], uint32(a))
		binary.BigEndian.PutUint32(b[argOff(i)+4:], uint32(a>>32))
	}
	return b
}

// TestFilter runs the filter in x/net/bpf's VM on each class of call.
func TestFilter(t *testing.T) {
	const (
		allow  = unix.SECCOMP_RET_ALLOW
		notify = unix.SECCOMP_RET_USER_NOTIF
	)
	atFDCWD := uint64(0xffffffffffffff9c)
	ours := uint64(fdBase + 3)
	tests := []struct {
		name   string
		paths  bool
		bridge bool
		arch   uint32
		nr     uintptr
		args   []uint64
		want   uint32
	}{
		{name: "getpid", nr: unix.SYS_GETPID, want: allow},
		{name: "read host fd", nr: unix.SYS_READ, args: []uint64{3}, want: allow},
		{name: "read our fd", nr: unix.SYS_READ, args: []uint64{ours}, want: notify},
		{name: "read fd -1", nr: unix.SYS_READ, args: []uint64{0xffffffff}, want: allow},
		{name: "read last host fd", nr: unix.SYS_READ, args: []uint64{fdBase - 1}, want: allow},
		{name: "read high bits set, host fd", nr: unix.SYS_READ, args: []uint64{1<<32 | 3}, want: allow},
		{name: "close our fd", nr: unix.SYS_CLOSE, args: []uint64{ours}, want: notify},
		{name: "dup2 host to ours", nr: unix.SYS_DUP2, args: []uint64{1, ours}, want: notify},
		{name: "dup2 host to host", nr: unix.SYS_DUP2, args: []uint64{1, 2}, want: allow},
		{name: "epoll_ctl host epoll, our fd", nr: unix.SYS_EPOLL_CTL, args: []uint64{4, 1, ours, 0}, want: notify},
		{name: "epoll_ctl host epoll, host fd", nr: unix.SYS_EPOLL_CTL, args: []uint64{4, 1, 5, 0}, want: allow},
		{name: "copy_file_range out ours", nr: unix.SYS_COPY_FILE_RANGE, args: []uint64{3, 0, ours}, want: notify},
		{name: "mmap anonymous", nr: unix.SYS_MMAP, args: []uint64{0, 4096, 3, 0x22, 0xffffffff, 0}, want: allow},
		{name: "mmap our fd", nr: unix.SYS_MMAP, args: []uint64{0, 4096, 1, 1, ours, 0}, want: notify},
		{name: "socket unix", nr: unix.SYS_SOCKET, args: []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, want: allow},
		{name: "socket inet", nr: unix.SYS_SOCKET, args: []uint64{unix.AF_INET, unix.SOCK_STREAM}, want: notify},
		{name: "socket netlink", nr: unix.SYS_SOCKET, args: []uint64{unix.AF_NETLINK, unix.SOCK_RAW}, want: notify},
		{name: "sendmsg host fd (SCM_RIGHTS may carry ours)", nr: unix.SYS_SENDMSG, args: []uint64{3}, want: notify},
		{name: "sendto host fd", nr: unix.SYS_SENDTO, args: []uint64{3}, want: allow},
		{name: "epoll_pwait", nr: unix.SYS_EPOLL_PWAIT, args: []uint64{4}, want: notify},
		{name: "poll", nr: unix.SYS_POLL, want: notify},
		{name: "execve", nr: unix.SYS_EXECVE, want: notify},
		{name: "openat without dirs", nr: unix.SYS_OPENAT, args: []uint64{atFDCWD, 0x1000}, want: allow},
		{name: "open without dirs", nr: unix.SYS_OPEN, args: []uint64{0x1000}, want: allow},
		{name: "fstatat on our fd without dirs", nr: unix.SYS_NEWFSTATAT, args: []uint64{ours, 0x1000, 0, unix.AT_EMPTY_PATH}, want: notify},
		{name: "openat with dirs", paths: true, nr: unix.SYS_OPENAT, args: []uint64{atFDCWD, 0x1000}, want: notify},
		{name: "stat with dirs", paths: true, nr: unix.SYS_STAT, args: []uint64{0x1000}, want: notify},
		{name: "read host fd with dirs", paths: true, nr: unix.SYS_READ, args: []uint64{3}, want: allow},
		{name: "getcwd without dirs", nr: unix.SYS_GETCWD, want: allow},
		{name: "getcwd with dirs", paths: true, nr: unix.SYS_GETCWD, want: notify},
		{name: "fchdir host fd without dirs", nr: unix.SYS_FCHDIR, args: []uint64{3}, want: allow},
		{name: "fchdir our fd without dirs", nr: unix.SYS_FCHDIR, args: []uint64{ours}, want: notify},
		{name: "fchdir host fd with dirs", paths: true, nr: unix.SYS_FCHDIR, args: []uint64{3}, want: notify},
		{name: "connect host fd", nr: unix.SYS_CONNECT, args: []uint64{3}, want: allow},
		{name: "connect host fd with bridges", bridge: true, nr: unix.SYS_CONNECT, args: []uint64{3}, want: notify},
		{name: "accept4 host fd with bridges", bridge: true, nr: unix.SYS_ACCEPT4, args: []uint64{3}, want: notify},
		{name: "getsockopt host fd with bridges", bridge: true, nr: unix.SYS_GETSOCKOPT, args: []uint64{3}, want: notify},
		{name: "read host fd with bridges", bridge: true, nr: unix.SYS_READ, args: []uint64{3}, want: allow},
		{name: "shutdown host fd with bridges", bridge: true, nr: unix.SYS_SHUTDOWN, args: []uint64{3}, want: allow},
		{name: "connect our fd with bridges", bridge: true, nr: unix.SYS_CONNECT, args: []uint64{ours}, want: notify},
		{name: "ioctl SIOCGIFCONF host fd", nr: unix.SYS_IOCTL, args: []uint64{3, unix.SIOCGIFCONF}, want: allow},
		{name: "ioctl SIOCGIFCONF host fd with bridges", bridge: true, nr: unix.SYS_IOCTL, args: []uint64{3, unix.SIOCGIFCONF}, want: notify},
		{name: "ioctl FIONREAD (TIOCINQ) host fd with bridges", bridge: true, nr: unix.SYS_IOCTL, args: []uint64{3, unix.TIOCINQ}, want: allow},
		{name: "ioctl TCGETS host fd with bridges", bridge: true, nr: unix.SYS_IOCTL, args: []uint64{1, unix.TCGETS}, want: allow},
		{name: "ioctl TCGETS our fd with bridges", bridge: true, nr: unix.SYS_IOCTL, args: []uint64{ours, unix.TCGETS}, want: notify},
		{name: "ioctl fd -1 with bridges", bridge: true, nr: unix.SYS_IOCTL, args: []uint64{0xffffffff, unix.TCGETS}, want: allow},
		{name: "sendto host fd, an address, with bridges", bridge: true, nr: unix.SYS_SENDTO, args: []uint64{3, 0x1000, 10, 0, 0x2000, 16}, want: notify},
		{name: "sendto host fd, an address above 4 GiB, with bridges", bridge: true, nr: unix.SYS_SENDTO, args: []uint64{3, 0x1000, 10, 0, 1 << 40, 16}, want: notify},
		{name: "sendto host fd, MSG_OOB, with bridges", bridge: true, nr: unix.SYS_SENDTO, args: []uint64{3, 0x1000, 10, unix.MSG_OOB}, want: notify},
		{name: "sendto host fd, MSG_NOSIGNAL, with bridges", bridge: true, nr: unix.SYS_SENDTO, args: []uint64{3, 0x1000, 10, unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT}, want: allow},
		{name: "sendto our fd with bridges", bridge: true, nr: unix.SYS_SENDTO, args: []uint64{ours, 0x1000, 10}, want: notify},
		{name: "sendto host fd, an address, without bridges", nr: unix.SYS_SENDTO, args: []uint64{3, 0x1000, 10, 0, 0x2000, 16}, want: allow},
		{name: "recvfrom host fd, an address, with bridges", bridge: true, nr: unix.SYS_RECVFROM, args: []uint64{3, 0x1000, 10, 0, 0x2000, 0x3000}, want: allow},
		{name: "recvfrom host fd, MSG_OOB, with bridges", bridge: true, nr: unix.SYS_RECVFROM, args: []uint64{3, 0x1000, 10, unix.MSG_OOB}, want: notify},
		{name: "recvfrom our fd with bridges", bridge: true, nr: unix.SYS_RECVFROM, args: []uint64{ours}, want: notify},
		{name: "other arch", arch: unix.AUDIT_ARCH_I386, nr: unix.SYS_READ, args: []uint64{ours}, want: allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := Filter(FilterOptions{Paths: tc.paths, Bridge: tc.bridge})
			require.NoError(t, err)
			vm, err := bpf.NewVM(prog)
			require.NoError(t, err)
			arch := tc.arch
			if arch == 0 {
				arch = auditArch
			}
			got, err := vm.Run(seccompInput(arch, tc.nr, tc.args...))
			require.NoError(t, err)
			require.Equal(t, tc.want, uint32(got), "want %#x got %#x", tc.want, uint32(got))
		})
	}
}

// TestFilterEveryRule checks that every rule's call is sent to the
// supervisor in some case and that answer knows every number.
func TestFilterEveryRule(t *testing.T) {
	prog, err := Filter(FilterOptions{Paths: true})
	require.NoError(t, err)
	vm, err := bpf.NewVM(prog)
	require.NoError(t, err)
	for _, r := range rules {
		args := []uint64{fdBase, fdBase, fdBase, fdBase, fdBase, fdBase}
		got, err := vm.Run(seccompInput(auditArch, r.nr, args...))
		require.NoError(t, err)
		require.Equal(t, uint32(unix.SECCOMP_RET_USER_NOTIF), uint32(got), "call %d", r.nr)
		if r.paths {
			_, ok := pathArgs[r.nr]
			require.True(t, ok, "path call %d has no pathArgs", r.nr)
		}
	}
}
