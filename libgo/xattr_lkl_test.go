//go:build lkl

package libgo_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys/lkl"
)

// The xattr calls on LKL, in an ext4 image (LKL's root has no xattrs).
func TestXattrLKLExt4(t *testing.T) {
	k, _ := kerneltest.Lookup(t, "lkl")
	kern := k.(*lkl.Kernel)
	img := imagetest.Build(t, "ext4", imagetest.Tree{"keep": ""})
	const mp = "/mnt/libgo-xattr"
	_, err := kern.AddDisk(lkl.Disk{Path: img, MountPoint: mp})
	require.NoError(t, err)
	defer func() { require.NoError(t, kern.Unmount(mp)) }()
	checkXattrs(t, libgo.New(kern), mp)
}
