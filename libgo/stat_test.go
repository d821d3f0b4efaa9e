package libgo_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// kernelAtLeast reports whether k's uname(2) release is at least
// major.minor.
func kernelAtLeast(t *testing.T, k sys.Kernel, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	_, _, e := sys.SyscallOn(k, unix.SYS_UNAME, uintptr(unsafe.Pointer(&u)), 0, 0, 0, 0, 0)
	require.Zero(t, e, "uname")
	rel := string(u.Release[:bytes.IndexByte(u.Release[:], 0)])
	var maj, mnr int
	for i, part := range bytes.SplitN([]byte(rel), []byte("."), 3)[:2] {
		n := 0
		for _, c := range part {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		if i == 0 {
			maj = n
		} else {
			mnr = n
		}
	}
	return maj > major || maj == major && mnr >= minor
}

func TestStat(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		file := filepath.Join(dir, "file")
		link := filepath.Join(dir, "link")
		writeFileOn(t, lc, file, []byte("12345"))
		require.NoError(t, lc.Chmod(file, 0o640))
		require.NoError(t, lc.Symlink("file", link))

		var st, lst, fst, atst unix.Stat_t
		require.NoError(t, lc.Stat(file, &st))
		require.EqualValues(t, unix.S_IFREG|0o640, st.Mode)
		require.EqualValues(t, 5, st.Size)
		require.EqualValues(t, 1, st.Nlink)
		require.NotZero(t, st.Ino)

		require.NoError(t, lc.Stat(link, &lst))
		require.Equal(t, st.Ino, lst.Ino, "Stat follows the symlink")
		require.NoError(t, lc.Lstat(link, &lst))
		require.EqualValues(t, unix.S_IFLNK, lst.Mode&unix.S_IFMT, "Lstat does not")
		require.EqualValues(t, len("file"), lst.Size, "a symlink's size is its target's length")
		require.NotEqual(t, st.Ino, lst.Ino)

		fd, err := lc.Open(file, unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		require.NoError(t, lc.Fstat(fd, &fst))
		require.Equal(t, st.Ino, fst.Ino)
		require.Equal(t, st.Dev, fst.Dev)

		dfd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		defer lc.Close(dfd)
		require.NoError(t, lc.Fstatat(dfd, "link", &atst, 0))
		require.Equal(t, st.Ino, atst.Ino)
		require.NoError(t, lc.Fstatat(dfd, "link", &atst, unix.AT_SYMLINK_NOFOLLOW))
		require.Equal(t, lst.Ino, atst.Ino)
		require.NoError(t, lc.Fstatat(fd, "", &atst, unix.AT_EMPTY_PATH))
		require.Equal(t, st.Ino, atst.Ino)

		require.NoError(t, lc.Stat(dir, &st))
		require.EqualValues(t, unix.S_IFDIR, st.Mode&unix.S_IFMT)

		require.ErrorIs(t, lc.Stat(filepath.Join(dir, "missing"), &st), fs.ErrNotExist)
		require.ErrorIs(t, lc.Stat(filepath.Join(file, "x"), &st), unix.ENOTDIR)
		require.NoError(t, lc.Symlink("missing", filepath.Join(dir, "dangling")))
		require.ErrorIs(t, lc.Stat(filepath.Join(dir, "dangling"), &st), fs.ErrNotExist)
		require.NoError(t, lc.Lstat(filepath.Join(dir, "dangling"), &st))
	})
}

func TestUtimes(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		file := filepath.Join(dir, "file")
		link := filepath.Join(dir, "link")
		writeFileOn(t, lc, file, nil)
		require.NoError(t, lc.Symlink("file", link))
		fd, err := lc.Open(file, unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(fd)

		atime := unix.Timespec{Sec: 1_000_000_000, Nsec: 123_456_789}
		mtime := unix.Timespec{Sec: 1_500_000_000, Nsec: 987_654_321}
		times := func(path string) (unix.Timespec, unix.Timespec) {
			var st unix.Stat_t
			require.NoError(t, lc.Lstat(path, &st))
			return st.Atim, st.Mtim
		}
		tests := []struct {
			name      string
			call      func(ts []unix.Timespec) error
			path      string // whose times change
			wantAtime unix.Timespec
		}{
			{"UtimesNano", func(ts []unix.Timespec) error { return lc.UtimesNano(file, ts) }, file, atime},
			{"UtimesNano through a symlink", func(ts []unix.Timespec) error { return lc.UtimesNano(link, ts) }, file, atime},
			{"UtimesNanoAt nofollow", func(ts []unix.Timespec) error {
				return lc.UtimesNanoAt(unix.AT_FDCWD, link, ts, unix.AT_SYMLINK_NOFOLLOW)
			}, link, atime},
			{"Futimens", func(ts []unix.Timespec) error { return lc.Futimens(fd, ts) }, file, atime},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				require.NoError(t, tc.call([]unix.Timespec{atime, mtime}))
				a, m := times(tc.path)
				require.Equal(t, atime, a)
				require.Equal(t, mtime, m)

				require.NoError(t, tc.call([]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Sec: 42}}))
				a, m = times(tc.path)
				require.Equal(t, atime, a, "UTIME_OMIT leaves the access time")
				require.Equal(t, unix.Timespec{Sec: 42}, m)

				for _, ts := range [][]unix.Timespec{nil, {atime}, {atime, mtime, mtime}} {
					require.ErrorIs(t, tc.call(ts), unix.EINVAL, "%d times", len(ts))
				}
			})
		}
	})
}

