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

// FIEMAP on LKL, in an ext4 image.
func TestFiemapLKLExt4(t *testing.T) {
	k, _ := kerneltest.Lookup(t, "lkl")
	kern := k.(*lkl.Kernel)
	img := imagetest.Build(t, "ext4", imagetest.Tree{"keep": ""})
	const mp = "/mnt/libgo-fiemap"
	_, err := kern.AddDisk(lkl.Disk{Path: img, MountPoint: mp})
	require.NoError(t, err)
	defer func() { require.NoError(t, kern.Unmount(mp)) }()
	checkFiemap(t, libgo.New(kern), mp+"/f")
}
