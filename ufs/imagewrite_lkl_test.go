//go:build lkl

package ufs_test

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/ufs"
)

// sparseSize is a sparse file's size: over 4 GiB, past 32-bit offsets.
const sparseSize = 5<<30 + 12345

// Files written through ufs into each file system type, then unmounted:
// the host's checkers find the image clean and its tools list the same
// names and read the same bytes.
func TestImagesWritten(t *testing.T) {
	for _, fstype := range imagetest.FSTypes {
		t.Run(fstype, func(t *testing.T) {
			img := imagetest.Build(t, fstype, imagetest.Tree{})
			fsys, mp := attach(t, img, fstype, false)
			tr := testTree(fstype)
			writeTree(t, fsys, tr)
			require.NoError(t, fsys.WriteFile("gone.txt", []byte("removed"), 0o644))
			require.NoError(t, fsys.Remove("gone.txt"))
			require.NoError(t, fsys.WriteFile("old-name", []byte("renamed\n"), 0o644))
			require.NoError(t, fsys.Rename("old-name", "dir/new-name"))
			if fstype != "vfat" {
				require.NoError(t, fsys.Link("hello.txt", "dir/hard"))
				writeSparse(t, fsys)
			}
			if fstype == "ext4" {
				require.NoError(t, fsys.Setxattr("hello.txt", "user.written", []byte("by ufs"), 0))
			}
			require.NoError(t, fsys.Close())
			unmount(t, lklKernel(t), mp)

			root := names(t, fstype, img, "/")
			dir := names(t, fstype, img, "/dir")
			for _, want := range []string{"hello.txt", "empty", "a", "big.bin", "unicode-ñ-日本語.txt", "dir"} {
				require.Contains(t, root, want)
			}
			require.NotContains(t, root, "gone.txt")
			require.Contains(t, dir, "new-name")
			checkImage(t, fstype, img, map[string]string{"hello.txt": tr["hello.txt"], "dir/new-name": "renamed\n", "big.bin": tr["big.bin"]})
			if fstype == "ext4" {
				out := imagetest.Run(t, "debugfs", "-R", "ea_list /hello.txt", img)
				require.Contains(t, out, "user.written")
				require.Contains(t, imagetest.Run(t, "debugfs", "-R", "stat /sparse", img), "Size: 5368721465")
			}
		})
	}
}

// writeSparse makes a file over 4 GiB with data at the start, past 4 GiB
// and at the end, and checks it reads back with zeros between.
func writeSparse(t *testing.T, fsys *ufs.FS) {
	f, err := fsys.Create("sparse")
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, f.Truncate(sparseSize))
	marks := map[int64]string{0: "start", 1<<32 + 1: "past 4 GiB", sparseSize - 3: "end"}
	for off, s := range marks {
		_, err := f.WriteAt([]byte(s), off)
		require.NoError(t, err)
	}
	require.NoError(t, f.Sync())
	fi, err := f.Stat()
	require.NoError(t, err)
	require.EqualValues(t, sparseSize, fi.Size())
	require.Less(t, fi.Sys().(*unix.Stat_t).Blocks, int64(1<<20), "the hole takes no blocks")
	for off, s := range marks {
		b := make([]byte, len(s)+4)
		n, err := f.ReadAt(b, off-2)
		if off == 0 {
			n, err = f.ReadAt(b[2:], 0)
			b = b[2:]
		}
		if off+int64(len(s))+2 >= sparseSize {
			require.Equal(t, io.EOF, err)
		} else {
			require.NoError(t, err)
		}
		require.Contains(t, string(b[:n]), s)
	}
	data, err := f.Seek(1<<31, unix.SEEK_DATA)
	require.NoError(t, err)
	require.LessOrEqual(t, data, int64(1<<32+1), "SEEK_DATA skips the hole")
}

// names lists a directory of an image with the fs's own host tool.
func names(t *testing.T, fstype, img, dir string) []string {
	var out []string
	switch fstype {
	case "ext4":
		for _, l := range strings.Split(imagetest.Run(t, "debugfs", "-R", "ls -p "+dir, img), "\n") {
			// /ino/mode/uid/gid/name/size/
			if f := strings.Split(l, "/"); len(f) >= 7 {
				out = append(out, f[5])
			}
		}
	case "xfs":
		for _, l := range strings.Split(imagetest.Run(t, "xfs_db", "-r", "-c", "ls "+dir, img), "\n") {
			if f := strings.Fields(l); len(f) >= 6 && f[len(f)-1] == "(good)" {
				out = append(out, f[len(f)-2])
			}
		}
	case "vfat":
		d := "::" + dir
		for _, l := range strings.Split(imagetest.Run(t, "mdir", "-b", "-i", img, d), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, strings.TrimSuffix(filepath.Base(l), "/"))
			}
		}
	case "btrfs":
		// btrfs-progs has no plain listing of an unmounted image;
		// "btrfs restore" extracts it without mounting.
		dst := t.TempDir()
		imagetest.Run(t, "btrfs", "restore", "-S", img, dst)
		ents, err := os.ReadDir(filepath.Join(dst, dir))
		require.NoError(t, err)
		for _, e := range ents {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// checkImage runs the fs's checker on img (read-only) and compares files
// read back by host tools.
func checkImage(t *testing.T, fstype, img string, files map[string]string) {
	switch fstype {
	case "ext4":
		imagetest.Run(t, "e2fsck", "-fn", img)
		for name, content := range files {
			require.Equal(t, content, debugfs(t, img, "cat /"+name), name)
		}
	case "xfs":
		imagetest.Run(t, "xfs_repair", "-n", img)
		for name, content := range files {
			out := imagetest.Run(t, "xfs_db", "-r", "-c", "path /"+name, "-c", "print core.size", img)
			require.Contains(t, out, "core.size = "+strconv.Itoa(len(content)), name)
		}
	case "vfat":
		imagetest.Run(t, "fsck.vfat", "-n", img)
		for name, content := range files {
			require.Equal(t, content, imagetest.Run(t, "mtype", "-i", img, "::/"+name), name)
		}
	case "btrfs":
		imagetest.Run(t, "btrfs", "check", "--readonly", img)
		dst := t.TempDir()
		imagetest.Run(t, "btrfs", "restore", img, dst)
		for name, content := range files {
			got, err := os.ReadFile(filepath.Join(dst, name))
			require.NoError(t, err)
			require.Equal(t, content, string(got), name)
		}
	}
}

// debugfs runs one debugfs request on img and returns its output without
// the version banner debugfs prints first (on stderr, which
// imagetest.Run merges).
func debugfs(t *testing.T, img, request string) string {
	out := imagetest.Run(t, "debugfs", "-R", request, img)
	if strings.HasPrefix(out, "debugfs ") {
		_, out, _ = strings.Cut(out, "\n")
	}
	return out
}
