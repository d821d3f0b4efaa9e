//go:build lkl

package main

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// imageSrc makes the tree the image tools are tested on, on the host: a
// deep tree, unicode names, an empty file, a symlink, a hard link, an
// xattr and a file of several chunks.
func imageSrc(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "src")
	imagetest.Tree{
		"hello.txt":         "hello from the image\n",
		"empty":             "",
		"a/b/c/deep.txt":    "deep\n",
		"unicode-ñ-日本語.txt": "unicode\n",
		"dir/":              "",
		"link => hello.txt": "",
	}.Write(t, src)
	require.NoError(t, os.Link(filepath.Join(src, "hello.txt"), filepath.Join(src, "a", "hard")))
	require.NoError(t, libgo.New(sys.Host()).Setxattr(filepath.Join(src, "hello.txt"), "user.tag", []byte("v1"), 0))
	big := make([]byte, 20<<20+7) // three chunks of cp-out, a hole in the middle
	copy(big, "start")
	copy(big[len(big)-3:], "end")
	require.NoError(t, os.WriteFile(filepath.Join(src, "big.bin"), big, 0o600))
	return src
}

// requireHardLink fails unless a and b are the same file (one inode
// with two links).
func requireHardLink(t *testing.T, a, b string) {
	t.Helper()
	fa, err := os.Lstat(a)
	require.NoError(t, err)
	fb, err := os.Lstat(b)
	require.NoError(t, err)
	require.True(t, os.SameFile(fa, fb), "%s and %s are one file", a, b)
	require.EqualValues(t, 2, fa.Sys().(*syscall.Stat_t).Nlink, a)
}

// treeOf lists a host tree as "name type size" lines, with file contents
// and link targets compared separately.
func treeOf(t *testing.T, root string) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		if rel == "." || strings.HasPrefix(rel, "lost+found") {
			return nil
		}
		fi, err := d.Info()
		require.NoError(t, err)
		line := rel + " " + fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			line += " " + string(b[:min(len(b), 32)])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			line += " -> " + target
		}
		out = append(out, line)
		return nil
	}))
	return out
}

