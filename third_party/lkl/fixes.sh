#!/usr/bin/env bash
# Small build-time edits to the Linux 4.9 tree shipped by npm lkl@1.0.3.
# Usage: fixes.sh LINUX_TREE   (a fresh, throw-away copy; nothing is committed)
#
# Every edit is checked afterwards: if the tree ever changes so that an edit
# no longer applies, the build stops here instead of silently skipping it.
set -euo pipefail

tree=${1:?usage: fixes.sh LINUX_TREE}
cd "$tree"

die() { echo "lkl: fixes.sh: $*" >&2; exit 1; }
# has FILE STRING: fail unless FILE contains STRING (fixed string)
has() { grep -qF -- "$2" "$1" || die "edit did not apply to $1 (missing: $2)"; }
# hasnt FILE STRING: fail if FILE still contains STRING
hasnt() { ! grep -qF -- "$2" "$1" || die "edit did not apply to $1 (still has: $2)"; }

# 1. tools/lkl/lib/virtio_net_raw.c does not compile with current glibc /
#    kernel uapi headers (<linux/if_packet.h> and LKL's prefixed headers both
#    define __swab16p & co.). We don't use the raw-socket netdev
#    (lkl_netdev_raw_create), so leave it out of liblkl.a.
sed -i '/virtio_net_raw\.o/d' tools/lkl/lib/Build
hasnt tools/lkl/lib/Build virtio_net_raw

# 2. GNU make 4.3 no longer strips the backslash from '\#' inside function
#    calls, so the tools build writes '\# …' lines into .cmd files and the next
#    make in that tree dies with "missing separator"; the kernel's make-cmd has
#    the same bug. Same fix as upstream Linux commit 9564a8cf422d: spell '#' as
#    $(pound). (We also always build in a fresh tree.)
for f in tools/build/Build.include scripts/Kbuild.include; do
	sed -i -e "/^squote  := '\$/a pound   := \\\\#" \
	       -e 's/\$(subst \\#,\\\\\\#,/$(subst $(pound),$$(pound),/' \
	       -e "s/printf '\\\\# /printf '\$(pound) /" "$f"
	has "$f" 'pound   := \#'
	has "$f" '$(subst $(pound),$$(pound),'
	hasnt "$f" "printf '\\#"
done

# 3. The header installer is "#!/usr/bin/env python"; Debian 12 only has
#    python3 (and the script is python3-clean).
sed -i '1s|^#!/usr/bin/env python$|#!/usr/bin/env python3|' arch/lkl/scripts/headers_install.py
has arch/lkl/scripts/headers_install.py '#!/usr/bin/env python3'

# 4. Our own Kconfig switches (turned on in gokernel.config, checked in .config).
cat >> arch/lkl/Kconfig <<'EOF'

config GOKERNEL_FAST_BOOT
	bool "gokernel: skip the raid6 boot benchmark and per-IRQ /proc entries"
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.

config GOKERNEL_FAST_HALT
	bool "gokernel: wake all kernel threads at once when halting"
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.

config GOKERNEL_HOST_MEMFUNCS
	bool "gokernel: use the host C library's memcpy/memset/memmove"
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.

config GOKERNEL_NULL_PAGE_EFAULT
	bool "gokernel: user pointers into the first page are EFAULT"
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.

config GOKERNEL_FAST_GETNAME
	bool "gokernel: host strncpy/strnlen; strncpy_from_user is strnlen + memcpy"
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.

config GOKERNEL_RUN_WOKEN
	bool "gokernel: a host thread leaving LKL runs the tasks it woke"
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.

config GOKERNEL_HW_CRC32C
	bool "gokernel: crc32c with the host CPU's crc32 instruction (x86-64 SSE4.2)"
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.

config GOKERNEL_REMOTE_USER
	bool "gokernel: lkl_syscall_remote, user memory in another host process"
	depends on GOKERNEL_FAST_GETNAME
	default n
	help
	  Added at build time by gokernel's third_party/lkl/fixes.sh.
EOF

# 5. Fast boot, part 1: btrfs pulls in lib/raid6, whose initcall
#    raid6_select_algo() benchmarks every gen()/xor() implementation for
#    16 jiffies each (HZ=100: 8 x 160 ms = ~1.3 s of a 1.4 s boot). With
#    CONFIG_GOKERNEL_FAST_BOOT take the last valid algorithm instead (4.9 lists
#    them slowest first: int64x1 … int64x8 on LKL) - what later kernels do
#    without CONFIG_RAID6_PQ_BENCHMARK. RAID5/6 parity speed is irrelevant to
#    us. (crypto/xor.c needs nothing: LKL's asm/xor.h already picks 8regs via
#    XOR_SELECT_TEMPLATE, so calibrate_xor_blocks() does not benchmark.)
sed -i '/if ((\*algo)->valid && !(\*algo)->valid())/{n;s|continue;|continue;\n#ifdef CONFIG_GOKERNEL_FAST_BOOT\n\t\t\tbest = *algo;\t/* gokernel: no benchmark */\n\t\t\tcontinue;\n#endif|}' lib/raid6/algos.c
has lib/raid6/algos.c 'best = *algo;	/* gokernel: no benchmark */'

# 6. Fast boot, part 2: LKL gives every one of its 4096 IRQ descriptors a chip,
#    so init_irq_proc() makes /proc/irq/N (+ spurious) for all of them: ~20 ms.
#    Register only IRQs that have a handler; the rest get their entry from
#    __setup_irq() when requested (as the comment in register_irq_proc says).
sed -i 's|^\t\tregister_irq_proc(irq, desc);$|#ifdef CONFIG_GOKERNEL_FAST_BOOT\n\t\tif (desc->action)\t/* gokernel: others on request */\n#endif\n\t\tregister_irq_proc(irq, desc);|' kernel/irq/proc.c
has kernel/irq/proc.c 'if (desc->action)	/* gokernel: others on request */'

