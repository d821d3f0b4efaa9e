// C helpers between Go and liblkl (gk.c). Part of gokernel, not of LKL.
#ifndef GOKERNEL_LKL_GK_H
#define GOKERNEL_LKL_GK_H

#include <stdint.h>
#include <lkl.h>

// gk_syscall spreads six arguments into the array lkl_syscall takes. The
// array lives on the C stack, so Go passes only integers and allocates
// nothing. It is inline so that cgo's stub for it is the only C frame
// between Go and lkl_syscall.
static inline long gk_syscall(long no, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long params[6] = {a1, a2, a3, a4, a5, a6};
	return lkl_syscall(no, params);
}
int gk_start(unsigned long mem, const char *cmdline, int debug);
int gk_disk_add(int fd);
int gk_blkdev(int disk_id, unsigned int part, uint32_t *dev);
int gk_mount_fs(const char *fstype);
long gk_halt(void);

#endif