func TestChmod(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		file := filepath.Join(dir, "file")
		writeFileOn(t, lc, file, nil)
		require.NoError(t, lc.Symlink("file", filepath.Join(dir, "link")))
		fd, err := lc.Open(file, unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		dfd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		defer lc.Close(dfd)

		tests := []struct {
			name string
			call func(mode uint32) error
		}{
			{"Chmod", func(m uint32) error { return lc.Chmod(file, m) }},
			{"Chmod through a symlink", func(m uint32) error { return lc.Chmod(filepath.Join(dir, "link"), m) }},
			{"Fchmod", func(m uint32) error { return lc.Fchmod(fd, m) }},
			{"Fchmodat", func(m uint32) error { return lc.Fchmodat(dfd, "file", m, 0) }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				for _, mode := range []uint32{0o600, 0o4755, 0} {
					require.NoError(t, tc.call(mode))
					var st unix.Stat_t
					require.NoError(t, lc.Stat(file, &st))
					require.Equal(t, mode, st.Mode&^unix.S_IFMT)
				}
			})
		}
		require.ErrorIs(t, lc.Chmod(filepath.Join(dir, "missing"), 0o600), fs.ErrNotExist)

		// AT_SYMLINK_NOFOLLOW needs fchmodat2 (Linux 6.6).
		err = lc.Fchmodat(dfd, "file", 0o640, unix.AT_SYMLINK_NOFOLLOW)
		lerr := lc.Fchmodat(dfd, "link", 0o640, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case kerneltest.Differs(t, k, "lkl", "Linux 4.9 has no fchmodat2: flags give ENOSYS"):
			require.ErrorIs(t, err, unix.ENOSYS)
			require.ErrorIs(t, lerr, unix.ENOSYS)
		case !kernelAtLeast(t, k, 6, 6):
			t.Logf("this host kernel is older than 6.6: no fchmodat2")
			require.ErrorIs(t, err, unix.ENOSYS)
		default:
			require.NoError(t, err)
			require.ErrorIs(t, lerr, unix.EOPNOTSUPP, "a symlink's mode cannot change on Linux")
		}
	})
}

func TestChown(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		if k.Name() == "host" && os.Geteuid() != 0 {
			t.Skip("chown to other ids needs root on the host; these tests run as root")
		}
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		file := filepath.Join(dir, "file")
		link := filepath.Join(dir, "link")
		writeFileOn(t, lc, file, nil)
		require.NoError(t, lc.Symlink("file", link))
		fd, err := lc.Open(file, unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		dfd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		defer lc.Close(dfd)

		owner := func(path string) (uint32, uint32) {
			var st unix.Stat_t
			require.NoError(t, lc.Lstat(path, &st))
			return st.Uid, st.Gid
		}
		tests := []struct {
			name string
			call func(uid, gid int) error
			path string // whose owner changes
		}{
			{"Chown", func(u, g int) error { return lc.Chown(file, u, g) }, file},
			{"Chown through a symlink", func(u, g int) error { return lc.Chown(link, u, g) }, file},
			{"Fchown", func(u, g int) error { return lc.Fchown(fd, u, g) }, file},
			{"Lchown", func(u, g int) error { return lc.Lchown(link, u, g) }, link},
			{"Fchownat", func(u, g int) error { return lc.Fchownat(dfd, "link", u, g, 0) }, file},
			{"Fchownat nofollow", func(u, g int) error { return lc.Fchownat(dfd, "link", u, g, unix.AT_SYMLINK_NOFOLLOW) }, link},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				uid, gid := 1000+i, 2000+i
				require.NoError(t, tc.call(uid, gid))
				u, g := owner(tc.path)
				require.EqualValues(t, uid, u)
				require.EqualValues(t, gid, g)
				require.NoError(t, tc.call(-1, gid+100), "-1 keeps the owner")
				u, g = owner(tc.path)
				require.EqualValues(t, uid, u)
				require.EqualValues(t, gid+100, g)
			})
		}
	})
}

