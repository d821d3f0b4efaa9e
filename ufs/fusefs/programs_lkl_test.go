//go:build lkl

package fusefs_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

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

// TestEndlessDirLKL mounts the hostile-image campaign's btrfs seed 2592
// (internal/imagemut/testdata/hangs), read-only: LKL 4.9's btrfs answers
// every getdents64 of /a with the same entry at the same d_off, for ever.
// Through the FUSE mount, ls must end with an error (EUCLEAN: "Structure
// needs cleaning") rather than read the directory for ever, the server
// must stay up (a second ls gets the same answer; the root lists), and
// the image must not change. Without the stream check in the FUSE
// directory handle, ls never returns (the 60 s bound fails the test).
func TestEndlessDirLKL(t *testing.T) {
	img := imagetest.Gunzip(t, "../../internal/imagemut/testdata/hangs/btrfs-2592.img.gz")
	before := fileSum(t, img)
	k, ok := kerneltest.Lookup(t, "lkl")
	require.True(t, ok)
	kern := k.(*lkl.Kernel)
	mp := fmt.Sprintf("/mnt/fusefs-%d", mounts.Add(1))
	_, err := kern.AddDisk(lkl.Disk{Path: img, FSType: "btrfs", MountPoint: mp, ReadOnly: true})
	require.NoError(t, err)
	fsys := ufs.New(kern, mp)
	t.Cleanup(func() {
		fsys.Close()
		require.NoError(t, kern.Unmount(mp))
		require.Equal(t, before, fileSum(t, img), "the read-only image changed")
	})
	mnt := mount(t, fsys, fusefs.Options{})
	for round := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, "ls", "-f", mnt+"/a").CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		require.False(t, timedOut, "round %d: ls did not end", round)
		require.Error(t, err, "round %d: ls of an endless directory succeeded", round)
		require.Contains(t, string(out), "Structure needs cleaning", "round %d", round)
	}
	require.Contains(t, sh(t, mnt, "ls -a"), "a", "the server answers after the endless stream")
}

// fileSum is the SHA-256 of the file at path.
func fileSum(t *testing.T, path string) [32]byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}
