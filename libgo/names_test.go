package libgo_test

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

func TestLink(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		makeTree(t, lc, dir, "file", "sub/", "sym => file")
		dfd := openDir(t, lc, dir)
		ino := func(path string) (uint64, uint64) {
			var st unix.Stat_t
			require.NoError(t, lc.Lstat(path, &st))
			return st.Ino, uint64(st.Nlink)
		}
		fileIno, _ := ino(filepath.Join(dir, "file"))
		symIno, _ := ino(filepath.Join(dir, "sym"))

		require.NoError(t, lc.Link(filepath.Join(dir, "file"), filepath.Join(dir, "hard")))
		i, n := ino(filepath.Join(dir, "hard"))
		require.Equal(t, fileIno, i)
		require.EqualValues(t, 2, n)

		require.NoError(t, lc.Link(filepath.Join(dir, "sym"), filepath.Join(dir, "symhard")))
		i, _ = ino(filepath.Join(dir, "symhard"))
		require.Equal(t, symIno, i, "link does not follow a final symlink")
		require.NoError(t, lc.Linkat(dfd, "sym", dfd, "followed", unix.AT_SYMLINK_FOLLOW))
		i, n = ino(filepath.Join(dir, "followed"))
		require.Equal(t, fileIno, i, "AT_SYMLINK_FOLLOW does")
		require.EqualValues(t, 3, n)

		require.ErrorIs(t, lc.Link(filepath.Join(dir, "file"), filepath.Join(dir, "hard")), fs.ErrExist)
		require.ErrorIs(t, lc.Link(filepath.Join(dir, "missing"), filepath.Join(dir, "x")), fs.ErrNotExist)
		require.ErrorIs(t, lc.Link(filepath.Join(dir, "sub"), filepath.Join(dir, "x")), unix.EPERM, "no hard links to directories")
	})
}

func TestSymlinkReadlink(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		makeTree(t, lc, dir, "file")
		dfd := openDir(t, lc, dir)

		require.NoError(t, lc.Symlink("file", filepath.Join(dir, "rel")))
		require.NoError(t, lc.Symlinkat("/no/such/target", dfd, "abs"))
		require.ErrorIs(t, lc.Symlink("x", filepath.Join(dir, "file")), fs.ErrExist)

		buf := make([]byte, 64)
		n, err := lc.Readlink(filepath.Join(dir, "rel"), buf)
		require.NoError(t, err)
		require.Equal(t, "file", string(buf[:n]))
		n, err = lc.Readlinkat(dfd, "abs", buf)
		require.NoError(t, err)
		require.Equal(t, "/no/such/target", string(buf[:n]), "the target is stored as given")
		n, err = lc.Readlinkat(dfd, "abs", buf[:3])
		require.NoError(t, err)
		require.Equal(t, "/no", string(buf[:n]), "cut to the buffer, no error")
		require.Equal(t, "file", string(readFileOn(t, lc, filepath.Join(dir, "rel"))))

		_, err = lc.Readlink(filepath.Join(dir, "file"), buf)
		require.ErrorIs(t, err, unix.EINVAL, "not a symlink")
		_, err = lc.Readlink(filepath.Join(dir, "missing"), buf)
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
}

func TestUnlink(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		makeTree(t, lc, dir, "a", "b", "sub/", "sym => sub")
		dfd := openDir(t, lc, dir)
		var st unix.Stat_t

		require.NoError(t, lc.Unlink(filepath.Join(dir, "a")))
		require.ErrorIs(t, lc.Lstat(filepath.Join(dir, "a"), &st), fs.ErrNotExist)
		require.NoError(t, lc.Unlinkat(dfd, "b", 0))
		require.ErrorIs(t, lc.Lstat(filepath.Join(dir, "b"), &st), fs.ErrNotExist)
		require.NoError(t, lc.Unlink(filepath.Join(dir, "sym")), "removes the link, not its target")
		require.NoError(t, lc.Lstat(filepath.Join(dir, "sub"), &st))

		require.ErrorIs(t, lc.Unlink(filepath.Join(dir, "a")), fs.ErrNotExist)
		require.ErrorIs(t, lc.Unlink(filepath.Join(dir, "sub")), unix.EISDIR)
		require.ErrorIs(t, lc.Unlinkat(dfd, "sub", 0), unix.EISDIR)
		require.ErrorIs(t, lc.Unlinkat(dfd, "sub", 0x4), unix.EINVAL, "unknown flags")
	})
}

