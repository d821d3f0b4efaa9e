package libgo_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Anonymous memory from Mmap is usable and goes back with Munmap; bad
// lengths are EINVAL. (aio's ring tests use the io_uring calls.)
func TestMmap(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		_, err := lc.Mmap(-1, 0, 0, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		require.Equal(t, syscall.EINVAL, err)
		require.Equal(t, syscall.EINVAL, lc.Munmap(nil))
		if kerneltest.Differs(t, k, "lkl", "its nommu mmap would hand out LKL's own memory; aio maps only on the host, where io_uring is") {
			return
		}
		b, err := lc.Mmap(-1, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		require.NoError(t, err)
		require.Len(t, b, 8192)
		require.Zero(t, b[8191], "anonymous memory is zeroed")
		b[0], b[8191] = 1, 2
		require.Equal(t, byte(2), b[8191])
		require.NoError(t, lc.Munmap(b))

		var p libgo.IoUringParams
		fd, err := lc.IoUringSetup(0, &p)
		require.Equal(t, syscall.EINVAL, err, "0 entries")
		require.Equal(t, -1, fd)
	})
}
