package aio_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// A file opened into the ring's file table, read twice and closed as one
// hard-linked chain, with the open's and the close's completions skipped:
// the reads give the bytes, then 0 at the end; no fd is opened. A failed
// open posts its own completion, and the reads after it fail with EBADF
// on the empty slot; a close of an empty slot fails with EBADF.
func TestRingDirectFiles(t *testing.T) {
	onRing(t, aio.RingConfig{}, func(t *testing.T, k sys.Kernel, r *aio.Ring) {
		require.NotZero(t, r.Features()&aio.FeatCQESkip, "Linux 5.17+")
		require.NoError(t, r.RegisterFilesSparse(4))
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		want := []byte("the file's bytes")
		require.NoError(t, os.WriteFile(filepath.Join(dir, "f"), want, 0o644))
		dirfd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		defer lc.Close(dirfd)

		chain := func(name string, slot uint32, b1, b2 []byte) {
			path, err := unix.BytePtrFromString(name)
			require.NoError(t, err)
			how := &unix.OpenHow{Flags: unix.O_RDONLY, Resolve: unix.RESOLVE_BENEATH}
			s := getSQE(t, r)
			s.PrepOpenat2Direct(dirfd, path, how, slot)
			s.Flags |= aio.SQEIOHardlink | aio.SQECQESkipSuccess
			s.UserData = 1
			s = getSQE(t, r)
			s.PrepReadDirect(slot, b1, -1)
			s.Flags |= aio.SQEIOHardlink
			s.UserData = 2
			s = getSQE(t, r)
			s.PrepReadDirect(slot, b2, -1)
			s.Flags |= aio.SQEIOHardlink
			s.UserData = 3
			s = getSQE(t, r)
			s.PrepCloseDirect(slot)
			s.Flags |= aio.SQECQESkipSuccess
			s.UserData = 4
			_, err = r.Submit()
			require.NoError(t, err)
		}

		fdsBefore := openFDs(t)
		b1, b2 := make([]byte, 64), make([]byte, 64)
		chain("f", 3, b1, b2)
		got := reapN(t, r, 2)
		require.Equal(t, []aio.CQE{{UserData: 2, Res: int32(len(want))}, {UserData: 3, Res: 0}}, got)
		require.Equal(t, want, b1[:len(want)])
		require.Equal(t, fdsBefore, openFDs(t), "a file in the table has no fd")

		chain("missing", 0, b1, b2)
		got = reapN(t, r, 4)
		require.Equal(t, []aio.CQE{
			{UserData: 1, Res: -int32(syscall.ENOENT)},
			{UserData: 2, Res: -int32(syscall.EBADF)},
			{UserData: 3, Res: -int32(syscall.EBADF)},
			{UserData: 4, Res: -int32(syscall.EBADF)},
		}, got)
		require.Zero(t, r.Ready())

		// Slots past the table are refused.
		s := getSQE(t, r)
		s.PrepCloseDirect(4)
		s.UserData = 5
		_, err = r.Submit()
		require.NoError(t, err)
		require.Equal(t, -int32(syscall.EINVAL), reapN(t, r, 1)[0].Res)

		require.NoError(t, r.UnregisterFiles())
		requireSyscallError(t, r.UnregisterFiles(), "io_uring_register", syscall.ENXIO)
		requireSyscallError(t, r.RegisterFilesSparse(0), "io_uring_register", syscall.EINVAL)
	})
}

// RegisterFilesSparse falls back to a table of -1 fds where the kernel
// refuses IORING_REGISTER_FILES2 with EINVAL (before Linux 5.19), and
// passes other errors on.
func TestRingDirectFilesFallback(t *testing.T) {
	onHostRing(t, func(t *testing.T, k sys.Kernel) {
		in, err := sys.NewInjector(k, 1, sys.Fault{Trap: unix.SYS_IO_URING_REGISTER, Count: 1, Errno: unix.EINVAL})
		require.NoError(t, err)
		r, err := aio.NewRing(in, aio.RingConfig{Entries: 8})
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, r.RegisterFilesSparse(2))
		require.Len(t, in.Fired(), 1, "FILES2 refused, FILES taken")
		require.NoError(t, r.UnregisterFiles())

		in, err = sys.NewInjector(k, 1, sys.Fault{Trap: unix.SYS_IO_URING_REGISTER, Count: 1, Errno: unix.ENOMEM})
		require.NoError(t, err)
		r2, err := aio.NewRing(in, aio.RingConfig{Entries: 8})
		require.NoError(t, err)
		defer r2.Close()
		requireSyscallError(t, r2.RegisterFilesSparse(2), "io_uring_register", syscall.ENOMEM)
	})
}

// openFDs returns the process's open fds, by /proc/self/fd.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}
