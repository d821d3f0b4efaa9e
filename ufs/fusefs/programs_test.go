package fusefs_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/ufs/fusefs"
)

// What a file system can hold, for the program suite: vfat has no
// symlinks, hard links, xattrs, owners or modes, and no file of 4 GiB.
type caps struct {
	fstype  string
	posix   bool  // symlinks, hard links, xattrs, modes, owners, sparse files
	bigSeek int64 // MiB: where the big-file test writes its last MiB; 0: no big file
}

func capsOf(fstype string) caps {
	if fstype == "vfat" {
		// vfat has no holes either: a file past 2 GiB would take 2 GiB
		// of a test image.
		return caps{fstype: fstype}
	}
	return caps{fstype: fstype, posix: true, bigSeek: 4200} // past 4 GiB
}

// makeSource writes the tree the suite copies in and out: unicode and
// 255-byte names, a path 24 directories deep, an empty file and directory,
// random data, a sparse file and, where the file system has them, a
// symlink, a hard link and an xattr.
func makeSource(t *testing.T, c caps) string {
	src := filepath.Join(t.TempDir(), "src")
	script := `
mkdir -p src/dir/empty-dir
echo hello > src/hello.txt
: > src/empty
echo unicode > 'src/ünïcödé-日本語-😀.txt'
echo long > "src/$(printf 'L%.0s' $(seq 251)).txt"
mkdir -p "src/$(printf 'd%02d/' $(seq 24))"
echo deep > "src/$(printf 'd%02d/' $(seq 24))deep.txt"
head -c 1000000 /dev/urandom > src/random.bin
truncate -s 4M src/sparse && echo end >> src/sparse
`
	if c.posix {
		script += `
ln -s hello.txt src/link
ln -s ../hello.txt src/dir/uplink
ln src/hello.txt src/dir/hard
setfattr -n user.color -v blue src/hello.txt
chmod 0750 src/dir
`
	}
	sh(t, filepath.Dir(src), script)
	return src
}