# 7. lib/string.c's memcpy/memset/memmove are byte-at-a-time loops (LKL 4.9 has
#    no arch versions): they were half of all boot CPU time (zeroing idr/kernfs
#    allocations) and they bound every copy the kernel does. With
#    CONFIG_GOKERNEL_HOST_MEMFUNCS declare them as arch functions and leave
#    them undefined in lkl.o, so the final link resolves them to the host C
#    library (lkl.o already calls host functions such as lkl_printf). Later
#    LKL versions do the same through lkl_host_ops.memcpy/memset.
sed -i '/^generic-y += string\.h$/d' arch/lkl/include/asm/Kbuild
hasnt arch/lkl/include/asm/Kbuild 'generic-y += string.h'
cat > arch/lkl/include/asm/string.h <<'EOF'
#ifndef _ASM_LKL_STRING_H
#define _ASM_LKL_STRING_H
/* Written at build time by gokernel's third_party/lkl/fixes.sh. */
#ifdef CONFIG_GOKERNEL_HOST_MEMFUNCS
#define __HAVE_ARCH_MEMCPY
#define __HAVE_ARCH_MEMSET
#define __HAVE_ARCH_MEMMOVE
extern void *memcpy(void *, const void *, __kernel_size_t);
extern void *memset(void *, int, __kernel_size_t);
extern void *memmove(void *, const void *, __kernel_size_t);
#endif
#endif
EOF

# 8. lkl_host.h declares its own struct iovec unless CONFIG_AUTO_LKL_POSIX_HOST
#    is defined (the tools build passes -D…), so any program that includes it
#    after a libc header such as <fcntl.h> fails with "redefinition of struct
#    iovec". On Linux always use <sys/uio.h>.
sed -i 's|^#ifdef CONFIG_AUTO_LKL_POSIX_HOST$|#if defined(CONFIG_AUTO_LKL_POSIX_HOST) \|\| defined(__linux__)|' tools/lkl/include/lkl_host.h
has tools/lkl/include/lkl_host.h '#if defined(CONFIG_AUTO_LKL_POSIX_HOST) || defined(__linux__)'

# 9. Fast halt: lkl_sys_halt() spends almost all its time (~1.7 ms, and 15+ ms
#    when the host is busy) in threads_cleanup(), which wakes one kernel thread,
#    waits for it to exit (pthread_join) and only then wakes the next. With
#    CONFIG_GOKERNEL_FAST_HALT, first mark every kernel thread dead and wake it,
#    so they all exit in parallel; the unchanged loop then only joins them (its
#    second sem_up on an exiting thread is harmless). A woken dead thread only
#    calls lkl_ops->thread_exit() (see __switch_to), touching no kernel state.
sed -i 's|^\tfor_each_process_thread(p, t) {$|#ifdef CONFIG_GOKERNEL_FAST_HALT\n\tfor_each_process_thread(p, t) {\t/* gokernel: wake all first */\n\t\tif (!test_ti_thread_flag(task_thread_info(t), TIF_HOST_THREAD)) {\n\t\t\ttask_thread_info(t)->dead = true;\n\t\t\tlkl_ops->sem_up(task_thread_info(t)->sched_sem);\n\t\t}\n\t}\n#endif\n&|' arch/lkl/kernel/threads.c
has arch/lkl/kernel/threads.c 'for_each_process_thread(p, t) {	/* gokernel: wake all first */'

# 10. LKL has no MMU, so asm-generic's access_ok() accepts every address and
#     copy_{from,to}_user() is a plain memcpy: a system call given a NULL
#     buffer (stat(path, NULL), read(fd, NULL, n)) crashes the whole process
#     instead of failing with EFAULT as Linux does. With
#     CONFIG_GOKERNEL_NULL_PAGE_EFAULT, access_ok() refuses a non-empty range
#     that starts in the first page. Kernel pointers (LKL's own set_fs
#     callers) never point there. Other bad pointers still crash: there is no
#     MMU to tell.
perl -0pi -e 's|(static inline int __access_ok\(unsigned long addr, unsigned long size\)\n\{\n)(\treturn 1;\n)|$1#ifdef CONFIG_GOKERNEL_NULL_PAGE_EFAULT\n\tif (size \&\& addr < 4096)\t/* gokernel: NULL page is EFAULT */\n\t\treturn 0;\n#endif\n$2|' include/asm-generic/uaccess.h
has include/asm-generic/uaccess.h 'if (size && addr < 4096)	/* gokernel: NULL page is EFAULT */'

