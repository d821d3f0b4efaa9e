package sys_test

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// pipe returns a close-on-exec pipe made through k.
func pipe(t testing.TB, k sys.Kernel) (r, w uintptr) {
	t.Helper()
	var fds [2]int32
	_, _, errno := sys.SyscallOn(k, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), unix.O_CLOEXEC, 0, 0, 0, 0)
	require.Zero(t, errno, "pipe2")
	t.Cleanup(func() {
		sys.SyscallOn(k, unix.SYS_CLOSE, uintptr(fds[0]), 0, 0, 0, 0, 0)
		sys.SyscallOn(k, unix.SYS_CLOSE, uintptr(fds[1]), 0, 0, 0, 0, 0)
	})
	return uintptr(fds[0]), uintptr(fds[1])
}

func TestHostGetpid(t *testing.T) {
	pid, _, errno := sys.Syscall(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	require.Zero(t, errno)
	require.Equal(t, uintptr(os.Getpid()), pid)
	require.Equal(t, "host", sys.Default().Name())
}

func TestPipeRoundTrip(t *testing.T) {
	r, w := pipe(t, sys.Host())
	msg := []byte("through the one door")
	n, _, errno := sys.Syscall(unix.SYS_WRITE, w, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
	require.Zero(t, errno)
	require.Equal(t, uintptr(len(msg)), n)
	got := make([]byte, 64)
	n, _, errno = sys.Syscall(unix.SYS_READ, r, uintptr(unsafe.Pointer(&got[0])), uintptr(len(got)), 0, 0, 0)
	require.Zero(t, errno)
	require.Equal(t, msg, got[:n])
}

func TestErrors(t *testing.T) {
	missing, err := unix.BytePtrFromString("/nonexistent/gokernel/file")
	require.NoError(t, err)
	var one [1]byte
	cwd := unix.AT_FDCWD // a variable: the negative constant cannot convert to uintptr
	atFDCWD := uintptr(cwd)
	tests := []struct {
		name  string
		trap  uintptr
		args  [6]uintptr
		errno sys.Errno
		is    error // also errors.Is this, if set
	}{
		{"missing file is ENOENT", unix.SYS_OPENAT, [6]uintptr{atFDCWD, uintptr(unsafe.Pointer(missing)), unix.O_RDONLY}, unix.ENOENT, fs.ErrNotExist},
		{"bad fd is EBADF", unix.SYS_READ, [6]uintptr{1 << 30, uintptr(unsafe.Pointer(&one[0])), 1}, unix.EBADF, nil},
		{"negative fd is EBADF", unix.SYS_CLOSE, [6]uintptr{^uintptr(0)}, unix.EBADF, nil},
		{"unknown number is ENOSYS", 100000, [6]uintptr{}, unix.ENOSYS, errors.ErrUnsupported},
		{"bad pointer is EFAULT", unix.SYS_READ, [6]uintptr{0, 1, 1}, unix.EFAULT, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.args
			if tc.name == "bad pointer is EFAULT" {
				r, w := pipe(t, sys.Host())
				sys.Syscall(unix.SYS_WRITE, w, uintptr(unsafe.Pointer(&one[0])), 1, 0, 0, 0)
				a[0] = r
			}
			_, _, errno := sys.Syscall(tc.trap, a[0], a[1], a[2], a[3], a[4], a[5])
			require.Equal(t, tc.errno, errno)
			var err error = errno
			require.ErrorIs(t, err, tc.errno)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
		})
	}
	runtime.KeepAlive(missing)
}

// TestPointerSafety: see kerneltest.PointerStress. With //go:uintptrescapes
// removed from Syscall and SyscallOn it fails (checked when it was written:
// up to 16 corrupted reads per run).
func TestPointerSafety(t *testing.T) {
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	kerneltest.PointerStress(t, sys.Host(), iters)
}
