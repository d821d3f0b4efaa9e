//go:build lkl

package ufs_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// The hostile-image campaign's saved crash (internal/imagemut, seed 1839:
// an ext4 inode whose i_size_high makes its size negative) crashed the
// copy with a slice out of range, and ReadFile read it without end (LKL's
// ext4 serves it as endless). Now both stop with EUCLEAN naming the file.
func TestHostileSizes(t *testing.T) {
	img := gunzip(t, "../internal/imagemut/testdata/crashes/ext4-1839.img.gz")
	before := sha(t, img)
	src, mp := attach(t, img, "ext4", true)
	var negative int
	err := fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil // what the walk cannot read is not this test's
		}
		if fi, err := d.Info(); err == nil && fi.Size() < 0 {
			negative++
			_, err := src.ReadFile(name)
			require.ErrorIs(t, err, syscall.EUCLEAN, name)
		}
		return nil
	})
	require.NoError(t, err)
	require.Positive(t, negative, "the image has a file whose size is negative")
	dst := ufs.New(sys.Host(), t.TempDir())
	defer dst.Close()
	err = ufs.CopyTree(dst, src, []string{"."}, ufs.CopyOptions{})
	require.ErrorIs(t, err, syscall.EUCLEAN)
	require.ErrorContains(t, err, "negative file size")
	require.NoError(t, src.Close())
	unmount(t, lklKernel(t), mp)
	require.Equal(t, before, sha(t, img), "image unchanged")
}

// gunzip writes the gzip file name out to a temporary file and returns
// its path.
func gunzip(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(name), ".gz"))
	w, err := os.Create(out)
	require.NoError(t, err)
	_, err = io.Copy(w, zr)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return out
}