# 11. Every path argument (getname_flags: strncpy_from_user(kname, filename,
#     EMBEDDED_NAME_MAX)) goes through asm-generic's __strncpy_from_user:
#     lib/string.c's byte-at-a-time strncpy over the whole ~4 KiB names buffer
#     (strncpy zero-fills up to the count), then a loop that counts the bytes.
#     That is ~16 us per path call, 61% of the CPU of an open+close walk
#     (arch/lkl does not select GENERIC_STRNCPY_FROM_USER). With
#     CONFIG_GOKERNEL_FAST_GETNAME:
#     - strncpy and strnlen become arch functions resolved to the host C
#       library, as memcpy & co. in fix 7 (the same C semantics: strncpy pads
#       with NULs up to the count, strnlen stops at the count);
#     - arch/lkl gets its own asm/uaccess.h (instead of generic-y) that defines
#       __strncpy_from_user as strnlen + memcpy of the string and its NUL and
#       then includes asm-generic/uaccess.h, whose "#ifndef
#       __strncpy_from_user" keeps ours. It returns what asm-generic's returns,
#       the kernel's strncpy_from_user contract: the length without the NUL if
#       a NUL lies within count bytes (dst is then NUL-terminated), else count
#       (dst holds count bytes, unterminated: getname's ENAMETOOLONG case).
#       Only the zero fill after the NUL is gone; lib/strncpy_from_user.c
#       (x86 & co.) does not fill either, so no caller relies on it.
#       access_ok() and its EFAULT (fix 10) stay in asm-generic's
#       strncpy_from_user(); with no MMU there is no fault to catch in the copy.
sed -i '/^generic-y += uaccess\.h$/d' arch/lkl/include/asm/Kbuild
hasnt arch/lkl/include/asm/Kbuild 'generic-y += uaccess.h'
[ ! -e arch/lkl/include/asm/uaccess.h ] || die "arch/lkl/include/asm/uaccess.h already exists"
cat > arch/lkl/include/asm/uaccess.h <<'EOF'
#ifndef _ASM_LKL_UACCESS_H
#define _ASM_LKL_UACCESS_H
/* Written at build time by gokernel's third_party/lkl/fixes.sh (fix 11). */
#ifdef CONFIG_GOKERNEL_FAST_GETNAME
#include <linux/compiler.h>
#include <linux/string.h>
#define __strncpy_from_user __strncpy_from_user
static inline long
__strncpy_from_user(char *dst, const char __user *src, long count)
{
	long n;

	if (count <= 0)
		return 0;
	n = strnlen((const char __force *)src, count);
	memcpy(dst, (const char __force *)src, n < count ? n + 1 : n);
	return n;
}
#endif
#include <asm-generic/uaccess.h>
#endif
EOF
perl -0pi -e 's|(extern void \*memmove\(void \*, const void \*, __kernel_size_t\);\n#endif\n)|$1#ifdef CONFIG_GOKERNEL_FAST_GETNAME\t/* fix 11 */\n#define __HAVE_ARCH_STRNCPY\n#define __HAVE_ARCH_STRNLEN\nextern char *strncpy(char *, const char *, __kernel_size_t);\nextern __kernel_size_t strnlen(const char *, __kernel_size_t);\n#endif\n|' arch/lkl/include/asm/string.h
has arch/lkl/include/asm/string.h 'extern __kernel_size_t strnlen(const char *, __kernel_size_t);'
has include/asm-generic/uaccess.h '#ifndef __strncpy_from_user'

# 12. A system call that wakes another task (a write to an eventfd or a socket
#     that another thread's epoll_wait or read sleeps on) leaves it runnable,
#     but when the caller leaves LKL, lkl_cpu_put() only schedules if
#     need_resched() is set, and CFS does not always set it on a wakeup. The
#     woken task then waits for the next timer tick (up to 10 ms), or for
#     ever when no timer is pending: a blocked epoll_wait missed an eventfd
#     wake, and Halt found calls still blocked. With CONFIG_GOKERNEL_RUN_WOKEN,
#     a host task leaving LKL while other tasks are runnable schedules too
#     (as later LKL versions do), so the woken task runs at once and the
#     caller still returns without waiting (thread_sched_jb jumps back).
sed -i 's|^\tif (need_resched() && cpu.count == 1) {$|#ifdef CONFIG_GOKERNEL_RUN_WOKEN\n\tif ((need_resched() \|\| (test_thread_flag(TIF_HOST_THREAD) \&\& !single_task_running())) \&\& cpu.count == 1) {\t/* gokernel: run woken tasks */\n#else\n&\n#endif|' arch/lkl/kernel/cpu.c
has arch/lkl/kernel/cpu.c '!single_task_running())) && cpu.count == 1) {	/* gokernel: run woken tasks */'

# 13. ext4 checksums every inode, directory block, bitmap and group descriptor
#     with crc32c (metadata_csum, mke2fs's default). LKL has no arch crypto, so
#     that is lib/crc32.c's table-driven __crc32c_le: 6% of the CPU of
#     cp-out's walker on a 20,000-file tree, mostly ext4_inode_csum in
#     ext4_iget. With CONFIG_GOKERNEL_HW_CRC32C, on an x86-64 host whose CPU
#     has SSE4.2 (cpuid leaf 1, ECX bit 20, checked once), __crc32c_le uses
#     the crc32 instruction, 8 bytes at a time: what x86's crc32c-intel
#     driver does, with the same contract (no pre- or post-inversion; the
#     callers do that). Other CPUs keep the table.
perl -0pi -e 's|(u32 __pure __crc32c_le\(u32 crc, unsigned char const \*p, size_t len\)\n\{\n)(\treturn crc32_le_generic\(crc, p, len,\n\t\t\t\(const u32 \(\*\)\[256\]\)crc32ctable_le, CRC32C_POLY_LE\);\n)|#if defined(CONFIG_GOKERNEL_HW_CRC32C) \&\& defined(__x86_64__)\t/* gokernel: fix 13 */\nstatic int gk_crc32_insn = -1;\n\nstatic int gk_have_crc32_insn(void)\n{\n\tif (gk_crc32_insn < 0) {\n\t\tunsigned int a = 1, b, c = 0, d;\n\n\t\tasm volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));\n\t\tgk_crc32_insn = (c >> 20) \& 1;\n\t}\n\treturn gk_crc32_insn;\n}\n\nstatic u32 gk_crc32c_hw(u32 crc, unsigned char const *p, size_t len)\n{\n\tu64 c = crc;\n\tu32 c32;\n\n\tfor (; len >= 8; p += 8, len -= 8) {\n\t\tu64 v;\n\n\t\t__builtin_memcpy(\&v, p, 8);\n\t\tasm("crc32q %1, %0" : "+r"(c) : "rm"(v));\n\t}\n\tc32 = (u32)c;\n\tfor (; len > 0; p++, len--)\n\t\tasm("crc32b %1, %0" : "+r"(c32) : "rm"(*p));\n\treturn c32;\n}\n#endif\n$1#if defined(CONFIG_GOKERNEL_HW_CRC32C) \&\& defined(__x86_64__)\n\tif (gk_have_crc32_insn())\n\t\treturn gk_crc32c_hw(crc, p, len);\n#endif\n$2|' lib/crc32.c
has lib/crc32.c 'return gk_crc32c_hw(crc, p, len);'


