package ufs_test

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// fstest.TestFS on the test tree, written through ufs into a fresh
// directory of each kernel.
func TestFSConformance(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		dir := kerneltest.TempDir(t, k)
		tr := testTree("")
		w := ufs.New(k, dir)
		writeTree(t, w, tr)
		require.NoError(t, w.Link("hello.txt", "dir/hard-link"))
		require.NoError(t, w.Close())

		fsys := ufs.New(k, dir)
		defer fsys.Close()
		require.NoError(t, fstest.TestFS(fsys, append(expected(tr), "dir/hard-link")...))
	})
}

// The same tree made by the host's os package reads the same through ufs.
func TestFSOnOSTree(t *testing.T) {
	kerneltest.CheckFDs(t, sys.Host())
	dir := t.TempDir()
	tr := testTree("")
	tr.Write(t, dir)
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	require.NoError(t, fstest.TestFS(fsys, expected(tr)...))
	for name, content := range tr.Files() {
		got, err := fsys.ReadFile(name)
		require.NoError(t, err)
		require.Equal(t, content, string(got), name)
	}
}

// Bad names and closed file systems fail as io/fs says, on every method.
func TestFSErrors(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		dir := kerneltest.TempDir(t, k)
		fsys := ufs.New(k, dir)
		require.NoError(t, fsys.WriteFile("f", []byte("x"), 0o644))
		type call struct {
			name string
			f    func(name string) error
		}
		calls := []call{
			{"open", func(n string) error { _, err := fsys.Open(n); return err }},
			{"readdir", func(n string) error { _, err := fsys.ReadDir(n); return err }},
			{"open", func(n string) error { _, err := fsys.ReadFile(n); return err }},
			{"stat", func(n string) error { _, err := fsys.Stat(n); return err }},
			{"lstat", func(n string) error { _, err := fsys.Lstat(n); return err }},
			{"readlink", func(n string) error { _, err := fsys.ReadLink(n); return err }},
			{"sub", func(n string) error { _, err := fsys.Sub(n); return err }},
		}
		tests := []struct {
			name, path string
			want       error
		}{
			{"absolute", "/etc/passwd", fs.ErrInvalid},
			{"dot-dot", "../x", fs.ErrInvalid},
			{"inner dot-dot", "a/../f", fs.ErrInvalid},
			{"trailing slash", "f/", fs.ErrInvalid},
			{"empty", "", fs.ErrInvalid},
			{"NUL", "f\x00g", syscall.EINVAL},
			{"missing", "nope", fs.ErrNotExist},
		}
		for _, tc := range tests {
			for _, c := range calls {
				t.Run(tc.name+"/"+c.name, func(t *testing.T) {
					err := c.f(tc.path)
					if tc.name == "missing" && c.name == "sub" {
						require.NoError(t, err, "Sub opens its directory on first use")
						return
					}
					var pe *fs.PathError
					require.ErrorAs(t, err, &pe)
					require.Equal(t, c.name, pe.Op)
					require.Equal(t, tc.path, pe.Path)
					require.ErrorIs(t, err, tc.want)
				})
			}
		}
		// Writing methods take os.Root-style names: NUL is EINVAL.
		require.ErrorIs(t, fsys.WriteFile("a\x00b", nil, 0o644), syscall.EINVAL)
		require.ErrorIs(t, fsys.Mkdir("a\x00b", 0o755), syscall.EINVAL)
		require.ErrorIs(t, fsys.Rename("f", "g\x00"), syscall.EINVAL)
		require.ErrorIs(t, fsys.Symlink("f\x00", "g"), syscall.EINVAL)

		f, err := fsys.Open("f")
		require.NoError(t, err)
		require.NoError(t, fsys.Close())
		require.ErrorIs(t, fsys.Close(), fs.ErrClosed, "a second Close")
		_, err = fsys.Open("f")
		require.ErrorIs(t, err, fs.ErrClosed)
		require.ErrorIs(t, fsys.WriteFile("g", nil, 0o644), fs.ErrClosed)
		b := make([]byte, 4)
		n, err := f.Read(b)
		require.NoError(t, err, "an open File outlives its FS")
		require.Equal(t, "x", string(b[:n]))
		require.NoError(t, f.Close())
		require.True(t, errors.Is(f.Close(), fs.ErrClosed))

		_, err = ufs.New(k, dir+"/f").Open(".")
		require.ErrorIs(t, err, syscall.ENOTDIR, "a root that is not a directory")
		_, err = ufs.New(k, dir+"/none").Stat(".")
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
}
