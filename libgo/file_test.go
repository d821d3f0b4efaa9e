package libgo_test

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// fdFlags returns fcntl(fd, F_GETFD) on k, made directly: libgo's fcntl is
// not what these tests check.
func fdFlags(t *testing.T, k sys.Kernel, fd int) int {
	t.Helper()
	r, _, e := sys.SyscallOn(k, unix.SYS_FCNTL, uintptr(fd), unix.F_GETFD, 0, 0, 0, 0)
	require.Zero(t, e, "fcntl(%d, F_GETFD)", fd)
	return int(r)
}

func TestReadWriteRoundTrip(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		fd, err := lc.Openat(unix.AT_FDCWD, path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
		require.NoError(t, err)
		defer lc.Close(fd)

		n, err := lc.Write(fd, []byte("hello, "))
		require.NoError(t, err)
		require.Equal(t, 7, n)
		n, err = lc.Writev(fd, [][]byte{[]byte("wor"), nil, []byte("ld")})
		require.NoError(t, err)
		require.Equal(t, 5, n)
		n, err = lc.Pwrite(fd, []byte("W"), 7)
		require.NoError(t, err)
		require.Equal(t, 1, n)

		off, err := lc.Seek(fd, 0, unix.SEEK_CUR)
		require.NoError(t, err)
		require.EqualValues(t, 12, off, "pwrite must not move the offset")

		buf := make([]byte, 5)
		n, err = lc.Pread(fd, buf, 7)
		require.NoError(t, err)
		require.Equal(t, "World", string(buf[:n]))

		_, err = lc.Seek(fd, 0, unix.SEEK_SET)
		require.NoError(t, err)
		a, b := make([]byte, 5), make([]byte, 20)
		n, err = lc.Readv(fd, [][]byte{a, {}, b})
		require.NoError(t, err)
		require.Equal(t, 12, n)
		require.Equal(t, "hello", string(a))
		require.Equal(t, ", World", string(b[:7]))

		n, err = lc.Read(fd, buf)
		require.NoError(t, err)
		require.Zero(t, n, "read at end of file")

		var st unix.Stat_t
		require.NoError(t, lc.Fstat(fd, &st))
		require.EqualValues(t, 12, st.Size)
		require.NoError(t, lc.Fsync(fd))
		require.NoError(t, lc.Fdatasync(fd))
	})
}

func TestSeek(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		writeFileOn(t, lc, path, []byte("0123456789"))
		fd, err := lc.Open(path, unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		tests := []struct {
			name    string
			offset  int64
			whence  int
			want    int64
			wantErr error
		}{
			{"set", 3, unix.SEEK_SET, 3, nil},
			{"cur", 2, unix.SEEK_CUR, 5, nil},
			{"cur back", -4, unix.SEEK_CUR, 1, nil},
			{"end", -1, unix.SEEK_END, 9, nil},
			{"past end", 100, unix.SEEK_SET, 100, nil},
			{"negative", -1, unix.SEEK_SET, 0, unix.EINVAL},
			{"bad whence", 0, 99, 0, unix.EINVAL},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				off, err := lc.Seek(fd, tc.offset, tc.whence)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
					return
				}
				require.NoError(t, err)
				require.Equal(t, tc.want, off)
			})
		}
	})
}

func TestTruncate(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		writeFileOn(t, lc, path, []byte("0123456789"))

		require.NoError(t, lc.Truncate(path, 4))
		require.Equal(t, "0123", string(readFileOn(t, lc, path)))

		fd, err := lc.Open(path, unix.O_RDWR, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		require.NoError(t, lc.Ftruncate(fd, 6))
		require.Equal(t, "0123\x00\x00", string(readFileOn(t, lc, path)), "growing fills with zeros")

		require.ErrorIs(t, lc.Ftruncate(fd, -1), unix.EINVAL)
		require.ErrorIs(t, lc.Truncate(path+"-missing", 0), fs.ErrNotExist)
	})
}

func TestFallocate(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		fd, err := lc.Open(path, unix.O_RDWR|unix.O_CREAT, 0o644)
		require.NoError(t, err)
		defer lc.Close(fd)
		err = lc.Fallocate(fd, 0, 0, 8192)
		if kerneltest.Differs(t, k, "lkl", "LKL's /tmp is on its root ramfs, which has no fallocate (EOPNOTSUPP)") {
			require.ErrorIs(t, err, unix.EOPNOTSUPP)
			return
		}
		require.NoError(t, err)
		var st unix.Stat_t
		require.NoError(t, lc.Fstat(fd, &st))
		require.EqualValues(t, 8192, st.Size)
		require.GreaterOrEqual(t, st.Blocks*512, int64(8192), "blocks are allocated")

		require.NoError(t, lc.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 8192, 4096))
		require.NoError(t, lc.Fstat(fd, &st))
		require.EqualValues(t, 8192, st.Size, "FALLOC_FL_KEEP_SIZE keeps the size")
		require.ErrorIs(t, lc.Fallocate(fd, 0, 0, 0), unix.EINVAL, "zero length")
	})
}