# 14. LKL's virtio-blk device (tools/lkl/lib/virtio_blk.c) offers no features,
#     so the guest driver allows one data segment per request (virtio_blk.c:
#     sg_elems = 1 without VIRTIO_BLK_F_SEG_MAX): the pages of a readahead
#     or writeback share a request only where they happen to be adjacent in
#     memory (reading a 1 GiB file took 66,528 requests, 16 KiB on average,
#     each one pread per segment on the host). Offer SEG_MAX with 16
#     segments: the host side takes at most
#     VIRTIO_REQ_MAX_BUFS (MAX_SKB_FRAGS + 2 = 19 with 4 KiB pages) buffers
#     per request, a header and a status among them, and panics on more.
#     gokernel's backend (sys/lkl/gk.c, gk_blk_rw) moves a request's
#     segments with one preadv or pwritev. (Host-library code: no Kconfig
#     switch.)
perl -0pi -e 's|(\tdev->dev.device_features = 0;\n)|$1\tdev->dev.device_features \|= 1ULL << LKL_VIRTIO_BLK_F_SEG_MAX;\t/* gokernel: fix 14 */\n\tdev->config.seg_max = 16;\n|' tools/lkl/lib/virtio_blk.c
has tools/lkl/lib/virtio_blk.c '1ULL << LKL_VIRTIO_BLK_F_SEG_MAX;	/* gokernel: fix 14 */'
has tools/lkl/lib/virtio.h '#define VIRTIO_REQ_MAX_BUFS	(MAX_SKB_FRAGS + 2)'
has tools/lkl/lib/virtio.h '#define MAX_SKB_FRAGS (65536/PAGE_SIZE + 1)'

