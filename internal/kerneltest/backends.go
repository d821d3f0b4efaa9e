package kerneltest

import (
	"testing"

	"github.com/gokernel/gokernel/sys"
)

// EnvBackend is aio's environment variable for the I/O backend
// (aio.EnvBackend; kerneltest sits below aio and cannot import it).
const EnvBackend = "GOKERNEL_AIO"

// Backends returns the I/O backends (aio.Backend's names) that kernel k
// runs tests on: "epoll" on every kernel, and "uring" on the host (LKL,
// Linux 4.9, has no io_uring).
func Backends(k sys.Kernel) []string {
	if sys.IsHost(k) {
		return []string{"epoll", "uring"}
	}
	return []string{"epoll"}
}

// RunBackends is Run once per kernel and I/O backend: subtests
// "host/epoll", "host/uring" and, with -tags lkl, "lkl/epoll". Each runs
// with GOKERNEL_AIO set to its backend, so the code under test (aio.Choose,
// eloop's loops) takes it; f is told which it is, to check that it was
// taken or to test what differs. Tests that use it cannot be parallel
// (t.Setenv).
func RunBackends(t *testing.T, f func(t *testing.T, k sys.Kernel, backend string)) {
	t.Helper()
	Run(t, func(t *testing.T, k sys.Kernel) {
		for _, b := range Backends(k) {
			t.Run(b, func(t *testing.T) {
				t.Setenv(EnvBackend, b)
				f(t, k, b)
			})
		}
	})
}