func TestImageTools(t *testing.T) {
	src := imageSrc(t)
	img := filepath.Join(t.TempDir(), "ext4.img")
	imagetest.MakeFS(t, "ext4", src, img)

	t.Run("ls", func(t *testing.T) {
		stdout, stderr, code := demo(t, nil, "ls", img)
		require.Zero(t, code, stderr)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			f := strings.Fields(l)
			name := f[6]
			got = append(got, name)
		}
		var want []string
		for _, l := range strings.Split(imagetest.Run(t, "debugfs", "-R", "ls -p /", img), "\n") {
			if f := strings.Split(l, "/"); len(f) >= 7 && f[5] != "." && f[5] != ".." {
				want = append(want, f[5])
			}
		}
		slices.Sort(want)
		require.Equal(t, want, got, "the names debugfs lists")
		require.Contains(t, stdout, "link -> hello.txt")
	})
	t.Run("cat", func(t *testing.T) {
		stdout, stderr, code := demo(t, nil, "cat", img, "/a/b/c/deep.txt")
		require.Zero(t, code, stderr)
		require.Equal(t, "deep\n", stdout)
		_, stderr, code = demo(t, nil, "cat", img, "/nope")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "open nope: no such file or directory")
	})
	t.Run("cp-out", func(t *testing.T) {
		dst := t.TempDir()
		_, stderr, code := demo(t, nil, "cp-out", img, "/", dst)
		require.Zero(t, code, stderr)
		require.Empty(t, stderr, "no progress line when stderr is not a terminal")
		require.Equal(t, treeOf(t, src), treeOf(t, dst))
		b, err := os.ReadFile(filepath.Join(dst, "big.bin"))
		require.NoError(t, err)
		want, _ := os.ReadFile(filepath.Join(src, "big.bin"))
		require.Equal(t, want, b)
		srcFI, _ := os.Stat(filepath.Join(src, "a/b/c/deep.txt"))
		dstFI, _ := os.Stat(filepath.Join(dst, "a/b/c/deep.txt"))
		require.Equal(t, srcFI.ModTime().Unix(), dstFI.ModTime().Unix(), "times kept (mke2fs -d keeps seconds)")
		requireHardLink(t, filepath.Join(dst, "hello.txt"), filepath.Join(dst, "a/hard"))
		dirFI, _ := os.Stat(filepath.Join(dst, "a"))
		srcDirFI, _ := os.Stat(filepath.Join(src, "a"))
		require.Equal(t, srcDirFI.ModTime().Unix(), dirFI.ModTime().Unix(), "the link leaves its directory's time alone")

		// --readonly=false: no direct copies from the image file (see
		// direct.go); every byte comes through LKL.
		viaLKL := t.TempDir()
		_, stderr, code = demo(t, nil, "cp-out", "--readonly=false", img, "/big.bin", viaLKL)
		require.Zero(t, code, stderr)
		b, err = os.ReadFile(filepath.Join(viaLKL, "big.bin"))
		require.NoError(t, err)
		require.Equal(t, want, b)

		one := t.TempDir()
		_, stderr, code = demo(t, nil, "cp-out", img, "/a/b", "hello.txt", one)
		require.Zero(t, code, stderr)
		require.FileExists(t, filepath.Join(one, "b/c/deep.txt"))
		require.FileExists(t, filepath.Join(one, "hello.txt"))
	})
	t.Run("cp-in", func(t *testing.T) {
		rw := filepath.Join(t.TempDir(), "rw.img")
		imagetest.MakeFS(t, "ext4", t.TempDir(), rw)
		_, stderr, code := demo(t, nil, "cp-in", rw, src, "/copied")
		require.Zero(t, code, stderr)
		imagetest.Run(t, "e2fsck", "-fn", rw)
		dst := t.TempDir()
		_, stderr, code = demo(t, nil, "cp-out", rw, "/copied/src", dst)
		require.Zero(t, code, stderr)
		require.Equal(t, treeOf(t, src), treeOf(t, filepath.Join(dst, "src")))
		requireHardLink(t, filepath.Join(dst, "src/hello.txt"), filepath.Join(dst, "src/a/hard"))
		require.Contains(t, imagetest.Run(t, "debugfs", "-R", "stat /copied/src/a/hard", rw), "Links: 2", "cp-in made a hard link")

		// A second cp-in over the same place replaces files and links.
		_, stderr, code = demo(t, nil, "cp-in", rw, src, "/copied")
		require.Zero(t, code, stderr)
		imagetest.Run(t, "e2fsck", "-fn", rw)
		require.Contains(t, imagetest.Run(t, "debugfs", "-R", "stat /copied/src/a/hard", rw), "Links: 2")

		before, err := os.ReadFile(img)
		require.NoError(t, err)
		_, stderr, code = demo(t, nil, "cp-in", "--readonly", img, src, "/")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "read-only file system")
		after, err := os.ReadFile(img)
		require.NoError(t, err)
		require.True(t, slices.Equal(before, after), "--readonly image unchanged")
	})
	t.Run("tar", func(t *testing.T) {
		stdout, stderr, code := demo(t, nil, "tar", img)
		require.Zero(t, code, stderr)
		hdrs := tarHeaders(t, stdout)
		require.Equal(t, byte(tar.TypeSymlink), hdrs["link"].Typeflag)
		require.Equal(t, "hello.txt", hdrs["link"].Linkname)
		hard, first := hdrs["hello.txt"], hdrs["a/hard"]
		require.Equal(t, byte(tar.TypeLink), hard.Typeflag, "the second name of a hard link")
		require.Equal(t, "a/hard", hard.Linkname)
		require.Equal(t, "v1", first.PAXRecords["SCHILY.xattr.user.tag"])
		require.EqualValues(t, 0o600, hdrs["big.bin"].Mode&0o777)

		// The host's tar lists the same names as the tree.
		arch := filepath.Join(t.TempDir(), "out.tar")
		require.NoError(t, os.WriteFile(arch, []byte(stdout), 0o644))
		list, err := exec.Command("tar", "tf", arch).Output()
		require.NoError(t, err)
		var got []string
		for _, n := range strings.Split(strings.TrimSpace(string(list)), "\n") {
			if n = strings.TrimSuffix(n, "/"); n != "." && !strings.HasPrefix(n, "lost+found") {
				got = append(got, n)
			}
		}
		var want []string
		for _, l := range treeOf(t, src) {
			want = append(want, strings.Fields(l)[0])
		}
		slices.Sort(got)
		slices.Sort(want)
		require.Equal(t, want, got)
		// and extracts it: contents and the symlink.
		x := t.TempDir()
		require.NoError(t, exec.Command("tar", "xf", arch, "-C", x).Run())
		require.Equal(t, treeOf(t, src), treeOf(t, x))
	})
	t.Run("partition", func(t *testing.T) {
		disk := imagetest.Partitioned(t, "gpt", 2, "ext4", imagetest.Tree{"in-part.txt": "partition 2\n"})
		stdout, stderr, code := demo(t, nil, "cat", "--partition", "2", disk, "/in-part.txt")
		require.Zero(t, code, stderr)
		require.Equal(t, "partition 2\n", stdout)
	})
	t.Run("bad input", func(t *testing.T) {
		tests := []struct {
			name   string
			args   []string
			code   int
			stderr string
		}{
			{"missing image", []string{"ls", "/nonexistent.img"}, 1, "nonexistent.img: no such file"},
			{"wrong fstype", []string{"ls", "--fstype", "xfs", img}, 1, "mount xfs"},
			{"missing partition", []string{"ls", "--partition", "2", img}, 1, "partition 2"},
			{"no image", []string{"cat"}, 2, "cat takes an image and a path"},
			{"escape", []string{"cat", img, "/../../etc/passwd"}, 1, "no such file"},
			// Errors name what the user typed: the image, the flag, the
			// host path; never LKL's configuration keys.
			{"missing image named", []string{"ls", "/nonexistent.img"}, 1, "demo: open /nonexistent.img: no such file or directory"},
			{"partition flag", []string{"ls", "--partition", "-1", img}, 1, `demo: --partition "-1": want 0`},
			{"fstype flag", []string{"ls", "--fstype", "ntfs", img}, 1, `demo: --fstype "ntfs": want one of`},
			{"wrong fstype names the image", []string{"ls", "--fstype", "xfs", img}, 1, "demo: " + img + ": mount xfs"},
			{"missing host dir", []string{"cp-out", img, "/", "/missing-dir"}, 1, "demo: stat /missing-dir: no such file or directory"},
			{"missing host path", []string{"cp-in", "--readonly", img, "/missing-src", "/"}, 1, "demo: lstat /missing-src: no such file or directory"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, stderr, code := demo(t, nil, tc.args...)
				require.Equal(t, tc.code, code, stderr)
				require.Contains(t, stderr, tc.stderr)
				require.NotContains(t, stderr, "lkl config")
				require.NotContains(t, stderr, "stat .:")
			})
		}
	})
}