# 15. Asynchronous virtio-blk requests. LKL's device (tools/lkl/lib/virtio.c,
#     virtio_blk.c) serves a request inside the guest's queue notification:
#     virtio_process_one keeps it on its stack, blk_enqueue calls the
#     backend's request() and completes it when that returns, and
#     virtio_req_complete advances last_avail_idx and the used ring in order.
#     So one request is outstanding in the whole kernel and the thread that
#     kicked the queue, holding the kernel's only CPU, waits for it: a disk
#     served over HTTP stops every system call for one round trip per
#     request, and the kernel's several readahead requests are served one
#     after another. This fix lets a backend take a request and complete it
#     later from any host thread, as virtio allows (the used ring names each
#     finished descriptor, so completions may come in any order):
#     - lkl_dev_blk_ops gains submit(), used instead of request() when set;
#       the backend calls lkl_blk_req_complete(req, status) exactly once,
#       from any thread, and may have many requests outstanding;
#     - blk_enqueue copies such a request to the heap (virtio_req_detach:
#       the request with its iovecs, marked detached; last_avail_idx moves
#       past it at once, so the queue loop goes on to the next request);
#     - virtio_req_complete takes a per-device lock (recursive: the IRQ it
#       raises may run inline on the completing thread) around the used
#       ring, used idx and last_used_idx_signaled, raises the IRQ inside it
#       (the device cannot be freed under it), leaves last_avail_idx alone
#       for a detached request, and frees it; int_status is or-ed
#       atomically (a completing thread races the guest's ACK);
#     - the queue has 128 entries instead of 32: without indirect
#       descriptors a 16-segment request takes 18 of them, so 32 allowed
#       one large request in flight (the guest's queue depth is half the
#       ring).
#     Raising the IRQ from a host thread that is not in LKL is what the
#     netdev poll threads already do (lkl_trigger_irq runs it at once if the
#     CPU is free, else marks it pending for the CPU's holder). Backends
#     without submit() (gokernel's host-file preadv path) are unchanged.
#     Host-library code: no Kconfig switch. Test: sys/lkl's
#     TestGoDiskConcurrentRequests (a device whose reads sleep: the reads of
#     8 goroutines overlap inside it).
perl -0pi -e 's|(\tint \(\*request\)\(struct lkl_disk disk, struct lkl_blk_req \*req\);\n)\};\n|$1\t/**\n\t * \@submit: issue a block request that completes later (gokernel fix 15)\n\t *\n\t * Used instead of \@request when set. The device calls\n\t * lkl_blk_req_complete(req, status) exactly once, from any host thread\n\t * (possibly before submit returns); until then \@req and its buffers\n\t * stay valid. Several requests may be outstanding and complete in any\n\t * order.\n\t */\n\tvoid (*submit)(struct lkl_disk disk, struct lkl_blk_req *req);\n};\n\n/* gokernel fix 15: complete a request given to lkl_dev_blk_ops.submit. */\nvoid lkl_blk_req_complete(struct lkl_blk_req *req, int status);\n|' tools/lkl/include/lkl_host.h
has tools/lkl/include/lkl_host.h 'void lkl_blk_req_complete(struct lkl_blk_req *req, int status);'
perl -0pi -e 's|(\tuint32_t virtio_mmio_id;\n)\};|$1\tstruct lkl_mutex *lock;\t/* gokernel fix 15: guards the used rings */\n};|; s|(void virtio_req_complete\(struct virtio_req \*req, uint32_t len\);\n)|$1/* gokernel fix 15: copy a request to be completed after enqueue returns. */\nstruct virtio_req *virtio_req_detach(struct virtio_req *req);\n|' tools/lkl/lib/virtio.h
has tools/lkl/lib/virtio.h 'struct lkl_mutex *lock;	/* gokernel fix 15: guards the used rings */'
has tools/lkl/lib/virtio.h 'struct virtio_req *virtio_req_detach(struct virtio_req *req);'
perl -0pi -e '
s|(\tuint16_t idx;\n)\};|$1\tint detached;\t/* gokernel fix 15 */\n};|;
s{\tdev->int_status \|= VIRTIO_MMIO_INT_VRING;}{\t__sync_fetch_and_or(&dev->int_status, VIRTIO_MMIO_INT_VRING);\t/* gokernel fix 15 */};
s|\tuint16_t used_idx = virtio_get_used_idx\(_req->q\);\n\tint i;\n|\tuint16_t used_idx;\n\tint i;\n\n\tlkl_host_ops.mutex_lock(_req->dev->lock);\t/* gokernel fix 15 */\n\tused_idx = virtio_get_used_idx(q);\n|;
s|\tq->last_avail_idx = avail_idx;\n(\n\t/\*\n\t \* Triggers the irq)|\tif (!_req->detached)\t/* gokernel fix 15: it moved on at detach */\n\t\tq->last_avail_idx = avail_idx;\n$1|;
s|(\t\tq->last_used_idx_signaled = virtio_get_used_idx\(q\);\n\t\tvirtio_deliver_irq\(_req->dev\);\n\t\}\n)\}\n|$1\tlkl_host_ops.mutex_unlock(_req->dev->lock);\n\tif (_req->detached)\n\t\tlkl_host_ops.mem_free(_req);\n}\n\n/*\n * gokernel fix 15: virtio_req_detach copies a request that its device will\n * complete after enqueue has returned, from any thread, and moves the queue\n * past it. Only for queues without mergeable buffers (one avail entry per\n * request). Returns NULL if out of memory.\n */\nstruct virtio_req *virtio_req_detach(struct virtio_req *req)\n{\n\tstruct _virtio_req *_req = container_of(req, struct _virtio_req, req);\n\tstruct _virtio_req *d;\n\n\tif (_req->q->max_merge_len)\n\t\treturn NULL;\n\td = lkl_host_ops.mem_alloc(sizeof(*d));\n\tif (!d)\n\t\treturn NULL;\n\tmemcpy(d, _req, sizeof(*d));\n\td->detached = 1;\n\tlkl_host_ops.mutex_lock(_req->dev->lock);\n\t_req->q->last_avail_idx = _req->idx + 1;\n\tlkl_host_ops.mutex_unlock(_req->dev->lock);\n\treturn &d->req;\n}\n|;
s|(\tdev->queue = lkl_host_ops.mem_alloc\(qsize\);\n\tif \(!dev->queue\)\n\t\treturn -LKL_ENOMEM;\n)|\tdev->lock = lkl_host_ops.mutex_alloc(1);\t/* gokernel fix 15 */\n\tif (!dev->lock)\n\t\treturn -LKL_ENOMEM;\n$1|;
s|\tif \(!dev->queue\)\n\t\treturn -LKL_ENOMEM;\n|\tif (!dev->queue) {\n\t\tlkl_host_ops.mutex_free(dev->lock);\n\t\treturn -LKL_ENOMEM;\n\t}\n|;
s|(\t+)(lkl_host_ops\.mem_free\(dev->queue\);\n)|$1$2$1lkl_host_ops.mutex_free(dev->lock);\n|g;
' tools/lkl/lib/virtio.c
has tools/lkl/lib/virtio.c 'int detached;	/* gokernel fix 15 */'
has tools/lkl/lib/virtio.c '__sync_fetch_and_or(&dev->int_status, VIRTIO_MMIO_INT_VRING);	/* gokernel fix 15 */'
has tools/lkl/lib/virtio.c 'lkl_host_ops.mutex_lock(_req->dev->lock);	/* gokernel fix 15 */'
has tools/lkl/lib/virtio.c 'if (!_req->detached)	/* gokernel fix 15: it moved on at detach */'
has tools/lkl/lib/virtio.c 'struct virtio_req *virtio_req_detach(struct virtio_req *req)'
has tools/lkl/lib/virtio.c 'dev->lock = lkl_host_ops.mutex_alloc(1);	/* gokernel fix 15 */'
[ "$(grep -c 'lkl_host_ops.mutex_free(dev->lock);' tools/lkl/lib/virtio.c)" = 4 ] || die "fix 15: expected 4 mutex_free in virtio.c"
perl -0pi -e 's|(static int blk_check_features)|/* gokernel fix 15: a request handed to lkl_dev_blk_ops.submit. */\nstruct blk_async_req {\n\tstruct lkl_blk_req req;\n\tstruct virtio_req *vreq;\n\tuint8_t *status;\n};\n\nvoid lkl_blk_req_complete(struct lkl_blk_req *req, int status)\n{\n\tstruct blk_async_req *a = container_of(req, struct blk_async_req, req);\n\n\t*a->status = status;\n\tvirtio_req_complete(a->vreq, 0);\n\tlkl_host_ops.mem_free(a);\n}\n\n$1|; s|(\tlkl_req.count = req->buf_count - 2;\n)|$1\n\tif (blk_dev->ops->submit) {\t/* gokernel fix 15 */\n\t\tstruct blk_async_req *a = lkl_host_ops.mem_alloc(sizeof(*a));\n\t\tstruct virtio_req *d = a ? virtio_req_detach(req) : NULL;\n\n\t\tif (!d) {\n\t\t\tif (a)\n\t\t\t\tlkl_host_ops.mem_free(a);\n\t\t\tgoto out;\n\t\t}\n\t\ta->req = lkl_req;\n\t\ta->req.buf = &d->buf[1];\n\t\ta->vreq = d;\n\t\ta->status = &t->status;\n\t\tblk_dev->ops->submit(blk_dev->disk, &a->req);\n\t\treturn 0;\n\t}\n|; s|ret = virtio_dev_setup\(&dev->dev, 1, 32\);|ret = virtio_dev_setup(&dev->dev, 1, 128);\t/* gokernel fix 15 */|' tools/lkl/lib/virtio_blk.c
has tools/lkl/lib/virtio_blk.c 'void lkl_blk_req_complete(struct lkl_blk_req *req, int status)'
has tools/lkl/lib/virtio_blk.c 'if (blk_dev->ops->submit) {	/* gokernel fix 15 */'
has tools/lkl/lib/virtio_blk.c 'ret = virtio_dev_setup(&dev->dev, 1, 128);	/* gokernel fix 15 */'

