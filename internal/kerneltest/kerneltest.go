// Package kerneltest holds checks that every sys.Kernel must pass, written
// once and run by the tests of each kernel (sys for the host, sys/lkl for
// LKL). Later layers' conformance suites grow here too.
//
// kerneltest sits just above sys: it imports sys and nothing else of
// gokernel, and only tests import it.
package kerneltest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// stackHog is a kernel that grows the calling goroutine's stack by tens of
// kilobytes during every call before passing it on, so the runtime copies
// stacks while pointer arguments are in flight.
type stackHog struct{ inner sys.Kernel }

func (h stackHog) Name() string { return h.inner.Name() }

// IsHost passes the inner kernel's capability on (sys.HostKernel).
func (h stackHog) IsHost() bool { return sys.IsHost(h.inner) }

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

// PointerStress checks that sys.Syscall and sys.SyscallOn keep pointer
// arguments alive and in place: 16 goroutines write 64-byte patterns into
// pipes made on k and read them back into arrays on their own stacks, iters
// times each, alternating the two entry points, while a wrapper kernel grows
// the stack during every call and another goroutine runs the GC in a loop.
// Every byte is checked. Without //go:uintptrescapes the reads land in stacks
// that have moved away and this fails.
//
// It makes a stack-growing wrapper of k the process default for its
// duration, so it must not run in parallel with other tests of the default.
func PointerStress(t testing.TB, k sys.Kernel, iters int) {
	const workers = 16
	hog := stackHog{k}
	old := sys.Default()
	sys.SetDefault(hog)
	defer sys.SetDefault(old)

	done := make(chan struct{})
	var gcWG sync.WaitGroup
	gcWG.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
			}
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		var fds [2]int32
		if _, _, e := sys.SyscallOn(k, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), unix.O_CLOEXEC, 0, 0, 0, 0); e != 0 {
			t.Fatalf("pipe2: %v", e)
		}
		r, wr := uintptr(fds[0]), uintptr(fds[1])
		defer sys.SyscallOn(k, unix.SYS_CLOSE, r, 0, 0, 0, 0, 0)
		defer sys.SyscallOn(k, unix.SYS_CLOSE, wr, 0, 0, 0, 0, 0)
		wg.Go(func() {
			// A new goroutine every few calls starts on a small stack
			// again, so the wrapper's stack growth keeps copying it.
			for i := 0; i < iters; i += 10 {
				res := make(chan error, 1)
				go func() {
					for j := i; j < min(i+10, iters); j++ {
						if err := roundTrip(hog, w, j, r, wr); err != nil {
							res <- err
							return
						}
					}
					res <- nil
				}()
				if err := <-res; err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	gcWG.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// roundTrip writes a 64-byte pattern and reads it back into a stack array,
// alternately through sys.Syscall and sys.SyscallOn.
//
//go:noinline
func roundTrip(k sys.Kernel, w, i int, r, wr uintptr) error {
	var out, in [64]byte
	for j := range out {
		out[j] = byte(w*31 + i*7 + j)
	}
	var n uintptr
	var e sys.Errno
	if i%2 == 0 {
		n, _, e = sys.Syscall(unix.SYS_WRITE, wr, uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), 0, 0, 0)
	} else {
		n, _, e = sys.SyscallOn(k, unix.SYS_WRITE, wr, uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), 0, 0, 0)
	}
	if e != 0 || n != uintptr(len(out)) {
		return fmt.Errorf("worker %d call %d: write = %d, %v", w, i, n, e)
	}
	if i%2 == 0 {
		n, _, e = sys.SyscallOn(k, unix.SYS_READ, r, uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), 0, 0, 0)
	} else {
		n, _, e = sys.Syscall(unix.SYS_READ, r, uintptr(unsafe.Pointer(&in[0])), uintptr(len(in)), 0, 0, 0)
	}
	if e != 0 || n != uintptr(len(in)) {
		return fmt.Errorf("worker %d call %d: read = %d, %v", w, i, n, e)
	}
	for j := range in { // compare by value: slicing in would move it to the heap
		if in[j] != out[j] {
			return fmt.Errorf("worker %d call %d: byte %d = %#x, want %#x", w, i, j, in[j], out[j])
		}
	}
	return nil
}
