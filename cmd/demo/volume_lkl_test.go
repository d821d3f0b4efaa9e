//go:build lkl

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

// The server layout end to end: GPT → partition 3 → LVM PV → vg/root →
// ext4, opened with one command line (--volume), and a VG across two
// images (--image).
func TestVolumeImage(t *testing.T) {
	tree := imagetest.Tree{
		"etc/":                 "",
		"etc/hostname":         "lvm-root\n",
		"var/log/":             "",
		"var/log/boot":         strings.Repeat("booted\n", 5000),
		"motd => etc/hostname": "",
	}
	img := imagetest.LVMDisk(t, tree)

	t.Run("ls", func(t *testing.T) {
		stdout, stderr, code := demo(t, nil, "ls", "--volume", "vg/root", img, "/etc")
		require.Zero(t, code, stderr)
		require.Contains(t, stdout, "hostname")
	})
	t.Run("cp-out", func(t *testing.T) {
		out := t.TempDir()
		_, stderr, code := demo(t, nil, "cp-out", "--volume", "/dev/mapper/vg-root", img, "/", out)
		require.Zero(t, code, stderr)
		src := t.TempDir()
		tree.Write(t, src)
		require.Equal(t, treeOf(t, src), treeOf(t, out))
	})
	t.Run("fstest", func(t *testing.T) {
		im, err := openImage(img, imageFlags{volume: "/dev/vg/root", readOnly: true}, false)
		require.NoError(t, err)
		defer func() { require.NoError(t, im.close()) }()
		names := []string{"etc/hostname", "var/log/boot", "motd"}
		require.NoError(t, fstest.TestFS(im.fs, names...))
		got, err := im.fs.ReadFile("var/log/boot")
		require.NoError(t, err)
		require.Equal(t, tree["var/log/boot"], string(got))
	})
	t.Run("errors", func(t *testing.T) {
		_, stderr, code := demo(t, nil, "ls", "--volume", "vg/home", img)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, `no volume "vg/home": there are: vg/root (LVM linear)`)
		require.NotContains(t, stderr, "lkl config")
		_, stderr, code = demo(t, nil, "ls", "--image", "/missing.img", "--volume", "vg/root", img)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, `--image "/missing.img"`)
		_, stderr, code = demo(t, nil, "ls", "--image", img, img)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "set volume too")
	})

	t.Run("two images", func(t *testing.T) {
		dir := t.TempDir()
		imgs := []string{imagetest.Blank(t, filepath.Join(dir, "a.img"), 40<<20), imagetest.Blank(t, filepath.Join(dir, "b.img"), 40<<20)}
		loops := imagetest.Loops(t, imgs...)
		imagetest.LVM(t, loops, "pvcreate", loops...)
		imagetest.LVM(t, loops, "vgcreate", append([]string{"data"}, loops...)...)
		imagetest.LVM(t, loops, "lvcreate", "-n", "str", "-i", "2", "-I", "64k", "-L", "48M", "data")
		fs := imagetest.Build(t, "ext4", imagetest.Tree{"striped.txt": "across two images\n"})
		imagetest.FillLV(t, loops, "data", "str", fs)
		stdout, stderr, code := demo(t, nil, "cat", "--volume", "data/str", "--image", imgs[1], imgs[0], "/striped.txt")
		require.Zero(t, code, stderr)
		require.Equal(t, "across two images\n", stdout)
	})
}
