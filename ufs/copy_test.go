package ufs_test

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// pattern is n bytes that show any misplaced block.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>12)
	}
	return b
}

// io.Copy between Files of one kernel stays in the kernel; to and from
// other readers and writers it goes through memory. Every path gives the
// same bytes.
func TestCopy(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		fsys := ufs.New(k, kerneltest.TempDir(t, k))
		defer fsys.Close()
		data := pattern(3<<20 + 123)
		require.NoError(t, fsys.WriteFile("src", data, 0o644))
		tests := []struct {
			name string
			copy func(t *testing.T, src, dst *ufs.File) (int64, error)
			want []byte
		}{
			{"file to file (WriterTo)", func(t *testing.T, src, dst *ufs.File) (int64, error) { return io.Copy(dst, src) }, data},
			{"file to file (ReaderFrom)", func(t *testing.T, src, dst *ufs.File) (int64, error) { return dst.ReadFrom(src) }, data},
			{"limited", func(t *testing.T, src, dst *ufs.File) (int64, error) {
				return io.Copy(dst, io.LimitReader(src, 1<<20+5))
			}, data[:1<<20+5]},
			{"from offset", func(t *testing.T, src, dst *ufs.File) (int64, error) {
				_, err := src.Seek(1000, io.SeekStart)
				require.NoError(t, err)
				return io.Copy(dst, src)
			}, data[1000:]},
			{"from a reader", func(t *testing.T, src, dst *ufs.File) (int64, error) {
				return io.Copy(dst, bytes.NewReader(data))
			}, data},
			{"to a writer", func(t *testing.T, src, dst *ufs.File) (int64, error) {
				var b bytes.Buffer
				n, err := io.Copy(&b, src)
				if err == nil {
					_, err = dst.Write(b.Bytes())
				}
				return n, err
			}, data},
			{"from a string", func(t *testing.T, src, dst *ufs.File) (int64, error) {
				return io.Copy(dst, strings.NewReader("short"))
			}, []byte("short")},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				src, err := fsys.OpenFile("src", 0, 0)
				require.NoError(t, err)
				defer src.Close()
				dst, err := fsys.Create("dst")
				require.NoError(t, err)
				n, err := tc.copy(t, src, dst)
				require.NoError(t, err)
				require.EqualValues(t, len(tc.want), n)
				require.NoError(t, dst.Close())
				got, err := fsys.ReadFile("dst")
				require.NoError(t, err)
				require.True(t, bytes.Equal(tc.want, got), "copied bytes differ")
			})
		}
	})
}

// counting is a kernel that counts the calls of one number on its way to
// inner.
type counting struct {
	sys.Kernel
	trap uintptr
	n    atomic.Int64
}

func (c *counting) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, sys.Errno) {
	if trap == c.trap {
		c.n.Add(1)
	}
	return c.Kernel.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// Between two Files of one kernel, io.Copy is copy_file_range.
func TestCopyStaysInKernel(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		c := &counting{Kernel: k, trap: unix.SYS_COPY_FILE_RANGE}
		fsys := ufs.New(c, kerneltest.TempDir(t, k))
		defer fsys.Close()
		require.NoError(t, fsys.WriteFile("src", pattern(1<<20), 0o644))
		src, err := fsys.Open("src")
		require.NoError(t, err)
		defer src.Close()
		dst, err := fsys.Create("dst")
		require.NoError(t, err)
		defer dst.Close()
		n, err := io.Copy(dst, src)
		require.NoError(t, err)
		require.EqualValues(t, 1<<20, n)
		require.NotZero(t, c.n.Load(), "copy_file_range was not called")
	})
}

// CopyTree finds a sparse file's data with SEEK_DATA/SEEK_HOLE and never
// reads its holes: an 8 GiB file holding two bytes costs two small reads
// (before, every 8 MiB chunk of the file was read, which is what made a
// hostile image's 2 TiB file a hang in the image campaign). The copy has
// the same size and bytes. On the host only: LKL's temporary directories
// are on its rootfs, a no-MMU ramfs, which cannot hold a sparse file
// (growing one by truncate is EFBIG).
func TestCopyTreeSkipsHoles(t *testing.T) {
	k := sys.Host()
	const size = int64(8) << 30
	var readBytes atomic.Int64
	trace := sys.NewTracer(k, func(c sys.Call) {
		if c.Trap == unix.SYS_PREAD64 && c.Err == 0 {
			readBytes.Add(int64(c.R1))
		}
	})
	src := ufs.New(trace, kerneltest.TempDir(t, k))
	defer src.Close()
	dst := ufs.New(k, kerneltest.TempDir(t, k))
	defer dst.Close()
	f, err := src.Create("sparse")
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	_, err = f.WriteAt([]byte("x"), size/2)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("y"), size-1)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	require.NoError(t, ufs.CopyTree(dst, src, []string{"sparse"}, ufs.CopyOptions{}))
	require.Less(t, readBytes.Load(), int64(64<<20), "CopyTree read the holes")
	out, err := dst.OpenFile("sparse", os.O_RDONLY, 0)
	require.NoError(t, err)
	defer out.Close()
	fi, err := out.Stat()
	require.NoError(t, err)
	require.Equal(t, size, fi.Size())
	for _, c := range []struct {
		off  int64
		want byte
	}{{0, 0}, {size/2 - 1, 0}, {size / 2, 'x'}, {size/2 + 1, 0}, {size - 1, 'y'}} {
		b := make([]byte, 1)
		_, err := out.ReadAt(b, c.off)
		require.NoError(t, err)
		require.Equal(t, c.want, b[0], "byte at %d", c.off)
	}
}