# 16. System calls on behalf of another host process. LKL has no MMU and no
#     user address space: a "user" pointer is an address in the calling
#     process, and copy_{from,to}_user are memcpy. A supervisor answering a
#     traced program's calls (seccomp user notification) or a parent whose
#     calls a sandboxed LKL child runs must otherwise copy every pointer
#     argument by hand, per call, nested ones (iovecs, msghdrs, ioctls)
#     included. With CONFIG_GOKERNEL_REMOTE_USER:
#     - lkl_syscall_remote(pid, no, params) is lkl_syscall with the calling
#       host thread's task marked for host process pid (thread_info gains
#       gk_remote_pid and gk_remote_err) and running with addr_limit
#       USER_DS; both are restored when the call returns, whatever it
#       returns. It is an LKL entry point (kept global in lkl.o). reboot is
#       refused (EPERM): a remote call cannot halt the kernel;
#     - the user-access primitives of arch/lkl's asm/uaccess.h (fix 11's
#       file): __copy_from_user, __copy_to_user (and so get_user, put_user,
#       the _inatomic forms and iov_iter's user iovecs), __strncpy_from_user,
#       __strnlen_user and __clear_user go, when gk_remote_pid is set and
#       the task is not inside set_fs(KERNEL_DS), to arch/lkl/kernel/
#       remote_user.c, which reads and writes that process's memory with the
#       host C library's process_vm_readv/process_vm_writev (undefined in
#       lkl.o, resolved at the final link as fix 7's memcpy). Kernel-space
#       accesses under set_fs(KERNEL_DS) stay plain copies; other tasks
#       (in-process calls, kernel threads) have gk_remote_pid 0;
#     - unreadable or unwritable remote memory is a short copy, so the call
#       fails with EFAULT as on Linux (access_ok's NULL page check of fix 10
#       still applies first). If the host refused the access itself (the
#       process is gone: ESRCH; not allowed to trace it: EPERM), a call that
#       failed with EFAULT returns that errno instead.
#     Paths are read a page at a time up to the NUL (never across a page
#     the string does not reach). Not covered: get_user_pages (O_DIRECT,
#     vmsplice), which LKL's no-MMU mm answers with local addresses.
#     Tests: sys/lkl's remote_lkl_test.go (lkl.Kernel.ForProcess).
perl -0pi -e 's|(\tunsigned long stackend;\n)|$1#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\n\tint gk_remote_pid;\t/* host process whose memory user pointers are in; 0: ours */\n\tint gk_remote_err;\t/* host errno of a refused remote access, or 0 */\n#endif\n|' arch/lkl/include/asm/thread_info.h
has arch/lkl/include/asm/thread_info.h 'int gk_remote_pid;	/* host process whose memory user pointers are in; 0: ours */'
perl -0pi -e 's|(\tti->tid = 0;\n)|$1#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\n\tti->gk_remote_pid = 0;\n\tti->gk_remote_err = 0;\n#endif\n|' arch/lkl/kernel/threads.c
has arch/lkl/kernel/threads.c 'ti->gk_remote_pid = 0;'
perl -0pi -e 's|(#include <linux/string.h>\n)(#define __strncpy_from_user __strncpy_from_user\n)|$1#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\n#include <linux/thread_info.h>\n\n/* arch/lkl/kernel/remote_user.c: the same contracts as the primitives below. */\nunsigned long gk_remote_copy_from_user(void *to, const void __user *from, unsigned long n);\nunsigned long gk_remote_copy_to_user(void __user *to, const void *from, unsigned long n);\nlong gk_remote_strncpy_from_user(char *dst, const char __user *src, long count);\nlong gk_remote_strnlen_user(const char __user *src, long n);\nunsigned long gk_remote_clear_user(void __user *to, unsigned long n);\n\n/*\n * A user access goes to host process gk_remote_pid when the task runs a\n * call for it (lkl_syscall_remote) and is not inside set_fs(KERNEL_DS).\n */\nstatic inline int gk_remote_user(void)\n{\n\tstruct thread_info *ti = current_thread_info();\n\n\treturn unlikely(ti->gk_remote_pid != 0) \&\& ti->addr_limit.seg != ~0UL;\n}\n\n#define __copy_from_user __copy_from_user\nstatic inline __must_check long __copy_from_user(void *to,\n\t\tconst void __user *from, unsigned long n)\n{\n\tif (gk_remote_user())\n\t\treturn gk_remote_copy_from_user(to, from, n);\n\tif (__builtin_constant_p(n)) {\n\t\tswitch (n) {\n\t\tcase 1: *(u8 *)to = *(u8 __force *)from; return 0;\n\t\tcase 2: *(u16 *)to = *(u16 __force *)from; return 0;\n\t\tcase 4: *(u32 *)to = *(u32 __force *)from; return 0;\n\t\tcase 8: *(u64 *)to = *(u64 __force *)from; return 0;\n\t\t}\n\t}\n\tmemcpy(to, (const void __force *)from, n);\n\treturn 0;\n}\n\n#define __copy_to_user __copy_to_user\nstatic inline __must_check long __copy_to_user(void __user *to,\n\t\tconst void *from, unsigned long n)\n{\n\tif (gk_remote_user())\n\t\treturn gk_remote_copy_to_user(to, from, n);\n\tif (__builtin_constant_p(n)) {\n\t\tswitch (n) {\n\t\tcase 1: *(u8 __force *)to = *(u8 *)from; return 0;\n\t\tcase 2: *(u16 __force *)to = *(u16 *)from; return 0;\n\t\tcase 4: *(u32 __force *)to = *(u32 *)from; return 0;\n\t\tcase 8: *(u64 __force *)to = *(u64 *)from; return 0;\n\t\t}\n\t}\n\tmemcpy((void __force *)to, from, n);\n\treturn 0;\n}\n\n#define __strnlen_user __strnlen_user\nstatic inline long __strnlen_user(const char __user *src, long n)\n{\n\tif (gk_remote_user())\n\t\treturn gk_remote_strnlen_user(src, n);\n\treturn strnlen((const char __force *)src, n) + 1;\n}\n\n#define __clear_user __clear_user\nstatic inline __must_check unsigned long\n__clear_user(void __user *to, unsigned long n)\n{\n\tif (gk_remote_user())\n\t\treturn gk_remote_clear_user(to, n);\n\tmemset((void __force *)to, 0, n);\n\treturn 0;\n}\n#endif\n$2|; s|(\tif \(count <= 0\)\n\t\treturn 0;\n)(\tn = strnlen)|$1#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\n\tif (gk_remote_user())\n\t\treturn gk_remote_strncpy_from_user(dst, src, count);\n#endif\n$2|' arch/lkl/include/asm/uaccess.h
has arch/lkl/include/asm/uaccess.h 'static inline int gk_remote_user(void)'
has arch/lkl/include/asm/uaccess.h 'return gk_remote_strncpy_from_user(dst, src, count);'
for m in __copy_from_user __copy_to_user __strnlen_user __clear_user; do
	has include/asm-generic/uaccess.h "#ifndef $m"
