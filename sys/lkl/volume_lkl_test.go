//go:build lkl

package lkl_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys/lkl"
)

// TestVolumes mounts file systems on LVM volumes: the nested GPT →
// partition 3 → PV → vg/root layout with one disk entry, and a linear LV
// spanning two images (images); unknown and unsupported volumes are
// errors that say what there is.
func TestVolumes(t *testing.T) {
	tree := imagetest.Tree{"etc/": "", "etc/hostname": "lvm-root\n"}
	nested := imagetest.LVMDisk(t, tree)
	for _, ro := range []bool{true, false} {
		mp := "/mnt/vg-root"
		_, err := kern.AddDisk(lkl.Disk{Path: nested, Volume: "vg/root", ReadOnly: ro, MountPoint: mp})
		require.NoError(t, err)
		require.Equal(t, "lvm-root\n", string(readFile(t, mp+"/etc/hostname")))
		require.NoError(t, kern.Unmount(mp))
	}

	// A VG across two images: the LV's file system starts on one and
	// ends on the other.
	dir := t.TempDir()
	imgs := []string{imagetest.Blank(t, filepath.Join(dir, "a.img"), 40<<20), imagetest.Blank(t, filepath.Join(dir, "b.img"), 40<<20)}
	loops := imagetest.Loops(t, imgs...)
	imagetest.LVM(t, loops, "pvcreate", loops...)
	imagetest.LVM(t, loops, "vgcreate", append([]string{"two"}, loops...)...)
	imagetest.LVM(t, loops, "lvcreate", "-n", "lin", "-L", "48M", "two", loops[1]+":6-8", loops[0]+":0-8")
	imagetest.ThinPool(t, loops, "two")
	fs := imagetest.Build(t, "ext4", imagetest.Tree{"spans.txt": "two images\n"})
	imagetest.FillLV(t, loops, "two", "lin", fs)
	segs := 0
	for _, s := range imagetest.LVSegs(t, loops, "two") {
		if s.LV == "lin" {
			segs++
		}
	}
	require.Equal(t, 2, segs, "lin should have one segment on each image")
	_, err := kern.AddDisk(lkl.Disk{Path: imgs[0], Images: imgs[1:], Volume: "/dev/mapper/two-lin", ReadOnly: true, MountPoint: "/mnt/two"})
	require.NoError(t, err)
	require.Equal(t, "two images\n", string(readFile(t, "/mnt/two/spans.txt")))
	require.NoError(t, kern.Unmount("/mnt/two"))

	_, err = kern.AddDisk(lkl.Disk{Path: imgs[0], Volume: "two/lin", ReadOnly: true, MountPoint: "/mnt/two"})
	require.ErrorContains(t, err, "which is missing: give the image that holds it")
	_, err = kern.AddDisk(lkl.Disk{Path: imgs[0], Images: imgs[1:], Volume: "two/thin", ReadOnly: true, MountPoint: "/mnt/two"})
	require.ErrorContains(t, err, "two/thin is a thin LV, which gokernel cannot open")
	_, err = kern.AddDisk(lkl.Disk{Path: nested, Volume: "vg/home", ReadOnly: true, MountPoint: "/mnt/home"})
	require.ErrorContains(t, err, `no volume "vg/home": there are: vg/root (LVM linear)`)
	_, err = kern.AddDisk(lkl.Disk{Path: imgs[0], Images: []string{filepath.Join(dir, "missing.img")}, Volume: "two/lin", ReadOnly: true})
	require.ErrorContains(t, err, "images[0]")
}
