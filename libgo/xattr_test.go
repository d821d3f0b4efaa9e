package libgo_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// On the host the test directory is on a file system with user xattrs;
// on LKL its root file system has none, so ext4_lkl_test.go runs the same
// checks in an ext4 image. Here LKL's root must say EOPNOTSUPP.
func TestXattr(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		if kerneltest.Differs(t, k, "lkl", "LKL's root file system has no user xattrs; ext4_lkl_test.go checks them on ext4") {
			file := filepath.Join(dir, "f")
			writeFileOn(t, lc, file, nil)
			require.ErrorIs(t, lc.Setxattr(file, "user.gk", []byte("v"), 0), unix.EOPNOTSUPP)
			return
		}
		checkXattrs(t, lc, dir)
	})
}

// checkXattrs runs every xattr call against files made in dir, which must
// be on a file system with user xattrs.
func checkXattrs(t *testing.T, lc *libgo.Libc, dir string) {
	file := filepath.Join(dir, "f")
	link := filepath.Join(dir, "l")
	writeFileOn(t, lc, file, []byte("x"))
	require.NoError(t, lc.Symlink("f", link))

	tests := []struct {
		name string
		set  func(attr string, v []byte, flags int) error
		get  func(attr string, dest []byte) (int, error)
		list func(dest []byte) (int, error)
		rm   func(attr string) error
	}{
		{
			name: "path",
			set:  func(a string, v []byte, f int) error { return lc.Setxattr(file, a, v, f) },
			get:  func(a string, d []byte) (int, error) { return lc.Getxattr(file, a, d) },
			list: func(d []byte) (int, error) { return lc.Listxattr(file, d) },
			rm:   func(a string) error { return lc.Removexattr(file, a) },
		},
		{
			name: "through the symlink",
			set:  func(a string, v []byte, f int) error { return lc.Setxattr(link, a, v, f) },
			get:  func(a string, d []byte) (int, error) { return lc.Lgetxattr(file, a, d) },
			list: func(d []byte) (int, error) { return lc.Llistxattr(file, d) },
			rm:   func(a string) error { return lc.Removexattr(link, a) },
		},
		{
			name: "fd",
			set: func(a string, v []byte, f int) error {
				return withFD(t, lc, file, func(fd int) error { return lc.Fsetxattr(fd, a, v, f) })
			},
			get: func(a string, d []byte) (n int, err error) {
				err = withFD(t, lc, file, func(fd int) error { n, err = lc.Fgetxattr(fd, a, d); return err })
				return n, err
			},
			list: func(d []byte) (n int, err error) {
				err = withFD(t, lc, file, func(fd int) error { n, err = lc.Flistxattr(fd, d); return err })
				return n, err
			},
			rm: func(a string) error {
				return withFD(t, lc, file, func(fd int) error { return lc.Fremovexattr(fd, a) })
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.set("user.gk", []byte("value"), unix.XATTR_CREATE))
			require.ErrorIs(t, tc.set("user.gk", []byte("again"), unix.XATTR_CREATE), unix.EEXIST)
			n, err := tc.get("user.gk", nil)
			require.NoError(t, err)
			require.Equal(t, 5, n, "a nil buffer asks for the size")
			buf := make([]byte, 16)
			n, err = tc.get("user.gk", buf)
			require.NoError(t, err)
			require.Equal(t, "value", string(buf[:n]))
			_, err = tc.get("user.gk", buf[:2])
			require.ErrorIs(t, err, unix.ERANGE)
			_, err = tc.get("user.none", buf)
			require.ErrorIs(t, err, unix.ENODATA)
			n, err = tc.list(buf)
			require.NoError(t, err)
			require.Equal(t, "user.gk\x00", string(buf[:n]))
			require.NoError(t, tc.rm("user.gk"))
			require.ErrorIs(t, tc.rm("user.gk"), unix.ENODATA)
			require.ErrorIs(t, tc.set("user.a\x00b", nil, 0), unix.EINVAL, "NUL in a name")
		})
	}
}

func withFD(t *testing.T, lc *libgo.Libc, path string, f func(fd int) error) error {
	fd, err := lc.Open(path, unix.O_RDONLY, 0)
	require.NoError(t, err)
	defer lc.Close(fd)
	return f(fd)
}