done
[ ! -e arch/lkl/kernel/remote_user.c ] || die "arch/lkl/kernel/remote_user.c already exists"
cat > arch/lkl/kernel/remote_user.c <<'EOC'
/*
 * Written at build time by gokernel's third_party/lkl/fixes.sh (fix 16):
 * user memory of another host process, for lkl_syscall_remote.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <asm/page.h>

/*
 * The host C library's (undefined in lkl.o, resolved at the final link as
 * memcpy in fix 7): process_vm_readv/process_vm_writev with the layout of
 * struct iovec, and errno.
 */
struct gk_host_iovec {
	void *base;
	unsigned long len;
};
extern long process_vm_readv(int pid, const struct gk_host_iovec *local,
			     unsigned long liovcnt,
			     const struct gk_host_iovec *remote,
			     unsigned long riovcnt, unsigned long flags);
extern long process_vm_writev(int pid, const struct gk_host_iovec *local,
			      unsigned long liovcnt,
			      const struct gk_host_iovec *remote,
			      unsigned long riovcnt, unsigned long flags);
extern int *__errno_location(void);

/*
 * gk_remote_rw moves n bytes between local and address addr of the current
 * task's remote process and returns how many it moved: fewer where the
 * remote memory ends (EFAULT). A refusal by the host for another reason
 * (ESRCH: the process is gone; EPERM: not allowed) is kept in
 * gk_remote_err for lkl_syscall_remote.
 */
static unsigned long gk_remote_rw(int write, void *local, unsigned long addr,
				  unsigned long n)
{
	struct thread_info *ti = current_thread_info();
	unsigned long done = 0;

	while (done < n) {
		struct gk_host_iovec l = { (char *)local + done, n - done };
		struct gk_host_iovec r = { (void *)(addr + done), n - done };
		long got;

		if (write)
			got = process_vm_writev(ti->gk_remote_pid, &l, 1, &r, 1, 0);
		else
			got = process_vm_readv(ti->gk_remote_pid, &l, 1, &r, 1, 0);
		if (got <= 0) {
			int e = got < 0 ? *__errno_location() : 0;

			if (e && e != EFAULT)
				ti->gk_remote_err = e;
			break;
		}
		done += got;
	}
	return done;
}

unsigned long gk_remote_copy_from_user(void *to, const void __user *from,
				       unsigned long n)
{
	return n - gk_remote_rw(0, to, (unsigned long)from, n);
}

unsigned long gk_remote_copy_to_user(void __user *to, const void *from,
				     unsigned long n)
{
	return n - gk_remote_rw(1, (void *)from, (unsigned long)to, n);
}

/* The bytes from addr to the end of its page, at most max. */
static unsigned long gk_page_rest(unsigned long addr, unsigned long max)
{
	unsigned long rest = PAGE_SIZE - (addr & (PAGE_SIZE - 1));

	return rest < max ? rest : max;
}

