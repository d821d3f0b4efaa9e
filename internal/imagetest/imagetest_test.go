package imagetest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

var tree = imagetest.Tree{
	"hello.txt":         "hello, image\n",
	"dir/":              "",
	"dir/inner.txt":     "inner\n",
	"link => hello.txt": "",
}

// The images are checked with the file systems' own host tools, without
// mounting: LKL's tests then read them through LKL.
func TestBuildExt4(t *testing.T) {
	img := imagetest.Build(t, "ext4", tree)
	imagetest.Run(t, "e2fsck", "-fn", img)
	out := imagetest.Run(t, "debugfs", "-R", "cat /dir/inner.txt", img)
	require.Contains(t, out, "inner\n")
}

func TestBuildVfat(t *testing.T) {
	img := imagetest.Build(t, "vfat", imagetest.Tree{"a.txt": "vfat\n", "d/b.txt": "b\n"})
	out := imagetest.Run(t, "mdir", "-i", img, "-b", "::/d")
	require.Contains(t, strings.ToLower(out), "b.txt")
}

func TestTreeFor(t *testing.T) {
	require.Equal(t, tree, tree.For("ext4"))
	require.Equal(t, imagetest.Tree{"hello.txt": "hello, image\n", "dir/": "", "dir/inner.txt": "inner\n"}, tree.For("vfat"))
}

func TestBuildAll(t *testing.T) {
	for _, fstype := range imagetest.FSTypes {
		t.Run(fstype, func(t *testing.T) {
			img := imagetest.Build(t, fstype, tree.For(fstype))
			fi, err := os.Stat(img)
			require.NoError(t, err)
			require.Positive(t, fi.Size())
		})
	}
}

func TestPartitioned(t *testing.T) {
	for _, table := range []string{"mbr", "gpt"} {
		t.Run(table, func(t *testing.T) {
			disk := imagetest.Partitioned(t, table, 2, "ext4", tree)
			out := imagetest.Run(t, "sfdisk", "-d", disk)
			require.Contains(t, out, disk+"2")
		})
	}
}