// checkPrograms runs the program suite on the mounted tree mnt.
// backing is the directory the mount serves when it is on the host ("" on
// LKL).
func checkPrograms(t *testing.T, mnt, backing string, c caps) {
	src := makeSource(t, c)
	work := t.TempDir()
	cp := "cp -a"
	if !c.posix {
		cp = "cp -r" // vfat keeps no owner or mode: cp -a fails to
	}
	// find lists names, types and file sizes (directory sizes and, on
	// vfat, modes are the file system's own).
	listing := `find . -printf '%p %y\n' -o -type f -printf '%p %y %s\n' | LC_ALL=C sort`
	if c.posix {
		listing = `find . \( -type d -printf '%p %y %m\n' \) -o -printf '%p %y %s %m\n' | LC_ALL=C sort`
	}
	want := sh(t, src, listing)

	t.Run("cp in, diff, find, stat", func(t *testing.T) {
		sh(t, work, cp+` "`+src+`" "`+mnt+`/copy"`)
		sh(t, work, `diff -r --no-dereference "`+src+`" "`+mnt+`/copy"`)
		require.Equal(t, want, sh(t, mnt+"/copy", listing))
		require.Equal(t, "deep\n", sh(t, mnt+"/copy", `cat "$(printf 'd%02d/' $(seq 24))deep.txt"`))
		require.Equal(t, "4194308\n", sh(t, mnt, `stat -c %s copy/sparse`))
		if c.posix {
			blocks := sh(t, mnt, `stat -c %b copy/sparse`)
			require.Less(t, len(strings.TrimSpace(blocks)), 5, "copy/sparse stays sparse: %s blocks", blocks)
		}
	})
	if c.posix {
		t.Run("hard links, symlinks, xattrs", func(t *testing.T) {
			require.Equal(t, "2\n", sh(t, mnt, `stat -c %h copy/hello.txt`))
			require.Equal(t, "./copy/dir/hard\n./copy/hello.txt\n", sh(t, mnt, `find . -inum "$(stat -c %i copy/hello.txt)" | LC_ALL=C sort`))
			require.Equal(t, "hello.txt\n", sh(t, mnt, `readlink copy/link`))
			require.Equal(t, "hello\n", sh(t, mnt, `cat copy/dir/uplink`))
			require.Equal(t, "blue", sh(t, mnt, `getfattr --only-values -n user.color copy/hello.txt`))
			sh(t, mnt, `setfattr -n user.new -v 42 copy/empty && test "$(getfattr --only-values -n user.new copy/empty)" = 42`)
			require.Contains(t, sh(t, mnt, `getfattr -d copy/empty`), `user.new="42"`)
			sh(t, mnt, `setfattr -x user.new copy/empty && ! getfattr -n user.new copy/empty 2>/dev/null`)
			sh(t, mnt, `ln copy/empty copy/empty2 && test "$(stat -c %i copy/empty)" = "$(stat -c %i copy/empty2)" && rm copy/empty2`)
			sh(t, mnt, `mkfifo copy/fifo && test -p copy/fifo && rm copy/fifo`)
		})
		t.Run("renameat2", func(t *testing.T) {
			host := libgo.New(sys.Host())
			a, b := filepath.Join(mnt, "copy", "ra"), filepath.Join(mnt, "copy", "rb")
			require.NoError(t, os.WriteFile(a, []byte("a"), 0o644))
			require.NoError(t, os.WriteFile(b, []byte("b"), 0o644))
			require.ErrorIs(t, host.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_NOREPLACE), unix.EEXIST)
			require.NoError(t, host.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE))
			require.Equal(t, "b\n", sh(t, mnt, "cat copy/ra; echo"))
			require.Equal(t, "a\n", sh(t, mnt, "cat copy/rb; echo"))
			require.NoError(t, os.Remove(a))
			require.NoError(t, os.Remove(b))
		})
	}
	t.Run("cp out, tar round trip", func(t *testing.T) {
		sh(t, work, cp+` "`+mnt+`/copy" out && diff -r --no-dereference "`+src+`" out`)
		require.Equal(t, want, sh(t, filepath.Join(work, "out"), listing))
		sh(t, work, `mkdir tarred && tar -C "`+mnt+`/copy" -cf - . | tar -C tarred -xf - && diff -r --no-dereference "`+src+`" tarred`)
		sh(t, work, `mkdir "`+mnt+`/untarred" && tar -C "`+src+`" -cf - . | tar -C "`+mnt+`/untarred" -xf - --no-same-owner && diff -r --no-dereference "`+src+`" "`+mnt+`/untarred"`)
		if c.posix {
			require.Equal(t, "2\n", sh(t, work, `stat -c %h out/hello.txt`), "cp -a kept the hard link")
		}
	})
	if c.bigSeek == 0 {
		t.Logf("no big file on %s: it has no holes, so a file past 2 GiB would need 2 GiB of image", c.fstype)
	} else {
		t.Run("big file past the offset limits", func(t *testing.T) {
			seek := itoa(c.bigSeek)
			sh(t, work, `head -c 1048576 /dev/urandom > chunk && dd status=none if=chunk of="`+mnt+`/big" bs=1M seek=`+seek+` conv=notrunc,fsync`)
			require.Equal(t, itoa((c.bigSeek+1)<<20)+"\n", sh(t, mnt, `stat -c %s big`))
			sh(t, work, `dd status=none if="`+mnt+`/big" bs=1M skip=`+seek+` | cmp - chunk`)
			sh(t, work, `test "$(dd status=none if="`+mnt+`/big" bs=1M skip=2047 count=2 | tr -d '\0' | wc -c)" = 0`)
			sh(t, mnt, `rm big`)
		})
	}
	t.Run("git", func(t *testing.T) {
		sh(t, mnt, `mkdir repo && cp -r copy/dir copy/hello.txt copy/random.bin repo/ && cd repo && git init -q && git add -A &&
git -c user.name=t -c user.email=t@example.com commit -qm one && echo more >> hello.txt && git -c user.name=t -c user.email=t@example.com commit -qam two &&
git fsck --strict --full 2>&1 && test "$(git log --oneline | wc -l)" = 2 && git status --porcelain | wc -l | grep -qx 0`)
	})
	t.Run("fsx", func(t *testing.T) {
		fsx(t, filepath.Join(mnt, "fsx.bin"), filepath.Join(shmDir(t), "fsx.twin"), 1, 3000)
	})
	t.Run("locks", func(t *testing.T) { checkLocks(t, mnt, backing) })
	t.Run("statfs, rm -r", func(t *testing.T) {
		require.Contains(t, sh(t, mnt, `df -P . | tail -1`), "%")
		sh(t, mnt, `rm -r copy untarred repo fsx.bin && test -z "$(ls -A | grep -v lost+found)"`)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// shmDir returns a fresh directory on tmpfs (/dev/shm), removed at the end
// of the test, for the fsx twin.
func shmDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "fusefs-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestProgramsHost runs the program suite on a host directory served
// through ufs on the host kernel.
func TestProgramsHost(t *testing.T) {
	dir := t.TempDir()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	checkPrograms(t, mount(t, fsys, fusefs.Options{}), dir, capsOf("host"))
}
