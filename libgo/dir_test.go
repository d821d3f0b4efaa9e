package libgo_test

import (
	"bytes"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/dirent"
)

// makeTree makes entries under dir through lc, written as in
// os/root_test.go: "a/" is a directory, "l => t" a symlink to t, anything
// else a regular file holding its own name.
func makeTree(t *testing.T, lc *libgo.Libc, dir string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		switch name, target, isLink := strings.Cut(e, " => "); {
		case isLink:
			require.NoError(t, lc.Symlink(target, filepath.Join(dir, name)))
		case strings.HasSuffix(e, "/"):
			require.NoError(t, lc.Mkdir(filepath.Join(dir, e), 0o755))
		default:
			writeFileOn(t, lc, filepath.Join(dir, e), []byte(e))
		}
	}
}

// writeFileOn creates (or truncates) path through lc with mode 0o644 and
// writes data into it.
func writeFileOn(t *testing.T, lc *libgo.Libc, path string, data []byte) {
	t.Helper()
	fd, err := lc.Creat(path, 0o644)
	require.NoError(t, err, "creat %s", path)
	defer lc.Close(fd)
	n, err := lc.Write(fd, data)
	require.NoError(t, err, "write %s", path)
	require.Equal(t, len(data), n, "write %s", path)
}

// readFileOn returns the content of path, read through lc.
func readFileOn(t *testing.T, lc *libgo.Libc, path string) []byte {
	t.Helper()
	fd, err := lc.Open(path, unix.O_RDONLY, 0)
	require.NoError(t, err, "open %s", path)
	defer lc.Close(fd)
	var out []byte
	buf := make([]byte, 100)
	for {
		n, err := lc.Read(fd, buf)
		require.NoError(t, err, "read %s", path)
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// openDir opens dir read-only as a directory through lc.
func openDir(t *testing.T, lc *libgo.Libc, dir string) int {
	t.Helper()
	fd, err := lc.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err, "open %s", dir)
	t.Cleanup(func() { lc.Close(fd) })
	return fd
}

func TestMkdirRmdir(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		makeTree(t, lc, dir, "file", "full/", "full/x")
		dfd := openDir(t, lc, dir)

		require.NoError(t, lc.Mkdir(filepath.Join(dir, "a"), 0o700))
		require.NoError(t, lc.Mkdirat(dfd, "b", 0o750))
		for name, mode := range map[string]uint32{"a": 0o700, "b": 0o750} {
			var st unix.Stat_t
			require.NoError(t, lc.Stat(filepath.Join(dir, name), &st))
			require.EqualValues(t, unix.S_IFDIR|mode, st.Mode, name)
			require.EqualValues(t, 2, st.Nlink, "%s: . and its name", name)
		}

		tests := []struct {
			name string
			call func() error
			want error
		}{
			{"mkdir existing", func() error { return lc.Mkdir(filepath.Join(dir, "a"), 0o755) }, fs.ErrExist},
			{"mkdir over a file", func() error { return lc.Mkdirat(dfd, "file", 0o755) }, fs.ErrExist},
			{"mkdir under a file", func() error { return lc.Mkdir(filepath.Join(dir, "file", "x"), 0o755) }, unix.ENOTDIR},
			{"mkdir under missing", func() error { return lc.Mkdir(filepath.Join(dir, "no", "x"), 0o755) }, fs.ErrNotExist},
			{"rmdir not empty", func() error { return lc.Rmdir(filepath.Join(dir, "full")) }, unix.ENOTEMPTY},
			{"rmdir a file", func() error { return lc.Rmdir(filepath.Join(dir, "file")) }, unix.ENOTDIR},
			{"rmdir missing", func() error { return lc.Rmdir(filepath.Join(dir, "missing")) }, fs.ErrNotExist},
			{"rmdir .", func() error { return lc.Rmdir(dir + "/a/.") }, unix.EINVAL},
			{"rmdir", func() error { return lc.Rmdir(filepath.Join(dir, "a")) }, nil},
			{"unlinkat AT_REMOVEDIR", func() error { return lc.Unlinkat(dfd, "b", unix.AT_REMOVEDIR) }, nil},
			{"rmdir again", func() error { return lc.Rmdir(filepath.Join(dir, "a")) }, fs.ErrNotExist},
		}
		for _, tc := range tests { // in order: later cases see earlier ones
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if tc.want == nil {
					require.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, tc.want)
			})
		}
	})
}

