package libgo_test

import (
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

func TestFiemapExtentSize(t *testing.T) {
	require.EqualValues(t, 56, unsafe.Sizeof(libgo.FiemapExtent{}), "struct fiemap_extent")
	require.EqualValues(t, 40, unsafe.Offsetof(libgo.FiemapExtent{}.Flags))
}

// On the host's file system the extents of a file with a hole cover its
// data; LKL's root (ramfs) has no FIEMAP (ext4_lkl_test.go maps an
// ext4 image there).
func TestFiemap(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		if kerneltest.Differs(t, k, "lkl", "LKL's root file system has no FIEMAP") {
			writeFileOn(t, lc, path, []byte("x"))
			fd, err := lc.Open(path, unix.O_RDONLY, 0)
			require.NoError(t, err)
			defer lc.Close(fd)
			_, err = lc.IoctlFiemap(fd, 0, ^uint64(0), 0, make([]libgo.FiemapExtent, 4))
			require.ErrorIs(t, err, unix.EOPNOTSUPP)
			return
		}
		checkFiemap(t, lc, path)
	})
}

// checkFiemap writes 64 KiB at 0 and at 1 MiB of a new file and checks
// that its extents cover both and not the hole between.
func checkFiemap(t *testing.T, lc *libgo.Libc, path string) {
	fd, err := lc.Open(path, unix.O_RDWR|unix.O_CREAT, 0o644)
	require.NoError(t, err)
	defer lc.Close(fd)
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = 1
	}
	for _, off := range []int64{0, 1 << 20} {
		_, err := lc.Pwrite(fd, data, off)
		require.NoError(t, err)
	}
	ext := make([]libgo.FiemapExtent, 16)
	n, err := lc.IoctlFiemap(fd, 0, ^uint64(0), libgo.FIEMAP_FLAG_SYNC, ext)
	require.NoError(t, err)
	require.NotZero(t, n)
	covered := func(off uint64) bool {
		for _, e := range ext[:n] {
			if off >= e.Logical && off < e.Logical+e.Length {
				return true
			}
		}
		return false
	}
	require.True(t, covered(0))
	require.True(t, covered(1<<20+100))
	require.False(t, covered(512<<10), "the hole has no extent")
	require.NotZero(t, ext[n-1].Flags&libgo.FIEMAP_EXTENT_LAST)
	_, err = lc.IoctlFiemap(fd, 0, 1, 0, nil)
	require.ErrorIs(t, err, unix.EINVAL)
}
