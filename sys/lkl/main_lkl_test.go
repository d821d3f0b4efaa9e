//go:build lkl

package lkl_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// kern is the one LKL kernel of this test process, booted by TestMain.
// Tests that need a kernel of their own (halt, boot failures, durability)
// run this binary again as a child (children.go).
var kern *lkl.Kernel

// hostCalls records the host calls kern makes on its own behalf: it
// boots with a Tracer around the host as its Config.Host.
var hostCalls struct {
	sync.Mutex
	calls []sys.Call
}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(runChild(name))
	}
	// The runtime opens its poller's epoll fd and eventfd on first use of
	// an *os.File; do that now so they are not counted as a leak.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fdsBefore := openFDs()
	host := sys.NewTracer(sys.Host(), func(c sys.Call) {
		hostCalls.Lock()
		hostCalls.calls = append(hostCalls.calls, c)
		hostCalls.Unlock()
	})
	k, err := lkl.Boot(&lkl.Config{Memory: "512M", Host: host})
	if err != nil {
		fmt.Fprintln(os.Stderr, "boot:", err)
		os.Exit(1)
	}
	kern = k
	code := m.Run()
	if err := k.Halt(); err != nil {
		fmt.Fprintln(os.Stderr, "halt:", err)
		code = 1
	}
	// Halt closes every image the tests attached, and no goroutine
	// outlives the kernel.
	if after := openFDs(); after != fdsBefore {
		fmt.Fprintf(os.Stderr, "host fds: %d before boot, %d after halt\n", fdsBefore, after)
		code = 1
	}
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// openFDs counts the process's open host fds.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	return len(entries)
}

// call makes a host-ABI system call on the test kernel. Like sys.Syscall
// it takes pointers as uintptr, so it needs //go:uintptrescapes too:
// without it, a buffer on the caller's stack can move before the call
// reaches sys.SyscallOn (the first version of these tests lost stat
// results exactly that way).
//
//go:uintptrescapes
func call(trap uintptr, a ...uintptr) (uintptr, sys.Errno) {
	var args [6]uintptr
	copy(args[:], a)
	r, _, e := sys.SyscallOn(kern, trap, args[0], args[1], args[2], args[3], args[4], args[5])
	return r, e
}

// cstr returns a NUL-terminated copy of s.
func cstr(t testing.TB, s string) *byte {
	p, err := unix.BytePtrFromString(s)
	require.NoError(t, err)
	return p
}

// mustCall is call that fails the test on an error.
//
//go:uintptrescapes
func mustCall(t testing.TB, what string, trap uintptr, a ...uintptr) uintptr {
	t.Helper()
	r, e := call(trap, a...)
	require.Zero(t, e, "%s: %v", what, e)
	return r
}

// readFile reads a whole file through LKL with open/read/close.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	p := cstr(t, path)
	fd := mustCall(t, "open "+path, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_CLOEXEC)
	defer call(unix.SYS_CLOSE, fd)
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n := mustCall(t, "read "+path, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// writeFile creates path through LKL and writes data to it.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	p := cstr(t, path)
	fd := mustCall(t, "creat "+path, unix.SYS_CREAT, uintptr(unsafe.Pointer(p)), 0o644)
	defer call(unix.SYS_CLOSE, fd)
	for len(data) > 0 {
		n := mustCall(t, "write "+path, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)))
		data = data[n:]
	}
}

// stat stats path through LKL (host struct layout).
func stat(t testing.TB, trap uintptr, path string) (unix.Stat_t, sys.Errno) {
	var st unix.Stat_t
	_, e := call(trap, uintptr(unsafe.Pointer(cstr(t, path))), uintptr(unsafe.Pointer(&st)))
	return st, e
}

// listDir returns the names in dir (without . and ..) through getdents64.
func listDir(t testing.TB, dir string) map[string]byte {
	t.Helper()
	fd := mustCall(t, "open "+dir, unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr(t, dir))), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	defer call(unix.SYS_CLOSE, fd)
	names := map[string]byte{}
	buf := make([]byte, 4096)
	for {
		n := mustCall(t, "getdents64 "+dir, unix.SYS_GETDENTS64, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if n == 0 {
			return names
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
			typ := b[18]
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if s := string(name); s != "." && s != ".." {
				names[s] = typ
			}
			b = b[reclen:]
		}
	}
}
