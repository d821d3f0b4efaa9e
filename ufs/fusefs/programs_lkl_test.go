//go:build lkl

package fusefs_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/ufs/fusefs"
)

var mounts atomic.Int64

// attach attaches the image img of type fstype to the test process's LKL
// kernel, mounted at a fresh mount point, and returns an FS on it. The test's cleanup closes the FS and unmounts the
// image in LKL (flushing it); it runs after the FUSE mount's own cleanup.
func attach(t *testing.T, img, fstype string) *ufs.FS {
	k, ok := kerneltest.Lookup(t, "lkl")
	require.True(t, ok)
	kern := k.(*lkl.Kernel)
	mp := fmt.Sprintf("/mnt/fusefs-%d", mounts.Add(1))
	_, err := kern.AddDisk(lkl.Disk{Path: img, FSType: fstype, MountPoint: mp})
	require.NoError(t, err)
	fsys := ufs.New(kern, mp)
	t.Cleanup(func() {
		fsys.Close()
		require.NoError(t, kern.Unmount(mp))
	})
	return fsys
}

// fsck checks the image of type fstype with its host tool, read-only.
func fsck(t *testing.T, fstype, img string) {
	switch fstype {
	case "ext4":
		imagetest.Run(t, "e2fsck", "-fn", img)
	case "xfs":
		imagetest.Run(t, "xfs_repair", "-n", img)
	case "btrfs":
		imagetest.Run(t, "btrfs", "check", "--readonly", img)
	case "vfat":
		imagetest.Run(t, "fsck.vfat", "-n", img)
	}
}

// TestProgramsLKL runs the program suite on a disk image of each type,
// read and written by LKL's driver through the FUSE mount, and checks that
// LKL has no fd more open afterwards and the image passes the host's fsck.
func TestProgramsLKL(t *testing.T) {
	for _, fstype := range []string{"ext4", "xfs", "btrfs", "vfat"} {
		t.Run(fstype, func(t *testing.T) {
			img := imagetest.Build(t, fstype, imagetest.Tree{})
			k, _ := kerneltest.Lookup(t, "lkl")
			kerneltest.CheckFDs(t, k) // every handle is released
			t.Run("programs", func(t *testing.T) {
				fsys := attach(t, img, fstype)
				checkPrograms(t, mount(t, fsys, fusefs.Options{FsName: img}), "", capsOf(fstype))
			})
			fsck(t, fstype, img)
		})
	}
}
