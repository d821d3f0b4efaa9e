package lkl

import (
	"golang.org/x/sys/unix"
)

// statToHost converts LKL's struct stat (asm-generic layout) to amd64's,
// field by field: the two differ in field order (nlink and mode), widths
// (nlink, blksize) and size (128 vs 144 bytes).
func statToHost(s *lklStat) unix.Stat_t {
	return unix.Stat_t{
		Dev:     s.St_dev,
		Ino:     s.St_ino,
		Nlink:   uint64(s.St_nlink),
		Mode:    s.St_mode,
		Uid:     s.St_uid,
		Gid:     s.St_gid,
		Rdev:    s.St_rdev,
		Size:    s.St_size,
		Blksize: int64(s.St_blksize),
		Blocks:  s.St_blocks,
		Atim:    unix.Timespec{Sec: s.Lkl_st_atime, Nsec: int64(s.St_atime_nsec)},
		Mtim:    unix.Timespec{Sec: s.Lkl_st_mtime, Nsec: int64(s.St_mtime_nsec)},
		Ctim:    unix.Timespec{Sec: s.Lkl_st_ctime, Nsec: int64(s.St_ctime_nsec)},
	}
}