func TestCopyFileRangeAndSendfile(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		src := filepath.Join(dir, "src")
		data := bytes.Repeat([]byte("0123456789abcdef"), 1024)
		writeFileOn(t, lc, src, data)
		in, err := lc.Open(src, unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(in)

		t.Run("copy_file_range", func(t *testing.T) {
			dst := filepath.Join(dir, "cfr")
			out, err := lc.Open(dst, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644)
			require.NoError(t, err)
			defer lc.Close(out)

			roff, woff := int64(16), int64(0)
			n, err := lc.CopyFileRange(in, &roff, out, &woff, 100, 0)
			require.NoError(t, err)
			require.Equal(t, 100, n)
			require.EqualValues(t, 116, roff, "*roff advances")
			require.EqualValues(t, 100, woff, "*woff advances")
			cur, err := lc.Seek(in, 0, unix.SEEK_CUR)
			require.NoError(t, err)
			require.Zero(t, cur, "the offset is left alone when roff is given")

			n, err = lc.CopyFileRange(in, nil, out, nil, len(data), 0) // from offset 0, to offset 0
			require.NoError(t, err)
			require.Equal(t, len(data), n)
			require.Equal(t, data, readFileOn(t, lc, dst))

			_, err = lc.CopyFileRange(in, nil, out, nil, 1, 1)
			require.ErrorIs(t, err, unix.EINVAL, "flags must be 0")
		})

		t.Run("sendfile", func(t *testing.T) {
			dst := filepath.Join(dir, "sf")
			out, err := lc.Open(dst, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644)
			require.NoError(t, err)
			defer lc.Close(out)

			off := int64(len(data) - 10)
			n, err := lc.Sendfile(out, in, &off, 100)
			require.NoError(t, err)
			require.Equal(t, 10, n, "stops at the end of the input")
			require.EqualValues(t, len(data), off)

			_, err = lc.Seek(in, 0, unix.SEEK_SET)
			require.NoError(t, err)
			for total := 0; total < len(data); {
				n, err := lc.Sendfile(out, in, nil, len(data)-total)
				require.NoError(t, err)
				require.NotZero(t, n)
				total += n
			}
			require.Equal(t, append(append([]byte(nil), data[len(data)-10:]...), data...), readFileOn(t, lc, dst))
		})
	})
}

func TestOpenCloexec(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		tests := []struct {
			name string
			open func(path string) (int, error)
		}{
			{"Open", func(p string) (int, error) { return lc.Open(p, unix.O_RDWR|unix.O_CREAT, 0o644) }},
			{"Openat", func(p string) (int, error) { return lc.Openat(unix.AT_FDCWD, p, unix.O_RDWR|unix.O_CREAT, 0o644) }},
			{"Creat", func(p string) (int, error) { return lc.Creat(p, 0o644) }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				fd, err := tc.open(filepath.Join(dir, tc.name))
				require.NoError(t, err)
				defer lc.Close(fd)
				require.Equal(t, unix.FD_CLOEXEC, fdFlags(t, k, fd)&unix.FD_CLOEXEC)
			})
		}
	})
}

func TestOpenErrors(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		file := filepath.Join(dir, "file")
		writeFileOn(t, lc, file, []byte("x"))
		tests := []struct {
			name  string
			path  string
			flags int
			want  error
		}{
			{"missing", filepath.Join(dir, "missing"), unix.O_RDONLY, fs.ErrNotExist},
			{"exclusive", file, unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, fs.ErrExist},
			{"through a file", filepath.Join(file, "x"), unix.O_RDONLY, unix.ENOTDIR},
			{"O_DIRECTORY on a file", file, unix.O_RDONLY | unix.O_DIRECTORY, unix.ENOTDIR},
			{"writing a directory", dir, unix.O_WRONLY, unix.EISDIR},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				fd, err := lc.Open(tc.path, tc.flags, 0o644)
				require.ErrorIs(t, err, tc.want)
				require.Equal(t, -1, fd)
				var errno syscall.Errno
				require.True(t, errors.As(err, &errno), "a bare errno, got %T", err)
			})
		}
	})
}