func TestRename(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		makeTree(t, lc, dir, "a", "b", "c", "d", "sub/", "full/", "full/x")
		dfd := openDir(t, lc, dir)
		p := func(name string) string { return filepath.Join(dir, name) }
		content := func(name string) string { return string(readFileOn(t, lc, p(name))) }

		require.NoError(t, lc.Rename(p("a"), p("a2")))
		require.Equal(t, "a", content("a2"))
		require.NoError(t, lc.Rename(p("a2"), p("b")), "replaces")
		require.Equal(t, "a", content("b"))
		require.NoError(t, lc.Renameat(dfd, "b", dfd, "sub/b"))
		require.Equal(t, "a", content("sub/b"))

		require.ErrorIs(t, lc.Renameat2(dfd, "c", dfd, "d", unix.RENAME_NOREPLACE), fs.ErrExist)
		require.Equal(t, "c", content("c"), "nothing moved")
		require.NoError(t, lc.Renameat2(dfd, "c", dfd, "e", unix.RENAME_NOREPLACE))
		require.Equal(t, "c", content("e"))
		require.NoError(t, lc.Renameat2(dfd, "e", dfd, "c", 0), "no flags is renameat")

		err := lc.Renameat2(dfd, "c", dfd, "d", unix.RENAME_EXCHANGE)
		if kerneltest.Differs(t, k, "lkl", "ramfs in Linux 4.9 (simple_rename) knows only RENAME_NOREPLACE: EXCHANGE is EINVAL") {
			require.ErrorIs(t, err, unix.EINVAL)
		} else {
			require.NoError(t, err)
			require.Equal(t, "d", content("c"))
			require.Equal(t, "c", content("d"))
		}

		tests := []struct {
			name     string
			old, new string
			want     error
		}{
			{"missing", "missing", "x", fs.ErrNotExist},
			{"file over directory", "d", "sub", unix.EISDIR},
			{"directory over file", "sub", "d", unix.ENOTDIR},
			{"directory over non-empty", "sub", "full", unix.ENOTEMPTY},
			{"directory into itself", "sub", "sub/in", unix.EINVAL},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				require.ErrorIs(t, lc.Rename(p(tc.old), p(tc.new)), tc.want)
				require.ErrorIs(t, lc.Renameat(dfd, tc.old, dfd, tc.new), tc.want)
				require.ErrorIs(t, lc.Renameat2(dfd, tc.old, dfd, tc.new, 0), tc.want)
			})
		}
	})
}