/*
 * The contract of fix 11's __strncpy_from_user: the length without the NUL
 * if a NUL lies within count bytes (dst is then NUL-terminated), else
 * count; -EFAULT if the string runs into unreadable memory first.
 */
long gk_remote_strncpy_from_user(char *dst, const char __user *src, long count)
{
	unsigned long addr = (unsigned long)src;
	long done = 0;

	while (done < count) {
		unsigned long want = gk_page_rest(addr + done, count - done);
		unsigned long got = gk_remote_rw(0, dst + done, addr + done, want);
		char *nul = memchr(dst + done, 0, got);

		if (nul)
			return nul - dst;
		done += got;
		if (got < want)
			return -EFAULT;
	}
	return count;
}

/*
 * The contract of __strnlen_user: the length including the NUL, n + 1 if
 * there is none within n bytes, 0 if the memory cannot be read.
 */
long gk_remote_strnlen_user(const char __user *src, long n)
{
	unsigned long addr = (unsigned long)src;
	char buf[256];
	long done = 0;

	while (done < n) {
		unsigned long want = gk_page_rest(addr + done, n - done);
		unsigned long got;
		char *nul;

		if (want > sizeof(buf))
			want = sizeof(buf);
		got = gk_remote_rw(0, buf, addr + done, want);
		nul = memchr(buf, 0, got);
		if (nul)
			return done + (nul - buf) + 1;
		done += got;
		if (got < want)
			return 0;
	}
	return n + 1;
}

static const char gk_zeros[PAGE_SIZE];

/* The contract of __clear_user: the number of bytes not cleared. */
unsigned long gk_remote_clear_user(void __user *to, unsigned long n)
{
	unsigned long addr = (unsigned long)to;
	unsigned long done = 0;

	while (done < n) {
		unsigned long want = n - done < PAGE_SIZE ? n - done : PAGE_SIZE;
		unsigned long got = gk_remote_rw(1, (void *)gk_zeros, addr + done, want);

		done += got;
		if (got < want)
			break;
	}
	return n - done;
}
EOC
has arch/lkl/kernel/remote_user.c 'unsigned long gk_remote_clear_user(void __user *to, unsigned long n)'
printf '\nobj-$(CONFIG_GOKERNEL_REMOTE_USER) += remote_user.o\t# gokernel fix 16\n' >> arch/lkl/kernel/Makefile
has arch/lkl/kernel/Makefile 'obj-$(CONFIG_GOKERNEL_REMOTE_USER) += remote_user.o	# gokernel fix 16'
perl -0pi -e 's|(#include <linux/platform_device.h>\n)|$1#include <linux/uaccess.h>\t/* gokernel fix 16 */\n|; s|(\ttask_work_run\(\);\n\n\treturn ret;\n\}\n)|$1\n#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\n/*\n * run_syscall for host process pid: user pointers are addresses in that\n * process (asm/uaccess.h, remote_user.c). The marks are the calling task\x27s\n * own and are removed whatever the call returns.\n */\nstatic long run_syscall_remote(int pid, long no, long *params)\n{\n\tstruct thread_info *ti = current_thread_info();\n\tmm_segment_t old_fs = get_fs();\n\tlong ret;\n\n\tti->gk_remote_pid = pid;\n\tti->gk_remote_err = 0;\n\tset_fs(USER_DS);\n\tret = run_syscall(no, params);\n\tset_fs(old_fs);\n\tti->gk_remote_pid = 0;\n\tif (ret == -EFAULT \&\& ti->gk_remote_err)\n\t\tret = -ti->gk_remote_err;\n\treturn ret;\n}\n#endif\n|; s|^long lkl_syscall\(long no, long \*params\)\n\{\n|#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\nstatic long gk_lkl_syscall(int pid, long no, long *params)\n#else\nlong lkl_syscall(long no, long *params)\n#endif\n{\n|m; s|(\tswitch_to_host_task\(task\);\n\n)\tret = run_syscall\(no, params\);\n|$1#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\n\tret = pid ? run_syscall_remote(pid, no, params) : run_syscall(no, params);\n#else\n\tret = run_syscall(no, params);\n#endif\n|m; s|(\nint syscalls_init\(void\)\n)|\n#ifdef CONFIG_GOKERNEL_REMOTE_USER\t/* gokernel fix 16 */\nlong lkl_syscall(long no, long *params)\n{\n\treturn gk_lkl_syscall(0, no, params);\n}\n\n/* lkl_syscall with user pointers into host process pid\x27s memory. */\nlong lkl_syscall_remote(int pid, long no, long *params)\n{\n\tif (pid <= 0)\n\t\treturn -ESRCH;\n\tif (no == __NR_reboot)\n\t\treturn -EPERM;\n\treturn gk_lkl_syscall(pid, no, params);\n}\n#endif\n$1|' arch/lkl/kernel/syscalls.c
has arch/lkl/kernel/syscalls.c 'static long run_syscall_remote(int pid, long no, long *params)'
has arch/lkl/kernel/syscalls.c 'static long gk_lkl_syscall(int pid, long no, long *params)'
has arch/lkl/kernel/syscalls.c 'ret = pid ? run_syscall_remote(pid, no, params) : run_syscall(no, params);'
has arch/lkl/kernel/syscalls.c 'long lkl_syscall_remote(int pid, long no, long *params)'
sed -i 's|^\(LKL_ENTRY_POINTS := lkl_start_kernel lkl_sys_halt lkl_syscall \)|\1lkl_syscall_remote |' arch/lkl/Makefile
has arch/lkl/Makefile 'lkl_sys_halt lkl_syscall lkl_syscall_remote '
