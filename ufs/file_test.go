package ufs_test

import (
	"io"
	"io/fs"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

func TestFileIO(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		fsys := ufs.New(k, kerneltest.TempDir(t, k))
		defer fsys.Close()
		f, err := fsys.Create("f")
		require.NoError(t, err)
		n, err := f.Write([]byte("hello, world"))
		require.NoError(t, err)
		require.Equal(t, 12, n)
		_, err = f.WriteAt([]byte("HELLO"), 0)
		require.NoError(t, err)

		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"seek and read", func(t *testing.T) {
				off, err := f.Seek(7, io.SeekStart)
				require.NoError(t, err)
				require.EqualValues(t, 7, off)
				b := make([]byte, 10)
				n, err := f.Read(b)
				require.NoError(t, err)
				require.Equal(t, "world", string(b[:n]))
				n, err = f.Read(b)
				require.Equal(t, io.EOF, err, "bare io.EOF")
				require.Zero(t, n)
				n, err = f.Read(nil)
				require.NoError(t, err, "a zero-length read is not EOF")
				require.Zero(t, n)
			}},
			{"read at", func(t *testing.T) {
				b := make([]byte, 5)
				_, err := f.ReadAt(b, 0)
				require.NoError(t, err)
				require.Equal(t, "HELLO", string(b))
				n, err := f.ReadAt(b, 10)
				require.Equal(t, io.EOF, err)
				require.Equal(t, "ld", string(b[:n]))
				_, err = f.ReadAt(b, -1)
				require.ErrorIs(t, err, syscall.EINVAL)
			}},
			{"stat", func(t *testing.T) {
				fi, err := f.Stat()
				require.NoError(t, err)
				require.Equal(t, "f", fi.Name())
				require.EqualValues(t, 12, fi.Size())
				require.True(t, fi.Mode().IsRegular())
				st, ok := fi.Sys().(*unix.Stat_t)
				require.True(t, ok, "Sys is a *unix.Stat_t")
				require.EqualValues(t, 12, st.Size)
			}},
			{"truncate and sync", func(t *testing.T) {
				require.NoError(t, f.Truncate(5))
				require.NoError(t, f.Sync())
				fi, err := fsys.Stat("f")
				require.NoError(t, err)
				require.EqualValues(t, 5, fi.Size())
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, tc.run)
		}
		require.NoError(t, f.Close())
		for _, call := range []func() error{
			func() error { _, err := f.Read(make([]byte, 1)); return err },
			func() error { _, err := f.Write([]byte("x")); return err },
			func() error { _, err := f.Stat(); return err },
			func() error { _, err := f.ReadDir(-1); return err },
			func() error { _, err := f.Seek(0, 0); return err },
			f.Close,
		} {
			err := call()
			require.ErrorIs(t, err, fs.ErrClosed)
			var pe *fs.PathError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "f", pe.Path)
		}

		a, err := fsys.OpenFile("f", unix.O_WRONLY|unix.O_APPEND, 0)
		require.NoError(t, err)
		_, err = a.WriteAt([]byte("x"), 0)
		require.ErrorIs(t, err, syscall.EINVAL, "WriteAt on O_APPEND, as os")
		_, err = a.Write([]byte("!"))
		require.NoError(t, err)
		require.NoError(t, a.Close())
		got, err := fsys.ReadFile("f")
		require.NoError(t, err)
		require.Equal(t, "HELLO!", string(got))
	})
}

// ReadDir(n) pages through a directory as fs.ReadDirFile says.
func TestFileReadDir(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		fsys := ufs.New(k, kerneltest.TempDir(t, k))
		defer fsys.Close()
		const files = 300
		for i := range files {
			require.NoError(t, fsys.WriteFile(string(rune('a'+i%26))+string(rune('0'+i/26)), nil, 0o644))
		}
		d, err := fsys.Open(".")
		require.NoError(t, err)
		defer d.Close()
		dir := d.(fs.ReadDirFile)
		seen := map[string]bool{}
		for {
			ents, err := dir.ReadDir(7)
			if err == io.EOF {
				require.Empty(t, ents)
				break
			}
			require.NoError(t, err)
			require.NotEmpty(t, ents)
			require.LessOrEqual(t, len(ents), 7)
			for _, e := range ents {
				require.False(t, seen[e.Name()], "returned twice: %s", e.Name())
				seen[e.Name()] = true
				require.True(t, e.Type().IsRegular())
			}
		}
		require.Len(t, seen, files)
		ents, err := dir.ReadDir(-1)
		require.NoError(t, err, "n <= 0 at the end: nil error")
		require.Empty(t, ents)
		_, err = d.(io.Seeker).Seek(0, io.SeekStart)
		require.NoError(t, err)
		ents, err = dir.ReadDir(-1)
		require.NoError(t, err)
		require.Len(t, ents, files, "Seek(0) starts again")
	})
}

// Close while other goroutines read: they finish or see ErrClosed, and the
// fd is closed once, after them (run under -race).
func TestFileCloseDuringReads(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		fsys := ufs.New(k, kerneltest.TempDir(t, k))
		defer fsys.Close()
		require.NoError(t, fsys.WriteFile("f", make([]byte, 1<<20), 0o644))
		for range 20 {
			f, err := fsys.Open("f")
			require.NoError(t, err)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					b := make([]byte, 4096)
					for {
						_, err := f.(io.ReaderAt).ReadAt(b, 0)
						if err != nil {
							require.ErrorIs(t, err, fs.ErrClosed)
							return
						}
					}
				})
			}
			require.NoError(t, f.Close())
			wg.Wait()
		}
	})
}

// A nil *File fails every method with fs.ErrInvalid instead of panicking,
// as a nil *os.File does.
func TestNilFile(t *testing.T) {
	var f *ufs.File
	for _, call := range []func() error{
		func() error { _, err := f.Read(nil); return err },
		func() error { _, err := f.ReadAt(nil, -1); return err },
		func() error { _, err := f.Write(nil); return err },
		func() error { _, err := f.WriteAt(nil, -1); return err },
		func() error { _, err := f.Stat(); return err },
		f.Close,
	} {
		require.ErrorIs(t, call(), fs.ErrInvalid)
	}
}
