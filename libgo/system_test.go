package libgo_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

func TestUname(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		var u unix.Utsname
		require.NoError(t, lc.Uname(&u))
		require.Equal(t, "Linux", unix.ByteSliceToString(u.Sysname[:]))
		release := unix.ByteSliceToString(u.Release[:])
		require.NotEmpty(t, release)
		if kerneltest.Differs(t, k, "lkl", "LKL is Linux 4.9 and its machine is \"lkl\"") {
			require.True(t, strings.HasPrefix(release, "4.9"), release)
			require.Equal(t, "lkl", unix.ByteSliceToString(u.Machine[:]))
		}
		require.Equal(t, syscall.EFAULT, lc.Uname(nil))
	})
}

func TestIDs(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		require.Positive(t, lc.Gettid())
		if kerneltest.Differs(t, k, "lkl", "LKL's one process is its init task: pid 1, parent 0") {
			require.Equal(t, 1, lc.Getpid())
			require.Equal(t, 0, lc.Getppid())
			return
		}
		require.Equal(t, os.Getpid(), lc.Getpid())
		require.Equal(t, os.Getppid(), lc.Getppid())
	})
}

func TestSysinfo(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		var si unix.Sysinfo_t
		require.NoError(t, lc.Sysinfo(&si))
		require.Positive(t, si.Totalram)
		require.Positive(t, si.Unit)
		require.LessOrEqual(t, si.Freeram, si.Totalram)
		require.Positive(t, si.Procs)
		require.Equal(t, syscall.EFAULT, lc.Sysinfo(nil))
	})
}

func TestSchedGetaffinity(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		var set unix.CPUSet
		require.NoError(t, libgo.New(k).SchedGetaffinity(&set))
		if k.Name() == "host" {
			var want unix.CPUSet
			require.NoError(t, unix.SchedGetaffinity(0, &want))
			require.Equal(t, want, set)
		} else {
			require.Equal(t, 1, set.Count(), "LKL runs one CPU")
		}
		require.Equal(t, syscall.EFAULT, libgo.New(k).SchedGetaffinity(nil))
	})
}

func TestSync(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		libgo.New(k).Sync() // cannot fail; it must return
	})
}

// statMode returns the mode of path on k (stat(2) through sys, so this test
// does not depend on libgo's own stat).
func statMode(t *testing.T, k sys.Kernel, path string) uint32 {
	t.Helper()
	p, err := unix.BytePtrFromString(path)
	require.NoError(t, err)
	var st unix.Stat_t
	_, _, e := sys.SyscallOn(k, unix.SYS_STAT, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&st)), 0, 0, 0, 0)
	require.Zero(t, e)
	return st.Mode
}

func TestMount(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		err := lc.Mount("libgo-test", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0710")
		if k.Name() == "host" && os.Geteuid() != 0 {
			kerneltest.Differs(t, k, "host", "not root: mount needs CAP_SYS_ADMIN")
			require.Equal(t, syscall.EPERM, err)
			return
		}
		require.NoError(t, err)
		t.Cleanup(func() { lc.Unmount(dir, unix.MNT_DETACH) })
		require.Equal(t, uint32(unix.S_IFDIR|0o710), statMode(t, k, dir), "the data string reached the file system")
		require.NoError(t, lc.Unmount(dir, 0))
		require.Equal(t, syscall.EINVAL, lc.Unmount(dir, 0), "no longer a mount point")

		// Options the file system rejects.
		err = lc.Mount("libgo-test", dir, "tmpfs", 0, "no-such-option=1")
		if kerneltest.Differs(t, k, "lkl", "LKL has no MMU, so no CONFIG_SHMEM: its tmpfs is ramfs, which ignores unknown options") {
			require.NoError(t, err)
			require.NoError(t, lc.Unmount(dir, 0))
		} else {
			require.Equal(t, syscall.EINVAL, err)
		}

		require.Equal(t, syscall.ENODEV, lc.Mount("x", dir, "no-such-fs", 0, ""), "unknown type")
		require.Equal(t, syscall.ENOENT, lc.Mount("x", dir+"/missing", "tmpfs", 0, ""), "no target")
		require.Equal(t, syscall.EINVAL, lc.Mount("x", dir, "tmpfs", 0, strings.Repeat("m", 4096)), "data longer than a page")
		require.Equal(t, syscall.ENOENT, lc.Unmount(dir+"/missing", 0))
	})
}

// TestNULBytes passes a NUL byte in every string argument: each is
// EINVAL, never a panic and never a truncated string.
func TestNULBytes(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		fd := autoClose(t, lc, mustOK(lc.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)))
		bad := &libgo.SockaddrUnix{Name: dir + "/so\x00ck"}
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{name: "Mount source", call: func() error { return lc.Mount("a\x00b", dir, "tmpfs", 0, "") }},
			{name: "Mount target", call: func() error { return lc.Mount("x", dir+"\x00", "tmpfs", 0, "") }},
			{name: "Mount fstype", call: func() error { return lc.Mount("x", dir, "tmp\x00fs", 0, "") }},
			{name: "Mount data", call: func() error { return lc.Mount("x", dir, "tmpfs", 0, "mode=0700\x00,size=1") }},
			{name: "Unmount target", call: func() error { return lc.Unmount(dir+"\x00/x", 0) }},
			{name: "Bind unix path", call: func() error { return lc.Bind(fd, bad) }},
			{name: "Connect unix path", call: func() error { return lc.Connect(fd, bad) }},
			{name: "Sendto unix path", call: func() error { _, err := lc.Sendto(fd, nil, 0, bad); return err }},
			{name: "Sendmsg unix path", call: func() error { _, err := lc.Sendmsg(fd, nil, nil, bad, 0); return err }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				require.Equal(t, syscall.EINVAL, tc.call())
			})
		}
	})
}
