package kerneltest

import (
	"os"
	"runtime"
	"testing"
	"time"

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

// CheckFDs makes t fail at its end if kernel k has more fds open than
// when CheckFDs was called: the one fd-leak check of the tests.
//
// The count is process-wide on the host, so the baseline is taken once it
// has settled (three equal counts 10 ms apart, for at most a second):
// an earlier test's objects may still be closing their fds (a poller
// stopping, a cleanup the garbage collector runs), and a baseline taken
// while they do is one too high and makes a later equal count look like
// a change. At the end the count may take a while to come down for the
// same reasons, so it is read again, with a garbage collection between
// reads, for up to 5 s before the test fails. A count below the baseline
// is no leak of this test's.
func CheckFDs(t testing.TB, k sys.Kernel) {
	t.Helper()
	before := OpenFDs(t, k)
	for same, deadline := 0, time.Now().Add(time.Second); same < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if n := OpenFDs(t, k); n == before {
			same++
		} else {
			before, same = n, 0
		}
	}
	t.Cleanup(func() {
		after := OpenFDs(t, k)
		for deadline := time.Now().Add(5 * time.Second); after > before && time.Now().Before(deadline); {
			runtime.GC()
			time.Sleep(10 * time.Millisecond)
			after = OpenFDs(t, k)
		}
		if after > before {
			t.Errorf("fds left open: %d on %s before the test, %d after", before, k.Name(), after)
		}
	})
}
