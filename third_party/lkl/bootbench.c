//go:build ignore

// (The line above keeps the Go package of this directory, recipe.go, from
// compiling this C program: it is built by "make -C third_party/lkl bootbench".)

/*
 * bootbench: time one LKL boot and halt (ours, not kernel code).
 *
 * An LKL kernel can be started only once per process, so every run is a
 * separate process; `make -C third_party/lkl bootbench` runs it N times and
 * prints median/min/max.
 *
 *   bootbench           quiet boot (lkl_host_ops.print = NULL), one line:
 *                       "boot_ms=… halt_ms=… pid=…"
 *   bootbench -v [CMD]  print the kernel log (default command line
 *                       "loglevel=8 initcall_debug") to find slow initcalls
 *
 * Build: gcc bootbench.c -I.build/lkl/include .build/lkl/lib/liblkl.a \
 *            -lpthread -lrt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lkl.h>
#include <lkl_host.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *cmdline = "";
	double t0, t1, t2;
	long ret, pid;
	int verbose = 0;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		cmdline = argc > 2 ? argv[2] : "loglevel=8 initcall_debug";
	} else if (argc > 1) {
		fprintf(stderr, "usage: %s [-v [cmdline]]\n", argv[0]);
		return 2;
	}
	if (!verbose)
		lkl_host_ops.print = NULL;

	t0 = now_ms();
	/* 4.9 API: ops, memory size in bytes, printf-style command line. */
	ret = lkl_start_kernel(&lkl_host_ops, 64UL << 20, "%s", cmdline);
	if (ret < 0) {
		fprintf(stderr, "lkl_start_kernel: %s\n", lkl_strerror(ret));
		return 1;
	}
	pid = lkl_sys_getpid();
	t1 = now_ms();

	ret = lkl_sys_halt();
	t2 = now_ms();
	if (ret < 0) {
		fprintf(stderr, "lkl_sys_halt: %s\n", lkl_strerror(ret));
		return 1;
	}

	printf("boot_ms=%.3f halt_ms=%.3f pid=%ld\n", t1 - t0, t2 - t1, pid);
	return 0;
}