// TestNULInPath checks every method that takes a path: a NUL byte in any
// path argument is EINVAL, without a panic and without reaching the kernel
// (every call on the injected kernel would fail with EIO).
func TestNULInPath(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		dir := kerneltest.TempDir(t, k)
		good := filepath.Join(dir, "file")
		bad := filepath.Join(dir, "a\x00b")
		writeFileOn(t, libgo.New(k), good, nil)
		lc, in := injected(t, k, sys.Fault{Trap: sys.AnyTrap, Errno: unix.EIO})

		var st unix.Stat_t
		var sfs unix.Statfs_t
		ts := []unix.Timespec{{Sec: 1}, {Sec: 2}}
		buf := make([]byte, 16)
		cwd := unix.AT_FDCWD
		tests := []struct {
			name string
			call func(path string) error
		}{
			{"Open", func(p string) error { _, err := lc.Open(p, unix.O_RDONLY, 0); return err }},
			{"Openat", func(p string) error { _, err := lc.Openat(cwd, p, unix.O_RDONLY, 0); return err }},
			{"Creat", func(p string) error { _, err := lc.Creat(p, 0o644); return err }},
			{"Truncate", func(p string) error { return lc.Truncate(p, 0) }},
			{"Stat", func(p string) error { return lc.Stat(p, &st) }},
			{"Lstat", func(p string) error { return lc.Lstat(p, &st) }},
			{"Fstatat", func(p string) error { return lc.Fstatat(cwd, p, &st, 0) }},
			{"Statfs", func(p string) error { return lc.Statfs(p, &sfs) }},
			{"Chmod", func(p string) error { return lc.Chmod(p, 0o644) }},
			{"Fchmodat", func(p string) error { return lc.Fchmodat(cwd, p, 0o644, 0) }},
			{"Fchmodat flags", func(p string) error { return lc.Fchmodat(cwd, p, 0o644, unix.AT_SYMLINK_NOFOLLOW) }},
			{"Chown", func(p string) error { return lc.Chown(p, -1, -1) }},
			{"Lchown", func(p string) error { return lc.Lchown(p, -1, -1) }},
			{"Fchownat", func(p string) error { return lc.Fchownat(cwd, p, -1, -1, 0) }},
			{"UtimesNano", func(p string) error { return lc.UtimesNano(p, ts) }},
			{"UtimesNanoAt", func(p string) error { return lc.UtimesNanoAt(cwd, p, ts, 0) }},
			{"Access", func(p string) error { return lc.Access(p, unix.F_OK) }},
			{"Faccessat", func(p string) error { return lc.Faccessat(cwd, p, unix.F_OK, 0) }},
			{"Faccessat flags", func(p string) error { return lc.Faccessat(cwd, p, unix.F_OK, unix.AT_EACCESS) }},
			{"Mkdir", func(p string) error { return lc.Mkdir(p, 0o755) }},
			{"Mkdirat", func(p string) error { return lc.Mkdirat(cwd, p, 0o755) }},
			{"Rmdir", func(p string) error { return lc.Rmdir(p) }},
			{"Chdir", func(p string) error { return lc.Chdir(p) }},
			{"Link old", func(p string) error { return lc.Link(p, good+"2") }},
			{"Link new", func(p string) error { return lc.Link(good, p) }},
			{"Linkat old", func(p string) error { return lc.Linkat(cwd, p, cwd, good+"2", 0) }},
			{"Linkat new", func(p string) error { return lc.Linkat(cwd, good, cwd, p, 0) }},
			{"Symlink target", func(p string) error { return lc.Symlink(p, good+"2") }},
			{"Symlink new", func(p string) error { return lc.Symlink(good, p) }},
			{"Symlinkat target", func(p string) error { return lc.Symlinkat(p, cwd, good+"2") }},
			{"Symlinkat new", func(p string) error { return lc.Symlinkat(good, cwd, p) }},
			{"Readlink", func(p string) error { _, err := lc.Readlink(p, buf); return err }},
			{"Readlinkat", func(p string) error { _, err := lc.Readlinkat(cwd, p, buf); return err }},
			{"Unlink", func(p string) error { return lc.Unlink(p) }},
			{"Unlinkat", func(p string) error { return lc.Unlinkat(cwd, p, 0) }},
			{"Rename old", func(p string) error { return lc.Rename(p, good+"2") }},
			{"Rename new", func(p string) error { return lc.Rename(good, p) }},
			{"Renameat old", func(p string) error { return lc.Renameat(cwd, p, cwd, good+"2") }},
			{"Renameat new", func(p string) error { return lc.Renameat(cwd, good, cwd, p) }},
			{"Renameat2 old", func(p string) error { return lc.Renameat2(cwd, p, cwd, good+"2", 0) }},
			{"Renameat2 new", func(p string) error { return lc.Renameat2(cwd, good, cwd, p, 0) }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var err error
				require.NotPanics(t, func() { err = tc.call(bad) })
				require.Equal(t, unix.EINVAL, err)
				require.NotPanics(t, func() { err = tc.call("\x00") })
				require.Equal(t, unix.EINVAL, err)
			})
		}
		require.Empty(t, in.Fired(), "no call reached the kernel")

		plain := libgo.New(k)
		require.ErrorIs(t, plain.Lstat(filepath.Join(dir, "a"), &st), fs.ErrNotExist, "nothing made at the path before the NUL")
		require.ErrorIs(t, plain.Lstat(good+"2", &st), fs.ErrNotExist)
		require.NoError(t, plain.Lstat(good, &st))
	})
}
