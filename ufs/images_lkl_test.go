//go:build lkl

package ufs_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/ufs"
)

// lklKernel returns the test process's LKL kernel.
// diskKernel is what these tests need of the tests' LKL kernel: an
// *lkl.Kernel, or an *isolated.Kernel under make test-isolated.
type diskKernel interface {
	sys.Kernel
	AddDisk(lkl.Disk) (lkl.MountInfo, error)
	AttachDisk(disk.Device, lkl.Disk) (lkl.MountInfo, error)
	Unmount(string) error
	Mounts() []lkl.MountInfo
}

func lklKernel(t testing.TB) diskKernel {
	k, ok := kerneltest.Lookup(t, "lkl")
	require.True(t, ok)
	return k.(diskKernel)
}

var mounts atomic.Int64

// attach attaches img to LKL, mounted at a fresh mount point, and returns
// an FS on it. At the end of the test the FS is closed and the image
// unmounted (which flushes it).
func attach(t *testing.T, img, fstype string, readOnly bool) (*ufs.FS, string) {
	t.Helper()
	kern := lklKernel(t)
	mp := fmt.Sprintf("/mnt/ufs-%d", mounts.Add(1))
	info, err := kern.AddDisk(lkl.Disk{Path: img, FSType: fstype, ReadOnly: readOnly, MountPoint: mp})
	require.NoError(t, err)
	require.Equal(t, fstype, info.FSType)
	return mounted(t, kern, mp), mp
}

// mounted returns an FS on mp, closed at the end of the test, when mp is
// unmounted too if it still is.
func mounted(t *testing.T, kern diskKernel, mp string) *ufs.FS {
	fsys := ufs.New(kern, mp)
	t.Cleanup(func() {
		fsys.Close()
		for _, m := range kern.Mounts() {
			if m.MountPoint == mp {
				unmount(t, kern, mp)
			}
		}
	})
	return fsys
}

// unmount unmounts mp, after letting the garbage collector release the
// fds of sub-FSs nobody closed (fstest.TestFS makes them), which keep the
// mount busy.
func unmount(t *testing.T, kern diskKernel, mp string) {
	t.Helper()
	var err error
	for range 50 {
		if err = kern.Unmount(mp); err == nil {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("unmount %s: %v", mp, err)
}

func sha(t testing.TB, path string) [32]byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return sha256.Sum256(b)
}

// imageSource writes the test tree for fstype into a host directory, with
// a hard link where the fs and its mkfs keep them and an xattr on ext4.
func imageSource(t *testing.T, fstype string) (string, imagetest.Tree) {
	src := filepath.Join(t.TempDir(), "src")
	require.NoError(t, os.Mkdir(src, 0o755))
	tr := testTree(fstype)
	tr.Write(t, src)
	if fstype == "ext4" {
		require.NoError(t, os.Link(filepath.Join(src, "hello.txt"), filepath.Join(src, "dir", "hard")))
		require.NoError(t, libgo.New(sys.Host()).Setxattr(filepath.Join(src, "hello.txt"), "user.origin", []byte("host"), 0))
	}
	return src, tr
}

// fstest.TestFS on the same tree in each file system type, read-only; the
// images are never written.
func TestImagesConformance(t *testing.T) {
	for _, fstype := range imagetest.FSTypes {
		t.Run(fstype, func(t *testing.T) {
			src, tr := imageSource(t, fstype)
			img := filepath.Join(t.TempDir(), fstype+".img")
			imagetest.MakeFS(t, fstype, src, img)
			before := sha(t, img)
			fsys, mp := attach(t, img, fstype, true)
			names := expected(tr)
			if fstype == "ext4" {
				names = append(names, "dir/hard")
			}
			require.NoError(t, fstest.TestFS(fsys, names...))
			for name, content := range tr.Files() {
				got, err := fsys.ReadFile(name)
				require.NoError(t, err)
				require.Equal(t, content, string(got), name)
			}
			if fstype == "ext4" {
				a, err := fsys.Stat("hello.txt")
				require.NoError(t, err)
				b, err := fsys.Stat("dir/hard")
				require.NoError(t, err)
				require.Equal(t, ino(a), ino(b), "hard link")
				v, err := fsys.Getxattr("hello.txt", "user.origin")
				require.NoError(t, err)
				require.Equal(t, "host", string(v))
				list, err := fsys.Listxattr("hello.txt")
				require.NoError(t, err)
				require.Contains(t, list, "user.origin")
			}
			require.NoError(t, fsys.Close())
			unmount(t, lklKernel(t), mp)
			require.Equal(t, before, sha(t, img), "a read-only image is never written")
		})
	}
}

// ino is the inode number behind a FileInfo of ufs.
func ino(fi fs.FileInfo) uint64 { return fi.Sys().(*unix.Stat_t).Ino }