func TestClosedFD(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		fd, err := lc.Creat(path, 0o644)
		require.NoError(t, err)
		require.NoError(t, lc.Close(fd))

		buf := make([]byte, 4)
		off := int64(0)
		var st unix.Stat_t
		tests := []struct {
			name string
			call func() error
		}{
			{"Close", func() error { return lc.Close(fd) }},
			{"Read", func() error { _, err := lc.Read(fd, buf); return err }},
			{"Read empty", func() error { _, err := lc.Read(fd, nil); return err }},
			{"Write", func() error { _, err := lc.Write(fd, buf); return err }},
			{"Write empty", func() error { _, err := lc.Write(fd, nil); return err }},
			{"Pread", func() error { _, err := lc.Pread(fd, buf, 0); return err }},
			{"Pwrite", func() error { _, err := lc.Pwrite(fd, buf, 0); return err }},
			{"Readv", func() error { _, err := lc.Readv(fd, [][]byte{buf}); return err }},
			{"Writev", func() error { _, err := lc.Writev(fd, [][]byte{buf}); return err }},
			{"Seek", func() error { _, err := lc.Seek(fd, 0, unix.SEEK_SET); return err }},
			{"Fsync", func() error { return lc.Fsync(fd) }},
			{"Fdatasync", func() error { return lc.Fdatasync(fd) }},
			{"Ftruncate", func() error { return lc.Ftruncate(fd, 0) }},
			{"Fallocate", func() error { return lc.Fallocate(fd, 0, 0, 1) }},
			{"CopyFileRange", func() error { _, err := lc.CopyFileRange(fd, nil, fd, nil, 1, 0); return err }},
			{"Sendfile", func() error { _, err := lc.Sendfile(fd, fd, &off, 1); return err }},
			{"Fstat", func() error { return lc.Fstat(fd, &st) }},
			{"Fchmod", func() error { return lc.Fchmod(fd, 0o600) }},
			{"Fchown", func() error { return lc.Fchown(fd, -1, -1) }},
			{"Fchdir", func() error { return lc.Fchdir(fd) }},
			{"Getdents", func() error { _, err := lc.Getdents(fd, make([]byte, 1024)); return err }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				require.ErrorIs(t, tc.call(), unix.EBADF)
			})
		}
	})
}

func TestEmptyReadWrite(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		writeFileOn(t, lc, path, []byte("data"))
		fd, err := lc.Open(path, unix.O_RDWR, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		n, err := lc.Read(fd, nil)
		require.NoError(t, err)
		require.Zero(t, n, "a zero-length read of a file with data gives 0: not end of file")
		n, err = lc.Write(fd, []byte{})
		require.NoError(t, err)
		require.Zero(t, n)
		n, err = lc.Readv(fd, nil)
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, "data", string(readFileOn(t, lc, path)))
	})
}

func TestIovMax(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		fd, err := lc.Open(path, unix.O_RDWR|unix.O_CREAT, 0o644)
		require.NoError(t, err)
		defer lc.Close(fd)

		bufs := make([][]byte, 1024)
		for i := range bufs {
			bufs[i] = []byte{byte(i)}
		}
		n, err := lc.Writev(fd, bufs)
		require.NoError(t, err)
		require.Equal(t, 1024, n, "1024 buffers (IOV_MAX) are allowed")

		bufs = append(bufs, []byte{0})
		_, err = lc.Writev(fd, bufs)
		require.ErrorIs(t, err, unix.EINVAL, "1025 buffers")
		_, err = lc.Readv(fd, bufs)
		require.ErrorIs(t, err, unix.EINVAL, "1025 buffers")
	})
}

// injected returns a libc on k whose calls fail as faults say, and the
// injector, to check what fired.
func injected(t *testing.T, k sys.Kernel, faults ...sys.Fault) (*libgo.Libc, *sys.Injector) {
	t.Helper()
	in, err := sys.NewInjector(k, 1, faults...)
	require.NoError(t, err)
	return libgo.New(in), in
}

