//go:build lkl

package libgo_test

import (
	"crypto/sha256"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// TestDirReaderEndlessImage replays the hostile-image campaign's btrfs
// seed 2592 (internal/imagemut/testdata/hangs): a directory item's key
// offset of 2^64-1 makes LKL's btrfs answer every getdents64 of /a with
// the same entry and the same d_off, each call quick, so no deadline
// fires while a reader piles up entries for ever (demo cp-out grew to
// 11 GB). The DirReader notices the stream does not advance: EUCLEAN,
// again on a fresh open, the kernel alive and the read-only image
// unchanged. It runs on the tests' LKL kernel: in-process, or isolated
// under make test-isolated.
func TestDirReaderEndlessImage(t *testing.T) {
	img := imagetest.Gunzip(t, "../internal/imagemut/testdata/hangs/btrfs-2592.img.gz")
	sum := func() [32]byte {
		b, err := os.ReadFile(img)
		require.NoError(t, err)
		return sha256.Sum256(b)
	}
	before := sum()
	k, _ := kerneltest.Lookup(t, "lkl")
	kern := k.(interface {
		sys.Kernel
		AddDisk(lkl.Disk) (lkl.MountInfo, error)
		Unmount(string) error
	})
	const mp = "/mnt/libgo-endless"
	_, err := kern.AddDisk(lkl.Disk{Path: img, ReadOnly: true, MountPoint: mp, FSType: "btrfs"})
	require.NoError(t, err)
	l := libgo.New(kern)
	for round := range 2 {
		fd, err := l.Open(mp+"/a", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		require.NoError(t, err)
		ents, err := l.NewDirReader(fd).ReadAll()
		require.ErrorIs(t, err, syscall.EUCLEAN, "round %d: %d entries", round, len(ents))
		require.Less(t, len(ents), 1000, "round %d: the reader stopped at the first repeat", round)
		require.NoError(t, l.Close(fd))
	}
	require.Positive(t, l.Getpid(), "the kernel answers after the endless stream")
	require.NoError(t, kern.Unmount(mp))
	require.Equal(t, before, sum(), "the read-only image changed")
}
