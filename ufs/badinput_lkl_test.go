//go:build lkl

package ufs_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
)

// A read-only image refuses every write through ufs with EROFS, and its
// bytes do not change.
func TestReadOnlyImage(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"f": "data", "d/": ""})
	before := sha(t, img)
	fsys, mp := attach(t, img, "ext4", true)
	tests := []struct {
		name string
		f    func() error
	}{
		{"write file", func() error { return fsys.WriteFile("new", []byte("x"), 0o644) }},
		{"overwrite", func() error { return fsys.WriteFile("f", []byte("x"), 0o644) }},
		{"mkdir", func() error { return fsys.Mkdir("nd", 0o755) }},
		{"remove", func() error { return fsys.Remove("f") }},
		{"remove all", func() error { return fsys.RemoveAll("d") }},
		{"rename", func() error { return fsys.Rename("f", "g") }},
		{"link", func() error { return fsys.Link("f", "g") }},
		{"symlink", func() error { return fsys.Symlink("f", "g") }},
		{"chmod", func() error { return fsys.Chmod("f", 0o600) }},
		{"chown", func() error { return fsys.Chown("f", 1, 1) }},
		{"truncate", func() error { return fsys.Truncate("f", 0) }},
		{"setxattr", func() error { return fsys.Setxattr("f", "user.x", []byte("y"), 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.f(), syscall.EROFS)
		})
	}
	got, err := fsys.ReadFile("f")
	require.NoError(t, err)
	require.Equal(t, "data", string(got))
	require.NoError(t, fsys.Close())
	unmount(t, lklKernel(t), mp)
	require.Equal(t, before, sha(t, img), "image unchanged")
}

// Images LKL cannot mount fail in AddDisk with an error that names the
// image, before any FS exists; the kernel goes on.
func TestBadImages(t *testing.T) {
	dir := t.TempDir()
	good := imagetest.Build(t, "ext4", imagetest.Tree{"f": "x"})
	b, err := os.ReadFile(good)
	require.NoError(t, err)
	truncated := filepath.Join(dir, "truncated.img")
	require.NoError(t, os.WriteFile(truncated, b[:1<<20], 0o644))
	corrupt := filepath.Join(dir, "corrupt.img")
	noise := bytes.Repeat([]byte("not a file system "), 1<<16)
	require.NoError(t, os.WriteFile(corrupt, noise, 0o644))
	part := imagetest.Partitioned(t, "mbr", 1, "ext4", imagetest.Tree{"p": "1"})
	tests := []struct {
		name string
		disk lkl.Disk
		want string
	}{
		{"truncated", lkl.Disk{Path: truncated, ReadOnly: true}, truncated},
		{"corrupt", lkl.Disk{Path: corrupt, ReadOnly: true}, corrupt + ": no ext2/3/4"},
		{"wrong fstype", lkl.Disk{Path: good, ReadOnly: true, FSType: "btrfs"}, good + ": mount btrfs"},
		{"missing partition", lkl.Disk{Path: part, ReadOnly: true, Partition: 4}, "partition 4: no such partition"},
	}
	kern := lklKernel(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.disk.MountPoint = "/mnt/ufs-bad-" + string(rune('a'+i))
			_, err := kern.AddDisk(tc.disk)
			require.ErrorContains(t, err, tc.want)
			fsys := ufs.New(kern, tc.disk.MountPoint)
			defer fsys.Close()
			ents, err := fsys.ReadDir(".")
			if err == nil {
				require.Empty(t, ents, "nothing is mounted there")
			}
		})
	}
}

// io.Copy between a File on the host and one on LKL copies through memory,
// both ways, byte for byte.
func TestCopyBetweenKernels(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{})
	image, _ := attach(t, img, "ext4", false)
	host := ufs.New(sys.Host(), t.TempDir())
	defer host.Close()
	data := pattern(5<<20 + 17)
	require.NoError(t, host.WriteFile("in", data, 0o644))

	copyFile := func(from, to *ufs.FS, src, dst string) {
		in, err := from.Open(src)
		require.NoError(t, err)
		defer in.Close()
		out, err := to.Create(dst)
		require.NoError(t, err)
		n, err := io.Copy(out, in)
		require.NoError(t, err)
		require.EqualValues(t, len(data), n)
		require.NoError(t, out.Close())
	}
	copyFile(host, image, "in", "copied")
	copyFile(image, host, "copied", "back")
	got, err := host.ReadFile("back")
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))
}