func TestStatfs(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		var st, fst unix.Statfs_t
		require.NoError(t, lc.Statfs(dir, &st))
		require.NotZero(t, st.Type)
		require.Positive(t, st.Bsize)
		require.Positive(t, st.Namelen)
		if kerneltest.Differs(t, k, "lkl", "LKL's /tmp is on its root ramfs") {
			require.EqualValues(t, unix.RAMFS_MAGIC, st.Type)
		}
		fd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		require.NoError(t, lc.Fstatfs(fd, &fst))
		require.Equal(t, st.Type, fst.Type)
		require.Equal(t, st.Bsize, fst.Bsize)
		require.Equal(t, st.Fsid, fst.Fsid)
		require.ErrorIs(t, lc.Statfs(filepath.Join(dir, "missing"), &st), fs.ErrNotExist)
	})
}

func TestAccess(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		plain := filepath.Join(dir, "plain")
		exec := filepath.Join(dir, "exec")
		writeFileOn(t, lc, plain, nil)
		writeFileOn(t, lc, exec, nil)
		require.NoError(t, lc.Chmod(plain, 0))
		require.NoError(t, lc.Chmod(exec, 0o755))
		dfd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		defer lc.Close(dfd)
		root := os.Geteuid() == 0 || k.Name() != "host" // LKL's task is root

		tests := []struct {
			name string
			path string
			mode uint32
			want error
		}{
			{"exists", plain, unix.F_OK, nil},
			{"missing", filepath.Join(dir, "missing"), unix.F_OK, fs.ErrNotExist},
			{"not a directory", filepath.Join(plain, "x"), unix.F_OK, unix.ENOTDIR},
			{"root reads and writes mode 0", plain, unix.R_OK | unix.W_OK, nil},
			{"no one executes mode 0", plain, unix.X_OK, unix.EACCES},
			{"executable", exec, unix.R_OK | unix.X_OK, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if !root && tc.mode&(unix.R_OK|unix.W_OK) != 0 {
					t.Skip("needs root")
				}
				err := lc.Access(tc.path, tc.mode)
				if tc.want == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tc.want)
				}
				at := lc.Faccessat(dfd, filepath.Base(tc.path), tc.mode, 0)
				if filepath.Dir(tc.path) == dir {
					require.Equal(t, err, at, "Faccessat relative to the directory agrees")
				}
			})
		}

		// Flags need faccessat2 (Linux 5.8); libgo does not emulate them.
		err = lc.Faccessat(dfd, "exec", unix.X_OK, unix.AT_EACCESS)
		if kerneltest.Differs(t, k, "lkl", "Linux 4.9 has no faccessat2: flags give ENOSYS") {
			require.ErrorIs(t, err, unix.ENOSYS)
			return
		}
		require.NoError(t, err)
		require.NoError(t, lc.Symlink("missing", filepath.Join(dir, "dangling")))
		require.NoError(t, lc.Faccessat(dfd, "dangling", unix.F_OK, unix.AT_SYMLINK_NOFOLLOW))
		require.ErrorIs(t, lc.Faccessat(dfd, "dangling", unix.F_OK, 0), fs.ErrNotExist)
	})
}

func TestUmask(t *testing.T) {
	// Not parallel: on the host the mask belongs to the whole process.
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		old := lc.Umask(0o027)
		defer lc.Umask(old)
		writeFileOn(t, lc, filepath.Join(dir, "f"), nil) // mode 0o644
		require.NoError(t, lc.Mkdir(filepath.Join(dir, "d"), 0o777))
		require.Equal(t, 0o027, lc.Umask(0o027), "Umask returns the previous mask")
		require.Equal(t, 0o027, lc.Umask(0o7777))
		require.Equal(t, 0o777, lc.Umask(0o027), "only the permission bits are kept")

		var st unix.Stat_t
		require.NoError(t, lc.Stat(filepath.Join(dir, "f"), &st))
		require.EqualValues(t, 0o640, st.Mode&0o777)
		require.NoError(t, lc.Stat(filepath.Join(dir, "d"), &st))
		require.EqualValues(t, 0o750, st.Mode&0o777)
	})
}

// A nil struct pointer is EFAULT on every kernel, checked before the call.
func TestStatNilIsEFAULT(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		fd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		require.NoError(t, err)
		defer lc.Close(fd)
		for name, err := range map[string]error{
			"Stat":    lc.Stat(dir, nil),
			"Lstat":   lc.Lstat(dir, nil),
			"Fstat":   lc.Fstat(fd, nil),
			"Fstatat": lc.Fstatat(fd, ".", nil, 0),
			"Statfs":  lc.Statfs(dir, nil),
			"Fstatfs": lc.Fstatfs(fd, nil),
		} {
			require.Equal(t, syscall.EFAULT, err, name)
		}
	})
}
