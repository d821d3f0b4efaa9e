//go:build lkl

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

func init() { childChecks["volume-fstest"] = volumeFSTest }

// volumeImageEnv names the image volumeFSTest opens.
const volumeImageEnv = "DEMO_TEST_IMAGE"

// volumeBootLog is TestVolumeImage's var/log/boot, large enough to take
// many blocks.
var volumeBootLog = strings.Repeat("booted\n", 5000)

// volumeFSTest opens TestVolumeImage's image in this process (openImage,
// as every command does) by the volume's device path and checks it with
// fstest.TestFS; it boots LKL, so it runs as a child check.
func volumeFSTest() (err error) {
	im, err := openImage(os.Getenv(volumeImageEnv), imageFlags{volume: "/dev/vg/root", readOnly: true}, false)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, im.close()) }()
	if err := fstest.TestFS(im.fs, "etc/hostname", "var/log/boot", "motd"); err != nil {
		return err
	}
	got, err := im.fs.ReadFile("var/log/boot")
	if err != nil {
		return err
	}
	if string(got) != volumeBootLog {
		return fmt.Errorf("var/log/boot: the %d bytes read are not the %d bytes written", len(got), len(volumeBootLog))
	}
	return nil
}

// The server layout end to end: GPT → partition 3 → LVM PV → vg/root →
// ext4, opened with one command line (--volume), and a VG across two
// images (--image).
func TestVolumeImage(t *testing.T) {
	tree := imagetest.Tree{
		"etc/":                 "",
		"etc/hostname":         "lvm-root\n",
		"var/log/":             "",
		"var/log/boot":         volumeBootLog,
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
		runChildCheck(t, "volume-fstest", volumeImageEnv+"="+img)
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
		imgs, loops := imagetest.VG(t, "data", 2, 40<<20)
		imagetest.LVM(t, loops, "lvcreate", "-n", "str", "-i", "2", "-I", "64k", "-L", "48M", "data")
		fs := imagetest.Build(t, "ext4", imagetest.Tree{"striped.txt": "across two images\n"})
		imagetest.FillLV(t, loops, "data", "str", fs)
		stdout, stderr, code := demo(t, nil, "cat", "--volume", "data/str", "--image", imgs[1], imgs[0], "/striped.txt")
		require.Zero(t, code, stderr)
		require.Equal(t, "across two images\n", stdout)
	})
}
