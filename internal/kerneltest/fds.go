package kerneltest

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// OpenFDs counts the fds open on kernel k, for leak checks that compare a
// count before a test with one after: on the host the entries of
// /proc/self/fd (including the one reading it); on another kernel, whose fd
// table is its own and which may have no /proc, the fds below 4096 that
// fcntl(F_GETFD) accepts.
func OpenFDs(t testing.TB, k sys.Kernel) int {
	t.Helper()
	if sys.IsHost(k) {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	n := 0
	for fd := range 4096 {
		if _, _, e := sys.SyscallOn(k, unix.SYS_FCNTL, uintptr(fd), unix.F_GETFD, 0, 0, 0, 0); e == 0 {
			n++
		}
	}
	return n
}