// ls and cat on each file system type, detected.
func TestImageToolsFSTypes(t *testing.T) {
	for _, fstype := range imagetest.FSTypes {
		t.Run(fstype, func(t *testing.T) {
			img := imagetest.Build(t, fstype, imagetest.Tree{"docs/readme.txt": "on " + fstype + "\n"})
			stdout, stderr, code := demo(t, nil, "cat", img, "docs/readme.txt")
			require.Zero(t, code, stderr)
			require.Equal(t, "on "+fstype+"\n", stdout)
			stdout, stderr, code = demo(t, nil, "ls", img, "/docs")
			require.Zero(t, code, stderr)
			require.Contains(t, stdout, " readme.txt\n")
		})
	}
}

// tar keeps fifos and device nodes; cp-out skips them with a warning.
func TestImageToolsSpecialFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.MkdirAll(src, 0o755))
	require.NoError(t, unix.Mkfifo(filepath.Join(src, "fifo"), 0o644))
	require.NoError(t, unix.Mknod(filepath.Join(src, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	img := filepath.Join(t.TempDir(), "ext4.img")
	imagetest.MakeFS(t, "ext4", src, img)

	stdout, stderr, code := demo(t, nil, "tar", img)
	require.Zero(t, code, stderr)
	hdrs := tarHeaders(t, stdout)
	require.Equal(t, byte(tar.TypeFifo), hdrs["fifo"].Typeflag)
	require.Equal(t, byte(tar.TypeChar), hdrs["null"].Typeflag)
	require.EqualValues(t, 1, hdrs["null"].Devmajor)
	require.EqualValues(t, 3, hdrs["null"].Devminor)

	_, stderr, code = demo(t, nil, "cp-out", img, "/", t.TempDir())
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "skipping fifo")
	require.Contains(t, stderr, "skipping null")
}

// tarHeaders reads a tar archive and returns its headers by name.
func tarHeaders(t *testing.T, archive string) map[string]*tar.Header {
	tr := tar.NewReader(strings.NewReader(archive))
	hdrs := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs
		}
		require.NoError(t, err)
		hdrs[h.Name] = h
	}
}