func TestGetdents(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		makeTree(t, lc, dir, "file", "sub/", "link => file", strings.Repeat("n", 255))
		want := map[string]uint8{
			".": unix.DT_DIR, "..": unix.DT_DIR,
			"file": unix.DT_REG, "sub": unix.DT_DIR, "link": unix.DT_LNK, strings.Repeat("n", 255): unix.DT_REG,
		}
		fd := openDir(t, lc, dir)

		// 0xCD everywhere, so a decoder reading past n would find garbage.
		buf := bytes.Repeat([]byte{0xCD}, 2048)
		got := map[string]libgo.Dirent{}
		for {
			n, err := lc.Getdents(fd, buf)
			require.NoError(t, err)
			if n == 0 {
				break
			}
			ents, consumed, err := dirent.Parse(buf[:n], nil)
			require.NoError(t, err)
			require.Equal(t, n, consumed, "whole records")
			for _, e := range ents {
				require.NotContains(t, got, e.Name, "listed twice")
				got[e.Name] = e
			}
			buf = bytes.Repeat([]byte{0xCD}, len(buf))
		}
		require.Len(t, got, len(want))
		for name, typ := range want {
			e, ok := got[name]
			require.True(t, ok, "%q is listed", name)
			require.Equal(t, typ, e.Type, "type of %q", name)
			if name == ".." {
				continue
			}
			var st unix.Stat_t
			require.NoError(t, lc.Lstat(filepath.Join(dir, name), &st))
			require.Equal(t, st.Ino, e.Ino, "inode of %q", name)
		}

		n, err := lc.Getdents(fd, buf[:8])
		require.NoError(t, err)
		require.Zero(t, n, "at the end, even with a tiny buffer")
		_, err = lc.Seek(fd, 0, unix.SEEK_SET)
		require.NoError(t, err)
		_, err = lc.Getdents(fd, buf[:8])
		require.ErrorIs(t, err, unix.EINVAL, "a buffer too small for one entry")

		ffd, err := lc.Open(filepath.Join(dir, "file"), unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(ffd)
		_, err = lc.Getdents(ffd, buf)
		require.ErrorIs(t, err, unix.ENOTDIR)
	})
}

func TestDirReader(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		var entries, want []string
		for i := range 300 { // several getdents64 calls' worth
			name := strings.Repeat("x", 40) + string(rune('a'+i%26)) + strings.Repeat("y", i/26)
			entries = append(entries, name)
			want = append(want, name)
		}
		entries = append(entries, "sub/", "link => sub")
		want = append(want, "sub", "link")
		makeTree(t, lc, dir, entries...)
		slices.Sort(want)

		r := lc.NewDirReader(openDir(t, lc, dir))
		first, err := r.Next()
		require.NoError(t, err)
		rest, err := r.ReadAll()
		require.NoError(t, err)
		var got []string
		for _, e := range append([]libgo.Dirent{first}, rest...) {
			got = append(got, e.Name)
			require.NotZero(t, e.Ino)
		}
		slices.Sort(got)
		require.Equal(t, want, got, ". and .. are skipped")

		for range 2 {
			_, err = r.Next()
			require.Equal(t, io.EOF, err, "a bare io.EOF, again and again")
		}
		all, err := r.ReadAll()
		require.NoError(t, err)
		require.Empty(t, all)

		empty := lc.NewDirReader(openDir(t, lc, filepath.Join(dir, "sub")))
		all, err = empty.ReadAll()
		require.NoError(t, err)
		require.Empty(t, all, "an empty directory")

		bad := lc.NewDirReader(-1)
		_, err = bad.Next()
		require.ErrorIs(t, err, unix.EBADF)
		_, err = bad.ReadAll()
		require.ErrorIs(t, err, unix.EBADF, "errors are sticky")
	})
}

func TestChdirGetwd(t *testing.T) {
	// Not parallel: on the host the current directory belongs to the whole
	// process.
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		lc := libgo.New(k)
		dir := kerneltest.TempDir(t, k)
		makeTree(t, lc, dir, "sub/", "file")
		orig, err := lc.Getwd()
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(orig, "/"))
		t.Cleanup(func() { require.NoError(t, lc.Chdir(orig)) })

		same := func(a, b string) {
			t.Helper()
			var sa, sb unix.Stat_t
			require.NoError(t, lc.Stat(a, &sa))
			require.NoError(t, lc.Stat(b, &sb))
			require.Equal(t, sa.Ino, sb.Ino, "%s and %s are one directory", a, b)
			require.Equal(t, sa.Dev, sb.Dev, "%s and %s are one directory", a, b)
		}

		require.NoError(t, lc.Chdir(dir))
		wd, err := lc.Getwd()
		require.NoError(t, err)
		same(wd, dir)
		same(".", dir)

		require.NoError(t, lc.Chdir("sub"), "relative to the new directory")
		wd, err = lc.Getwd()
		require.NoError(t, err)
		require.Equal(t, "sub", filepath.Base(wd))
		same(wd, filepath.Join(dir, "sub"))
		require.Equal(t, "file", string(readFileOn(t, lc, "../file")))

		require.NoError(t, lc.Fchdir(openDir(t, lc, dir)))
		wd2, err := lc.Getwd()
		require.NoError(t, err)
		same(wd2, dir)

		buf := bytes.Repeat([]byte{0xCD}, len(wd2)+1)
		n, err := lc.Getcwd(buf)
		require.NoError(t, err)
		require.Equal(t, len(wd2)+1, n, "the count includes the NUL")
		require.Equal(t, wd2+"\x00", string(buf[:n]))
		_, err = lc.Getcwd(buf[:len(wd2)])
		require.ErrorIs(t, err, unix.ERANGE)

		require.ErrorIs(t, lc.Chdir(filepath.Join(dir, "missing")), fs.ErrNotExist)
		require.ErrorIs(t, lc.Chdir(filepath.Join(dir, "file")), unix.ENOTDIR)
		ffd, err := lc.Open(filepath.Join(dir, "file"), unix.O_RDONLY, 0)
		require.NoError(t, err)
		defer lc.Close(ffd)
		require.ErrorIs(t, lc.Fchdir(ffd), unix.ENOTDIR)

		// A removed current directory has no path.
		require.NoError(t, lc.Chdir(filepath.Join(dir, "sub")))
		require.NoError(t, lc.Rmdir(filepath.Join(dir, "sub")))
		_, err = lc.Getwd()
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
}
