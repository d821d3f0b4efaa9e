//go:build lkl

// C helpers between Go and liblkl. Each is a few lines; the comments say why
// it is in C.
#include <string.h>
#include <unistd.h>
#include <lkl.h>
#include <lkl_host.h>
#include "gk.h"

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

// gk_start boots the kernel; lkl_start_kernel is variadic, which cgo
// cannot call.
int gk_start(unsigned long mem, const char *cmdline, int debug)
{
	lkl_host_ops.print = debug ? gk_print_stderr : NULL;
	return lkl_start_kernel(&lkl_host_ops, mem, "%s", cmdline);
}

// gk_disk_add hands a host fd to LKL's virtio-blk driver, which serves it
// with preadv/pwritev. lkl_disk_add copies the struct.
int gk_disk_add(int fd)
{
	struct lkl_disk disk;

	memset(&disk, 0, sizeof(disk));
	disk.fd = fd;
	return lkl_disk_add(&disk);
}

int gk_blkdev(int disk_id, unsigned int part, uint32_t *dev)
{
	return lkl_get_virtio_blkdev(disk_id, part, dev);
}

// gk_mount_fs mounts a pseudo file system at /<fstype> (lkl_mount_fs takes
// a non-const string).
int gk_mount_fs(const char *fstype)
{
	char buf[32];

	strncpy(buf, fstype, sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = 0;
	return lkl_mount_fs(buf);
}

long gk_halt(void)
{
	return lkl_sys_halt();
}
