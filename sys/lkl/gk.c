//go:build lkl

// C helpers between Go and liblkl. Each is a few lines; the comments say why
// it is in C.
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "gk.h"
#include <lkl_host.h>
#include <virtio_net_fd.h>
#include "_cgo_export.h"

// LKL runs the system calls of each host thread in a "host task" of its
// own, made on the thread's first call (arch/lkl/kernel/syscalls.c,
// new_host_task). Making one borrows the shared task host0: the thread
// stores itself in host0, wakes it and sleeps on host0's semaphore until the
// scheduler switches to it. Two threads doing that at once overwrite each
// other in host0 and both sleep on its semaphore; one is woken, the other
// never is, and with it the Go program (seen as a socket() that never
// returned, with LKL idle, when many goroutines started calls on fresh OS
// threads). Go starts threads whenever calls block, so first calls do race.
// gk_thread_enter makes each thread's host task with a getpid, which cannot
// block, one thread at a time.
__thread int gk_thread_ready;
static pthread_mutex_t gk_task_lock = PTHREAD_MUTEX_INITIALIZER;

void gk_thread_enter(void)
{
	long params[6] = {0};

	// Before boot (disks are added then) there are no tasks to make.
	if (!lkl_is_running())
		return;
	pthread_mutex_lock(&gk_task_lock);
	lkl_syscall(__lkl__NR_getpid, params);
	pthread_mutex_unlock(&gk_task_lock);
	gk_thread_ready = 1;
}

// gk_print_stderr is the console when Config.Debug is set: kernel messages
// go to stderr, never to stdout, which belongs to the program.
static void gk_print_stderr(const char *str, int len)
{
	while (len > 0) {
		ssize_t n = write(2, str, len);
		if (n <= 0)
			return;
		str += n;
		len -= n;
	}
}

// The kernel's memory is one allocation of Config.Memory bytes (LKL's
// bootmem_init); everything else LKL allocates through mem_alloc is small.
// It is mapped on its own, 2 MiB aligned, and offered to the host's
// transparent huge pages: the kernel touches it all over (slabs of
// inodes and dentries, page cache), and with 4 KiB pages every first touch
// is a host page fault and most later ones a TLB miss.
#define GK_HUGE (2UL << 20)
static void *gk_kmem;
static size_t gk_kmem_len;