func TestFaults(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		path := filepath.Join(kerneltest.TempDir(t, k), "f")
		tests := []struct {
			name  string
			fault sys.Fault
			// run makes the calls on fd, open read-write on path, which
			// holds "0123456789", and checks their outcome.
			run func(t *testing.T, lc *libgo.Libc, fd int)
		}{
			{"read EINTR is retried", sys.Fault{Trap: unix.SYS_READ, Nth: 1, Errno: unix.EINTR}, func(t *testing.T, lc *libgo.Libc, fd int) {
				buf := make([]byte, 4)
				n, err := lc.Read(fd, buf)
				require.NoError(t, err)
				require.Equal(t, "0123", string(buf[:n]))
			}},
			{"write EINTR is retried", sys.Fault{Trap: unix.SYS_WRITE, Nth: 1, Errno: unix.EINTR}, func(t *testing.T, lc *libgo.Libc, fd int) {
				n, err := lc.Write(fd, []byte("ab"))
				require.NoError(t, err)
				require.Equal(t, 2, n)
			}},
			{"pread EINTR is retried", sys.Fault{Trap: unix.SYS_PREAD64, Nth: 1, Errno: unix.EINTR}, func(t *testing.T, lc *libgo.Libc, fd int) {
				buf := make([]byte, 2)
				n, err := lc.Pread(fd, buf, 8)
				require.NoError(t, err)
				require.Equal(t, "89", string(buf[:n]))
			}},
			{"fsync EINTR is retried", sys.Fault{Trap: unix.SYS_FSYNC, Nth: 1, Errno: unix.EINTR}, func(t *testing.T, lc *libgo.Libc, fd int) {
				require.NoError(t, lc.Fsync(fd))
			}},
			{"short write is reported", sys.Fault{Trap: unix.SYS_WRITE, Nth: 1, Short: 3}, func(t *testing.T, lc *libgo.Libc, fd int) {
				n, err := lc.Write(fd, []byte("abcdefgh"))
				require.NoError(t, err)
				require.Equal(t, 3, n, "Write does not loop")
				require.Equal(t, "abc3456789", string(readFileOn(t, lc, path)))
			}},
			{"short read is reported", sys.Fault{Trap: unix.SYS_READ, Nth: 1, Short: 2}, func(t *testing.T, lc *libgo.Libc, fd int) {
				n, err := lc.Read(fd, make([]byte, 8))
				require.NoError(t, err)
				require.Equal(t, 2, n)
			}},
			{"write ENOSPC", sys.Fault{Trap: unix.SYS_WRITE, Nth: 1, Errno: unix.ENOSPC}, func(t *testing.T, lc *libgo.Libc, fd int) {
				n, err := lc.Write(fd, []byte("ab"))
				require.ErrorIs(t, err, unix.ENOSPC)
				require.Equal(t, unix.ENOSPC, err, "a bare errno")
				require.Zero(t, n)
			}},
			{"pwrite EIO", sys.Fault{Trap: unix.SYS_PWRITE64, Nth: 1, Errno: unix.EIO}, func(t *testing.T, lc *libgo.Libc, fd int) {
				_, err := lc.Pwrite(fd, []byte("ab"), 0)
				require.Equal(t, unix.EIO, err)
			}},
			{"fsync EIO", sys.Fault{Trap: unix.SYS_FSYNC, Nth: 1, Errno: unix.EIO}, func(t *testing.T, lc *libgo.Libc, fd int) {
				require.Equal(t, unix.EIO, lc.Fsync(fd))
			}},
			{"fdatasync ENOSPC", sys.Fault{Trap: unix.SYS_FDATASYNC, Nth: 1, Errno: unix.ENOSPC}, func(t *testing.T, lc *libgo.Libc, fd int) {
				require.Equal(t, unix.ENOSPC, lc.Fdatasync(fd))
			}},
			{"close EINTR is not retried", sys.Fault{Trap: unix.SYS_CLOSE, Nth: 1, Errno: unix.EINTR}, func(t *testing.T, lc *libgo.Libc, fd int) {
				require.Equal(t, unix.EINTR, lc.Close(fd))
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				writeFileOn(t, libgo.New(k), path, []byte("0123456789"))
				lc, in := injected(t, k, tc.fault)
				fd, err := lc.Open(path, unix.O_RDWR, 0)
				require.NoError(t, err)
				defer libgo.New(k).Close(fd) // not through the injector
				tc.run(t, lc, fd)
				fired := in.Fired()
				require.Len(t, fired, 1, "the fault fired once")
				require.Equal(t, tc.fault.Trap, fired[0].Trap)
			})
		}
	})
}

// countKernel answers every call with its third argument, the byte count
// of read, write, pread64 and pwrite64, without touching the buffer.
type countKernel struct{}

func (countKernel) Name() string { return "count" }

func (countKernel) Syscall(_, _, _, a3, _, _, _ uintptr) (uintptr, uintptr, sys.Errno) {
	return a3, 0, 0
}

// TestMaxRW checks that one call moves at most 1 GiB. It needs no real
// kernel, only the count libgo passes, so it runs on a stub.
func TestMaxRW(t *testing.T) {
	lc := libgo.New(countKernel{})
	big := make([]byte, 1<<30+1) // untouched: the pages are never faulted in
	tests := []struct {
		name string
		call func() (int, error)
	}{
		{"Read", func() (int, error) { return lc.Read(0, big) }},
		{"Write", func() (int, error) { return lc.Write(0, big) }},
		{"Pread", func() (int, error) { return lc.Pread(0, big, 0) }},
		{"Pwrite", func() (int, error) { return lc.Pwrite(0, big, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := tc.call()
			require.NoError(t, err)
			require.Equal(t, 1<<30, n)
		})
	}
}
