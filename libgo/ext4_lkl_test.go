//go:build lkl

package libgo_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// lklExt4 mounts a fresh, empty ext4 image in LKL at mp, for calls LKL's
// root file system lacks (xattrs, FIEMAP), and unmounts it at the end of
// the test.
func lklExt4(t *testing.T, mp string) *libgo.Libc {
	k, _ := kerneltest.Lookup(t, "lkl")
	// An *lkl.Kernel, or an *isolated.Kernel under make test-isolated.
	kern := k.(interface {
		sys.Kernel
		AddDisk(lkl.Disk) (lkl.MountInfo, error)
		Unmount(string) error
	})
	img := imagetest.Build(t, "ext4", imagetest.Tree{"keep": ""})
	_, err := kern.AddDisk(lkl.Disk{Path: img, MountPoint: mp})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, kern.Unmount(mp)) })
	return libgo.New(kern)
}

// The xattr calls on LKL, in an ext4 image.
func TestXattrLKLExt4(t *testing.T) {
	const mp = "/mnt/libgo-xattr"
	checkXattrs(t, lklExt4(t, mp), mp)
}

// FIEMAP on LKL, in an ext4 image.
func TestFiemapLKLExt4(t *testing.T) {
	const mp = "/mnt/libgo-fiemap"
	checkFiemap(t, lklExt4(t, mp), mp+"/f")
}
