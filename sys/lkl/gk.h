// C helpers between Go and liblkl (gk.c). Part of gokernel, not of LKL.
#ifndef GOKERNEL_LKL_GK_H
#define GOKERNEL_LKL_GK_H

#include <stdint.h>

// Build checks (docs/lkl-build.md): cgo must find LKL through CGO_CFLAGS,
// as gokernel-lkl sets it, and that LKL must be a build of the recipe this
// code was written for (zrecipe.h). Each failure names the command to run.
// When LKL is missing the rest of this header is left out, so that the
// #error is the only message.
#if !__has_include(<lkl.h>)
#error "gokernel: LKL is not installed for cgo (no lkl.h on the include path; -tags lkl needs it); run, from your module: go run github.com/gokernel/gokernel/cmd/gokernel-lkl install"
#elif !__has_include(<gokernel_lkl.h>)
#error "gokernel: the lkl.h on cgo's include path was not installed by gokernel-lkl; run, from your module: go run github.com/gokernel/gokernel/cmd/gokernel-lkl install"
#else
#include <gokernel_lkl.h>
#include "zrecipe.h"
#ifndef GK_LKL_STALE
#include <lkl.h>
#include <lkl_host.h>

// gk_thread_ready is set on an OS thread once LKL has made the host task
// that runs that thread's system calls (see gk_thread_enter in gk.c).
extern __thread int gk_thread_ready;
void gk_thread_enter(void);

// gk_enter must come first in every C function that makes LKL system calls.
static inline void gk_enter(void)
{
	if (__builtin_expect(!gk_thread_ready, 0))
		gk_thread_enter();
}

// gk_syscall spreads six arguments into the array lkl_syscall takes. The
// array lives on the C stack, so Go passes only integers and allocates
// nothing. It is inline so that cgo's stub for it is the only C frame
// between Go and lkl_syscall.
static inline long gk_syscall(long no, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long params[6] = {a1, a2, a3, a4, a5, a6};

	gk_enter();
	return lkl_syscall(no, params);
}

// GK_HAVE_REMOTE is 1 when LKL was built with third_party/lkl's fix 16
// (CONFIG_GOKERNEL_REMOTE_USER), which adds lkl_syscall_remote: a system
// call whose user pointers are addresses in another host process, read and
// written with process_vm_readv/process_vm_writev.
#ifdef LKL_CONFIG_GOKERNEL_REMOTE_USER
#define GK_HAVE_REMOTE 1
long lkl_syscall_remote(int pid, long no, long *params);
#else
#define GK_HAVE_REMOTE 0
#endif

// gk_syscall_remote is gk_syscall for host process pid (Kernel.ForProcess);
// -ENOSYS without fix 16.
static inline long gk_syscall_remote(int pid, long no, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if GK_HAVE_REMOTE
	long params[6] = {a1, a2, a3, a4, a5, a6};

	gk_enter();
	return lkl_syscall_remote(pid, no, params);
#else
	(void)pid, (void)no, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6;
	return -38; // ENOSYS
#endif
}

int gk_start(unsigned long mem, const char *cmdline, int debug);
int gk_disk_add(int fd, void **dev);
int gk_disk_add_go(uintptr_t h, void **dev);
int gk_disk_remove(void *dev);
int gk_blkdev(int disk_id, unsigned int part, uint32_t *dev);
int gk_mount_fs(const char *fstype);
long gk_halt(void);
int gk_if_up(int ifindex);
int gk_netdev_add(int fd, const char *ifname, unsigned char *mac, unsigned int offload,
		  struct lkl_netdev **out);
int gk_netdev_ifindex(int id);
void gk_netdev_remove(int id);
void gk_netdev_free(struct lkl_netdev *nd);
int gk_if_config(int ifindex, int mtu, unsigned int addr, int masklen);
int gk_if_set_ipv6(int ifindex, void *addr, int masklen);
int gk_set_gateway(int af, void *addr);
int gk_add_neighbor(int ifindex, int af, void *addr, void *mac);

#endif // GK_LKL_STALE
#endif // build checks
#endif