static void *gk_mem_alloc(unsigned long size)
{
	uintptr_t p, start;
	size_t len;
	void *m;

	if (size < GK_HUGE || gk_kmem != NULL)
		return malloc(size);
	len = (size + GK_HUGE - 1) & ~(GK_HUGE - 1);
	m = mmap(NULL, len + GK_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	// Trim to a 2 MiB aligned range of len bytes.
	p = (uintptr_t)m;
	start = (p + GK_HUGE - 1) & ~(GK_HUGE - 1);
	if (start > p)
		munmap(m, start - p);
	if (p + GK_HUGE > start)
		munmap((void *)(start + len), p + GK_HUGE - start);
	madvise((void *)start, len, MADV_HUGEPAGE); // advice: an error changes nothing
	gk_kmem = (void *)start;
	gk_kmem_len = len;
	return gk_kmem;
}

static void gk_mem_free(void *p)
{
	if (p != NULL && p == gk_kmem) {
		munmap(gk_kmem, gk_kmem_len);
		gk_kmem = NULL;
		return;
	}
	free(p);
}

// gk_start boots the kernel; lkl_start_kernel is variadic, which cgo
// cannot call.
int gk_start(unsigned long mem, const char *cmdline, int debug)
{
	lkl_host_ops.print = debug ? gk_print_stderr : NULL;
	lkl_host_ops.mem_alloc = gk_mem_alloc;
	lkl_host_ops.mem_free = gk_mem_free;
	return lkl_start_kernel(&lkl_host_ops, mem, "%s", cmdline);
}

// gk_blk_rw moves a virtio-blk request's data with one preadv or pwritev.
// LKL's own backend (tools/lkl/lib/posix-host.c) makes one pread or pwrite
// per segment, but a request's segments are contiguous on the disk, and
// with LKL fix 14 a request has up to 16 of them (measured in
// docs/lkl-build.md, fix 14). A short transfer is
// finished segment by segment from where it stopped, as LKL's backend
// would; an error or end of file is an I/O error.
#define GK_IOV_MAX 1024 // Linux's UIO_MAXIOV: at most this many per preadv

static int gk_blk_rw(int fd, const struct lkl_blk_req *req, int write)
{
	off_t pos = (off_t)req->sector * 512;
	size_t total = 0, skip;
	ssize_t n;
	int i;

	for (i = 0; i < req->count; i++)
		total += req->buf[i].iov_len;
	if (req->count <= GK_IOV_MAX) {
		do {
			n = write ? pwritev(fd, req->buf, req->count, pos) : preadv(fd, req->buf, req->count, pos);
		} while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
		if ((size_t)n == total)
			return 0;
	} else {
		n = 0;
	}
	pos += n;
	skip = n;
	for (i = 0; i < req->count; i++) {
		char *addr = req->buf[i].iov_base;
		size_t len = req->buf[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		addr += skip;
		len -= skip;
		skip = 0;
		while (len > 0) {
			n = write ? pwrite(fd, addr, len, pos) : pread(fd, addr, len, pos);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			addr += n;
			len -= n;
			pos += n;
		}
	}
	return 0;
}

static int gk_blk_request(struct lkl_disk disk, struct lkl_blk_req *req)
{
	int err;

	switch (req->type) {
	case LKL_DEV_BLK_TYPE_READ:
		err = gk_blk_rw(disk.fd, req, 0);
		break;
	case LKL_DEV_BLK_TYPE_WRITE:
		err = gk_blk_rw(disk.fd, req, 1);
		break;
	case LKL_DEV_BLK_TYPE_FLUSH:
	case LKL_DEV_BLK_TYPE_FLUSH_OUT:
		err = fdatasync(disk.fd);
		break;
	default:
		return LKL_DEV_BLK_STATUS_UNSUP;
	}
	return err < 0 ? LKL_DEV_BLK_STATUS_IOERR : LKL_DEV_BLK_STATUS_OK;
}

// gk_blk_ops is LKL's posix backend with gk_blk_request for requests.
static struct lkl_dev_blk_ops gk_blk_ops;

// gk_disk_add hands a host fd to LKL's virtio-blk driver, served by
// gk_blk_ops. lkl_disk_add copies the struct; it stores LKL's device in
// *dev, for gk_disk_remove.
int gk_disk_add(int fd, void **dev)
{
	struct lkl_disk disk;
	int id;

	gk_enter();
	gk_blk_ops.get_capacity = lkl_dev_blk_ops.get_capacity;
	gk_blk_ops.request = gk_blk_request;
	memset(&disk, 0, sizeof(disk));
	disk.fd = fd;
	disk.ops = &gk_blk_ops;
	id = lkl_disk_add(&disk);
	*dev = disk.dev;
	return id;
}

// A Go device (sys/lkl's godisk.go) is served by Go: its disk's handle is
// a cgo.Handle, and both operations call the functions godisk.go exports.
// LKL calls submit on the thread that notified the queue, with the
// kernel's CPU held; gkBlkSubmit hands the request to a goroutine and
// returns, and the goroutine calls lkl_blk_req_complete (LKL fix 15).
static int gk_go_blk_capacity(struct lkl_disk disk, unsigned long long *res)
{
	*res = gkBlkSize((uintptr_t)disk.handle);
	return 0;
}

static void gk_go_blk_submit(struct lkl_disk disk, struct lkl_blk_req *req)
{
	gkBlkSubmit((uintptr_t)disk.handle, req);
}

static struct lkl_dev_blk_ops gk_go_blk_ops = {
	.get_capacity = gk_go_blk_capacity,
	.submit = gk_go_blk_submit,
};

// gk_disk_add_go hands the Go device with handle h to LKL, as gk_disk_add
// does a host fd.
int gk_disk_add_go(uintptr_t h, void **dev)
{
	struct lkl_disk disk;
	int id;

	gk_enter();
	memset(&disk, 0, sizeof(disk));
	disk.handle = (void *)h;
	disk.ops = &gk_go_blk_ops;
	id = lkl_disk_add(&disk);
	*dev = disk.dev;
	return id;
}

// gk_disk_remove unbinds a disk's virtio device from the running kernel
// (through sysfs, which LKL mounts for it) and frees it; no request
// reaches the disk afterwards.
int gk_disk_remove(void *dev)
{
	struct lkl_disk disk;

	gk_enter();
	memset(&disk, 0, sizeof(disk));
	disk.dev = dev;
	return lkl_disk_remove(disk);
}

int gk_blkdev(int disk_id, unsigned int part, uint32_t *dev)
{
	gk_enter();
	return lkl_get_virtio_blkdev(disk_id, part, dev);
}

// gk_mount_fs mounts a pseudo file system at /<fstype> (lkl_mount_fs takes
// a non-const string).
int gk_mount_fs(const char *fstype)
{
	char buf[32];

	strncpy(buf, fstype, sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = 0;
	gk_enter();
	return lkl_mount_fs(buf);
}

long gk_halt(void)
{
	gk_enter();
	return lkl_sys_halt();
}

int gk_if_up(int ifindex)
{
	gk_enter();
	return lkl_if_up(ifindex);
}

// gk_netdev_add gives LKL a virtio-net device: on host fd fd (the guest end
// of a user network's socketpair) when ifname is NULL, else on TAP device
// ifname. It stores the host handle in *out for gk_netdev_free and returns
// LKL's device id, or a negative errno. lkl_netdev_add copies args.
int gk_netdev_add(int fd, const char *ifname, unsigned char *mac, unsigned int offload,
		  struct lkl_netdev **out)
{
	struct lkl_netdev_args args;
	struct lkl_netdev *nd;
	int id;

	gk_enter();
	if (ifname)
		nd = lkl_netdev_tap_create(ifname, offload);
	else
		nd = lkl_register_netdev_fd(fd);
	if (!nd)
		return ifname ? -LKL_ENODEV : -LKL_ENOMEM;
	memset(&args, 0, sizeof(args));
	args.mac = mac;
	args.offload = offload;
	id = lkl_netdev_add(nd, &args);
	if (id < 0) {
		lkl_netdev_free(nd);
		return id;
	}
	*out = nd;
	return id;
}

// gk_netdev_ifindex returns the interface index of device id.
int gk_netdev_ifindex(int id)
{
	gk_enter();
	return lkl_netdev_get_ifindex(id);
}

// gk_netdev_remove takes device id down and stops its host thread; the
// kernel is still running. gk_netdev_free, after halt, closes its fd. The
// interface goes down first: lkl_netdev_remove closes the device's wake-up
// pipe before it downs the interface, and a transmit in between writes to
// the closed pipe's fd number (seen as "virtio net fd pipe write: Bad file
// descriptor"), which by then may be another file's.
void gk_netdev_remove(int id)
{
	int ifindex;

	gk_enter();
	ifindex = lkl_netdev_get_ifindex(id);
	if (ifindex >= 0)
		lkl_if_down(ifindex);
	lkl_netdev_remove(id);
}

void gk_netdev_free(struct lkl_netdev *nd)
{
	lkl_netdev_free(nd);
}

// gk_if_config sets an interface's MTU (if mtu > 0) and IPv4 address (if
// masklen >= 0), as lkl-hijack does; addr is in network byte order.
int gk_if_config(int ifindex, int mtu, unsigned int addr, int masklen)
{
	int rc = 0;

	gk_enter();
	if (mtu > 0)
		rc = lkl_if_set_mtu(ifindex, mtu);
	if (rc == 0 && masklen >= 0)
		rc = lkl_if_set_ipv4(ifindex, addr, masklen);
	return rc;
}

int gk_if_set_ipv6(int ifindex, void *addr, int masklen)
{
	gk_enter();
	return lkl_if_set_ipv6(ifindex, addr, masklen);
}

int gk_set_gateway(int af, void *addr)
{
	gk_enter();
	if (af == LKL_AF_INET6)
		return lkl_set_ipv6_gateway(addr);
	return lkl_set_ipv4_gateway(*(unsigned int *)addr);
}

int gk_add_neighbor(int ifindex, int af, void *addr, void *mac)
{
	gk_enter();
	return lkl_add_neighbor(ifindex, af, addr, mac);
}
