package sys_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

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

// stackHog is a kernel that grows the calling goroutine's stack by tens of
// kilobytes during every call, before passing it on, so the runtime copies
// stacks while pointer arguments are in flight.
type stackHog struct{ inner sys.Kernel }

func (h stackHog) Name() string { return h.inner.Name() }

func (h stackHog) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, sys.Errno) {
	return deep(48, func() (uintptr, uintptr, sys.Errno) { return h.inner.Syscall(trap, a1, a2, a3, a4, a5, a6) })
}

//go:noinline
func deep(n int, f func() (uintptr, uintptr, sys.Errno)) (uintptr, uintptr, sys.Errno) {
	var pad [1024]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return f()
	}
	r1, r2, e := deep(n-1, f)
	return r1 + uintptr(pad[n%len(pad)]-byte(n)), r2, e
}

// TestPointerSafety reads from pipes into buffers that live on the caller's
// stack while the kernel grows that stack during every call and the GC runs
// in a loop. Without //go:uintptrescapes on Syscall and SyscallOn the bytes
// land in a stack that has moved away, and the checks below fail.
func TestPointerSafety(t *testing.T) {
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	const workers = 16
	hog := stackHog{sys.Host()}
	old := sys.Default()
	sys.SetDefault(hog)
	defer sys.SetDefault(old)

	done := make(chan struct{})
	var gcWG sync.WaitGroup
	gcWG.Add(1)
	go func() {
		defer gcWG.Done()
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		r, wr := pipe(t, sys.Host())
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A new goroutine every few calls starts on a small stack again,
			// so the kernel's stack growth keeps copying it.
			for i := 0; i < iters; i += 10 {
				err := make(chan error, 1)
				go func() {
					for j := i; j < i+10; j++ {
						if e := roundTrip(hog, w, j, r, wr); e != nil {
							err <- e
							return
						}
					}
					err <- nil
				}()
				if e := <-err; e != nil {
					errs <- e
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	gcWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// roundTrip writes a 64-byte pattern and reads it back into a fresh stack
// array, alternately through Syscall and SyscallOn.
//
//go:noinline
func roundTrip(k sys.Kernel, w, i int, r, wr uintptr) error {
	var out, in [64]byte
	for j := range out {
		out[j] = byte(w*31 + i*7 + j)
	}
	var n uintptr
	var errno sys.Errno
	if i%2 == 0 {
		n, _, errno = sys.Syscall(unix.SYS_WRITE, wr, uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), 0, 0, 0)
	} else {
		n, _, errno = sys.SyscallOn(k, unix.SYS_WRITE, wr, uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), 0, 0, 0)
	}
	if errno != 0 || n != uintptr(len(out)) {
		return fmt.Errorf("worker %d iter %d: write = %d, %v", w, i, n, errno)
	}
	if i%2 == 0 {
		n, _, errno = sys.SyscallOn(k, unix.SYS_READ, r, uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), 0, 0, 0)
	} else {
		n, _, errno = sys.Syscall(unix.SYS_READ, r, uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), 0, 0, 0)
	}
	if errno != 0 || n != uintptr(len(in)) {
		return fmt.Errorf("worker %d iter %d: read = %d, %v", w, i, n, errno)
	}
	for j := range in { // compare by value: slicing in would move it to the heap
		if in[j] != out[j] {
			return fmt.Errorf("worker %d iter %d: byte %d = %#x, want %#x", w, i, j, in[j], out[j])
		}
	}
	return nil
}
