package lkl

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The layouts the backend relies on, checked against the generated types.
func TestABILayouts(t *testing.T) {
	require.Equal(t, uintptr(128), unsafe.Sizeof(lklStat{}), "asm-generic struct stat")
	require.Equal(t, uintptr(144), unsafe.Sizeof(unix.Stat_t{}), "amd64 struct stat")
	// These cross the door unconverted, so host and LKL must agree exactly.
	require.Equal(t, unsafe.Sizeof(unix.Statfs_t{}), unsafe.Sizeof(lklStatfs{}))
	require.Equal(t, unsafe.Offsetof(unix.Statfs_t{}.Namelen), unsafe.Offsetof(lklStatfs{}.Namelen))
	require.Equal(t, unsafe.Offsetof(unix.Statfs_t{}.Flags), unsafe.Offsetof(lklStatfs{}.Flags))
	require.Equal(t, unsafe.Sizeof(unix.EpollEvent{}), unsafe.Sizeof(lklEpollEvent{}), "packed on x86-64 on both sides")
	require.Equal(t, unsafe.Sizeof(unix.Timespec{}), unsafe.Sizeof(lklTimespec{}))
}

func TestStatToHost(t *testing.T) {
	// Distinct values per field, so a swapped field shows.
	s := lklStat{
		St_dev: 1, St_ino: 2, St_mode: 0o100644, St_nlink: 4, St_uid: 5, St_gid: 6, St_rdev: 7,
		St_size: 8, St_blksize: 9, St_blocks: 10,
		Lkl_st_atime: 11, St_atime_nsec: 12, Lkl_st_mtime: 13, St_mtime_nsec: 14, Lkl_st_ctime: 15, St_ctime_nsec: 16,
	}
	want := unix.Stat_t{
		Dev: 1, Ino: 2, Mode: 0o100644, Nlink: 4, Uid: 5, Gid: 6, Rdev: 7, Size: 8, Blksize: 9, Blocks: 10,
		Atim: unix.Timespec{Sec: 11, Nsec: 12}, Mtim: unix.Timespec{Sec: 13, Nsec: 14}, Ctim: unix.Timespec{Sec: 15, Nsec: 16},
	}
	require.Equal(t, want, statToHost(&s))

}
